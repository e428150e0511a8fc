"""The Dask layer is optional: the engine and the QGIS plugin never import it (nor dask), the
plugin zip leaves it out, and without dask the command and the functions say what to install."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zipfile

import tomllib

from tests.cluster.helpers import PUNJAB, ROOT

PLUGIN = ROOT / "s2o_qgis_plugin"
LAYER = PLUGIN / "distributed"
DASK_WORLD = {"dask", "distributed", "xarray", "rioxarray"}
# a Python without the extra: these imports fail as they do where it is not installed
WITHOUT_DASK = """
import importlib.abc, sys
class NoDask(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"dask", "distributed", "xarray", "rioxarray"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoDask())
"""


def imported_modules(path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names |= {base} | {f"{base}.{a.name}" for a in node.names}
    return names


def test_no_engine_or_plugin_module_imports_the_dask_layer_or_dask():
    offenders = {}
    for path in PLUGIN.rglob("*.py"):
        if LAYER in path.parents or "_deps" in path.parts:
            continue
        bad = {n for n in imported_modules(path)
               if n.split(".")[0] in DASK_WORLD or "distributed" in n.split(".")}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def test_the_engine_runs_where_dask_cannot_be_imported(tmp_path):
    code = WITHOUT_DASK + f"""
from s2o_qgis_plugin.engine import cli, despeckle, evaluate, translate
translate.translate_raster({str(PUNJAB)!r}, {str(tmp_path / 'out.tif')!r}, tile_size=512)
assert not {{m.split('.')[0] for m in sys.modules}} & set({sorted(DASK_WORLD)!r})
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.tif").exists()


def test_without_dask_the_command_and_the_functions_say_what_to_install(tmp_path):
    code = WITHOUT_DASK + f"""
from s2o_qgis_plugin.distributed import cli, translate_many
try:
    translate_many([{str(PUNJAB)!r}], {str(tmp_path)!r})
except ModuleNotFoundError as exc:
    print("translate_many:", exc)
sys.exit(cli.main([{str(PUNJAB)!r}, "--out-dir", {str(tmp_path / 'out')!r}]))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    from s2o_qgis_plugin.distributed.cli import EXIT_NO_DASK

    assert r.returncode == EXIT_NO_DASK, r.stderr
    message = ("dask, distributed, xarray, rioxarray are not installed: the distributed layer "
               "of s2o runs on Dask; install it with `python -m pip install 's2o[distributed]'`"
               " (in a checkout: `python -m pip install -e '.[distributed]'`)")
    assert r.stderr.strip() == f"s2o-translate-many: error: {message}"
    assert r.stdout.strip() == f"translate_many: {message}"
    assert not (tmp_path / "out").exists()


def test_the_plugin_zip_leaves_the_layer_out(tmp_path):
    from scripts.build_plugin import build_zip

    names = zipfile.ZipFile(build_zip(tmp_path)).namelist()
    assert "s2o_qgis_plugin/engine/translate.py" in names
    assert not [n for n in names if "/distributed/" in n]


def test_the_command_and_the_extra_are_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["s2o-translate-many"] == "s2o_qgis_plugin.distributed.cli:main"
    extra = project["optional-dependencies"]["distributed"]
    assert {re.split(r"[\[<>=]", r)[0] for r in extra} == DASK_WORLD
