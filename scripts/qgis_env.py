"""Where QGIS's command-line tool and profile live, and the environment it needs.

Debian's `qgis_process` wrapper passes --noversioncheck, which QGIS 3.22 rejects, so the binary
beside it, qgis_process.bin, is run instead. QGIS's embedded Python does not see this project's
venv, so the venv's site-packages go on PYTHONPATH (onnxruntime, scikit-image, tqdm).
"""

from __future__ import annotations

import os
import shutil
import site
import sys
from pathlib import Path

CANDIDATES = ("/usr/bin/qgis_process.bin", "/usr/lib/qgis/qgis_process.bin")


def qgis_process_bin() -> str:
    for c in CANDIDATES:
        if os.access(c, os.X_OK):
            return c
    found = shutil.which("qgis_process.bin") or shutil.which("qgis_process")
    if not found:
        raise FileNotFoundError("qgis_process.bin not found: install QGIS (make setup does it)")
    return found


def qgis_env(base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    paths = [p for p in site.getsitepackages() if "site-packages" in p and p.startswith(sys.prefix)]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def qgis_process_cmd(*args: str) -> list[str]:
    return [qgis_process_bin(), *args]


def qgis_profile_plugins_dir(env: dict | None = None) -> Path:
    """The default profile's plugin folder: under $QGIS_CUSTOM_CONFIG_PATH when set, else HOME."""
    env = os.environ if env is None else env
    custom = env.get("QGIS_CUSTOM_CONFIG_PATH")
    home = Path(env.get("HOME", "~")).expanduser()
    base = Path(custom) if custom else home / ".local/share/QGIS/QGIS3"
    return base / "profiles/default/python/plugins"
