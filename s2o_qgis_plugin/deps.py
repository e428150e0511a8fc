"""The plugin's Python dependencies: find what is missing, and install it into a plugin folder.

QGIS ships its own Python, which often lacks onnxruntime, rasterio or scikit-image. The plugin
installs them with ``python -m pip install --target <plugin dir>/_deps`` and puts that folder
FIRST on ``sys.path`` when it loads, so the versions it installed win over older ones.

numpy is already loaded by QGIS and its GDAL bindings are built against it, so it must not be
shadowed by a different numpy in ``_deps``: pip is constrained to the running numpy version
(so what it installs works with it) and the numpy copy pip drops into ``_deps`` is removed.

One installer, two doors: the Install button of the plugin calls :func:`install` in QGIS, and
the command printed in messages (:func:`install_command`) runs this file with QGIS's Python,
``python deps.py install PACKAGE...``, which calls the same function.

This module imports no qgis (and nothing from the plugin when run as a script) so that it can be
used and tested anywhere.
"""

from __future__ import annotations

import collections
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
# Rough download sizes (MB) of each package with the dependencies pip puts beside it (measured on
# Linux x86-64 wheels for Python 3.11): onnxruntime 24 + sympy, protobuf...; rasterio with its own
# GDAL; scikit-image 14 + scipy 36 + pillow, networkx... And numpy (17), fetched to satisfy the
# pin and removed afterwards. Shown on the Install button, so a user knows what to expect.
DOWNLOAD_MB = {"onnxruntime": 32, "rasterio": 25, "scikit-image": 60}
NUMPY_DOWNLOAD_MB = 17
INSTALL_ACTION = "Install Python dependencies…"
TAIL_LINES = 20  # pip output lines quoted when it fails


def _plugin_name() -> str:
    from .__about__ import __title__  # imported late: this file also runs as a script

    return __title__


def install_hint() -> str:
    """Where the menu entry is: "Plugins > S2O SAR-to-optical > Install Python dependencies…"."""
    return f"Plugins > {_plugin_name()} > {INSTALL_ACTION}"


def download_mb(packages: list[str]) -> int:
    """Roughly how many MB pip downloads to install ``packages`` (pip names)."""
    return sum(DOWNLOAD_MB.get(p, 10) for p in packages) + NUMPY_DOWNLOAD_MB


def missing_message(packages: list[str]) -> str:
    """What is missing and the two ways to install it (the menu entry, or the same command)."""
    return (
        f"the Python package(s) {', '.join(packages)} cannot be imported in QGIS's Python. "
        f"Install them with the menu entry {install_hint()} (about "
        f"{download_mb(packages)} MB to download, into the plugin's folder {DEPS_DIR}), or "
        f"with: {' '.join(install_command(packages))}"
    )


class MissingDependencyError(ImportError):
    """Some of the plugin's Python packages cannot be imported in QGIS's Python."""

    def __init__(self, packages: list[str]):
        self.packages = packages
        super().__init__(missing_message(packages))


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


def missing_for(*modules: str) -> list[str]:
    """pip names of the import names ``modules`` (all of REQUIRED when none) that fail."""
    return missing_packages({m: REQUIRED.get(m, m) for m in (modules or REQUIRED)})


def require(*modules: str) -> None:
    """Raise MissingDependencyError when one of the named import names cannot be imported."""
    missing = missing_for(*modules)
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


def install_command(packages: list[str], target: Path = DEPS_DIR) -> list[str]:
    """The shell command that does what the Install button does: this file, run by QGIS's
    Python, calling :func:`install` (pip with the numpy pin, then the pruning)."""
    where = [] if Path(target) == DEPS_DIR else ["--target", str(target)]
    return [python_executable(), str(Path(__file__).resolve()), "install", *where, *packages]


def pip_command(packages: list[str], target: Path = DEPS_DIR, constraints: str = "") -> list:
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
    ``target`` first on sys.path. Every line pip prints goes to ``log`` as it comes. Raises
    RuntimeError with the last lines of pip's output when pip fails."""
    target.mkdir(parents=True, exist_ok=True)
    pins = pinned_versions()
    tail = collections.deque(maxlen=TAIL_LINES)
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in pins.items()))
        cmd = pip_command(packages, target, str(constraints))
        log(" ".join(cmd))
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              bufsize=1) as pip:
            for line in pip.stdout:
                line = line.rstrip()
                tail.append(line)
                log(line)
        returncode = pip.returncode
    if returncode != 0:
        raise RuntimeError(f"pip failed ({returncode}):\n" + "\n".join(tail))
    prune_kept(target, tuple(pins))
    add_deps_to_path(target)


def main(argv=None) -> int:
    """``python deps.py install [--target DIR] PACKAGE...``: the Install button's install."""
    args = sys.argv[1:] if argv is None else list(argv)
    target = DEPS_DIR
    if args[1:2] == ["--target"] and len(args) > 2:
        target, args = Path(args[2]), args[:1] + args[3:]
    if len(args) < 2 or args[0] != "install":
        print(f"usage: {Path(__file__).name} install [--target DIR] PACKAGE...", file=sys.stderr)
        return 2
    try:
        install(args[1:], target)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"installed {', '.join(args[1:])} into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
