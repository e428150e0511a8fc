"""Build the installable QGIS plugin zip, or install it onto QGIS's plugin path.

    python scripts/build_plugin.py zip        -> dist/s2o_qgis_plugin-<version>.zip
    python scripts/build_plugin.py install    -> unpack into the QGIS profile's python/plugins
                                                  and enable it for qgis_process

The zip holds one folder, s2o_qgis_plugin/, with metadata.txt copied in (metadata.txt at the
repository root is the single source of name and version). No tests, training or export code,
nor the Dask layer (s2o_qgis_plugin/distributed: pip install s2o[distributed]).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = ROOT / "s2o_qgis_plugin"
PLUGIN_NAME = PLUGIN_DIR.name
EXCLUDE_DIRS = {"__pycache__", "_deps", ".pytest_cache",
                "distributed"}  # the Dask layer (pip install s2o[distributed]): not for QGIS
EXCLUDE_SUFFIXES = {".pyc", ".pyo"}

sys.path.insert(0, str(ROOT))
from s2o_qgis_plugin.__about__ import __version__  # noqa: E402
from scripts.qgis_env import qgis_env, qgis_process_cmd, qgis_profile_plugins_dir  # noqa: E402


def plugin_files():
    for path in sorted(PLUGIN_DIR.rglob("*")):
        rel = path.relative_to(PLUGIN_DIR)
        if path.is_dir() or set(rel.parts) & EXCLUDE_DIRS or path.suffix in EXCLUDE_SUFFIXES:
            continue
        yield path, rel


def build_zip(dist: Path = ROOT / "dist") -> Path:
    dist.mkdir(parents=True, exist_ok=True)
    out = dist / f"{PLUGIN_NAME}-{__version__}.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, rel in plugin_files():
            zf.write(path, f"{PLUGIN_NAME}/{rel.as_posix()}")
        zf.write(ROOT / "metadata.txt", f"{PLUGIN_NAME}/metadata.txt")
        if (ROOT / "LICENSE").exists():
            zf.write(ROOT / "LICENSE", f"{PLUGIN_NAME}/LICENSE")
    return out


def install(zip_path: Path, env: dict | None = None) -> Path:
    """Unpack into the profile that ``env`` (default: this process's) points QGIS at; enable."""
    env = qgis_env(env)
    plugins_dir = qgis_profile_plugins_dir(env)
    plugins_dir.mkdir(parents=True, exist_ok=True)
    target = plugins_dir / PLUGIN_NAME
    if target.exists():
        shutil.rmtree(target)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(plugins_dir)
    done = subprocess.run(
        qgis_process_cmd("plugins", "enable", PLUGIN_NAME), env=env, capture_output=True, text=True
    )
    if done.returncode != 0 and "already enabled" not in done.stdout + done.stderr:
        raise RuntimeError(
            f"qgis_process could not enable {PLUGIN_NAME}: {done.stdout}{done.stderr}"
        )
    return target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["zip", "install"])
    args = parser.parse_args(argv)
    zip_path = build_zip()
    print(f"plugin zip: {zip_path}")
    if args.action == "install":
        target = install(zip_path)
        print(f"installed and enabled: {target}")
        print("check with: scripts/qgis_process.sh list | grep -A5 s2o")


if __name__ == "__main__":
    main()
