"""The plugin's Python dependencies: find what is missing, and install it into a plugin folder.

QGIS ships its own Python, which often lacks onnxruntime, rasterio or scikit-image. The plugin
installs them with ``python -m pip install --target <plugin dir>/_deps`` and puts that folder
FIRST on ``sys.path`` when it loads, so the versions it installed win over older ones.

numpy is already loaded by QGIS and its GDAL bindings are built against it, so it must not be
shadowed by a different numpy in ``_deps``: pip is constrained to the running numpy version
(so what it installs works with it) and the numpy copy pip drops into ``_deps`` is removed.

This module imports no qgis so that it can be used and tested anywhere.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEPS_DIR = Path(__file__).resolve().parent / "_deps"
# import name -> pip distribution name
REQUIRED = {"onnxruntime": "onnxruntime", "rasterio": "rasterio", "skimage": "scikit-image"}
# distributions QGIS already provides and that must not be shadowed from _deps
KEEP_FROM_QGIS = ("numpy",)
MENU_NAME = "S2O SAR-to-optical"
INSTALL_ACTION = "Install Python dependencies…"
INSTALL_HINT = f"Plugins > {MENU_NAME} > {INSTALL_ACTION}"


class MissingDependencyError(ImportError):
    """Some of the plugin's Python packages cannot be imported in QGIS's Python."""

    def __init__(self, packages: list[str]):
        self.packages = packages
        super().__init__(
            f"the Python package(s) {', '.join(packages)} cannot be imported in QGIS's Python. "
            f"Install them with the menu entry {INSTALL_HINT} (it runs pip into the plugin's "
            f"folder {DEPS_DIR}), or with: {' '.join(install_command(packages))}"
        )


def add_deps_to_path(deps_dir: Path = DEPS_DIR) -> bool:
    """Put ``deps_dir`` first on sys.path when it exists; True when it is there."""
    if not deps_dir.is_dir():
        return False
    entry = str(deps_dir)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
    importlib.invalidate_caches()
    return True


def missing_packages(modules: dict[str, str] | None = None) -> list[str]:
    """pip names of the ``modules`` (import name -> pip name) that fail to import."""
    missing = []
    for module, package in (REQUIRED if modules is None else modules).items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    return missing


def require(*modules: str) -> None:
    """Raise MissingDependencyError when one of the named import names cannot be imported."""
    wanted = {m: REQUIRED.get(m, m) for m in (modules or REQUIRED)}
    missing = missing_packages(wanted)
    if missing:
        raise MissingDependencyError(missing)


def python_executable() -> str:
    """The Python interpreter behind QGIS (``sys.executable`` is the QGIS binary on Windows
    and macOS builds, so look beside ``sys.exec_prefix`` first)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    prefix = Path(sys.exec_prefix)
    candidates = [
        prefix / "python.exe",
        prefix / "bin" / f"python{version}",
        prefix / "bin" / "python3",
        Path(sys.executable),
    ]
    for candidate in candidates:
        if candidate.name.lower().startswith("python") and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(f"python{version}") or shutil.which("python3") or sys.executable


def install_command(packages: list[str], target: Path = DEPS_DIR, constraints: str = "") -> list:
    cmd = [python_executable(), "-m", "pip", "install", "--upgrade", "--target", str(target)]
    if constraints:
        cmd += ["--constraint", constraints]
    return cmd + list(packages)


def pinned_versions(names=KEEP_FROM_QGIS) -> dict[str, str]:
    """Versions of the packages QGIS already provides (those that are importable)."""
    pins = {}
    for name in names:
        try:
            pins[name] = importlib.import_module(name).__version__
        except (ImportError, AttributeError):
            continue
    return pins


def prune_kept(target: Path, names=KEEP_FROM_QGIS) -> list[Path]:
    """Remove from ``target`` the copies of packages QGIS provides (``numpy``, ``numpy.libs``,
    ``numpy-<v>.dist-info``); return what was removed."""
    removed = []
    for name in names:
        for path in target.glob(f"{name}*"):
            stem = path.name.split("-")[0].split(".")[0]
            if stem == name:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                removed.append(path)
    return removed


def install(packages: list[str], target: Path = DEPS_DIR, log=print) -> None:
    """pip-install ``packages`` into ``target`` (constrained to QGIS's numpy), then put
    ``target`` first on sys.path. Raises RuntimeError with pip's output when pip fails."""
    target.mkdir(parents=True, exist_ok=True)
    pins = pinned_versions()
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in pins.items()))
        cmd = install_command(packages, target, str(constraints))
        log(" ".join(cmd))
        done = subprocess.run(cmd, capture_output=True, text=True)
    log(done.stdout[-4000:])
    if done.returncode != 0:
        raise RuntimeError(f"pip failed ({done.returncode}):\n{done.stderr[-4000:]}")
    prune_kept(target, tuple(pins))
    add_deps_to_path(target)
