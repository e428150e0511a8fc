"""Catalogue scale: the s2o engine on a Dask cluster (optional: ``pip install 's2o[distributed]'``).

Two ways to scale out, both over the unchanged engine (s2o_qgis_plugin.engine, which imports
no dask; nor does the QGIS plugin import this package, and its zip leaves it out):

    translate_many(inputs, out_dir, ...)        many.py   one task per scene, atomic outputs,
        -> ManyResult                                     failures per scene, resumable
    translate_dataarray(arr, model=None, ...)   arrays.py one huge raster as a Dask-backed
        -> xarray.DataArray (lazy)                        xarray.DataArray: map_overlap with the
    write_translation(arr, dst, ...)                      model's halo, the engine's tile grid,
                                                          identical to translate_raster's DN

``s2o-translate-many`` (cli.py) is translate_many from a shell. Names are imported on first
use, so ``import s2o_qgis_plugin.distributed`` works without dask; the functions that need it
raise ImportError with the command that installs it (:func:`require`).
"""

import importlib

EXTRA = "distributed"
OUTPUT_SUFFIX = "_optical"  # translate_many writes <input stem><suffix>.tif
PACKAGES = ("dask", "distributed", "xarray", "rioxarray")  # the extra s2o[distributed]
_EXPORTS = {
    "translate_many": "many", "ManyResult": "many", "ClusterError": "many",
    "cluster_size": "many", "plan_scenes": "many",
    "SceneReport": "tasks", "MODELS": "tasks",
    "translate_dataarray": "arrays", "write_translation": "arrays",
}
__all__ = sorted(_EXPORTS) + ["OUTPUT_SUFFIX", "require", "missing_packages"]


def missing_packages(packages=PACKAGES) -> list[str]:
    """Those of ``packages`` that do not import here."""
    missing = []
    for name in packages:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def not_installed(missing) -> str:
    """The message for packages of the extra that are missing: what, and how to install."""
    return (f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed: the "
            f"distributed layer of s2o runs on Dask; install it with `python -m pip install "
            f"'s2o[{EXTRA}]'` (in a checkout: `python -m pip install -e '.[{EXTRA}]'`)")


def require(packages=PACKAGES) -> None:
    """ImportError (a ModuleNotFoundError) naming what is missing and how to install it."""
    missing = missing_packages(packages)
    if missing:
        raise ModuleNotFoundError(not_installed(missing), name=missing[0])


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
