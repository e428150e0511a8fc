"""The main job (placeholder until the Translate algorithm lands): list the s2o provider in QGIS."""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.build_plugin import build_zip, install  # noqa: E402
from scripts.qgis_env import qgis_env, qgis_process_cmd  # noqa: E402

profile = Path(tempfile.mkdtemp(prefix="s2o-qgis-profile-"))
env = qgis_env({**__import__("os").environ, "QGIS_CUSTOM_CONFIG_PATH": str(profile)})
install(build_zip(), env)
out = subprocess.run(qgis_process_cmd("list"), env=env, capture_output=True, text=True, check=True)
lines = out.stdout.splitlines()
start = next(i for i, line in enumerate(lines) if "S2O SAR-to-optical" in line)
print("\n".join(lines[start : start + 6]))
