"""The plugin's dependency check and installer helpers (s2o_qgis_plugin/deps.py), no QGIS."""

import sys

import numpy as np
import pytest

from s2o_qgis_plugin import deps


def test_missing_packages_uses_the_real_import_failure(monkeypatch):
    assert deps.missing_packages() == []  # all installed in the project venv
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    assert deps.missing_packages() == ["onnxruntime"]
    assert deps.missing_packages({"no_such_module_s2o": "no-such-dist"}) == ["no-such-dist"]


def test_require_names_packages_and_the_menu_entry(monkeypatch):
    deps.require("rasterio", "skimage")
    monkeypatch.setitem(sys.modules, "skimage", None)
    with pytest.raises(deps.MissingDependencyError) as err:
        deps.require("rasterio", "skimage")
    assert err.value.packages == ["scikit-image"]
    text = str(err.value)
    assert "scikit-image cannot be imported in QGIS's Python" in text
    assert "Plugins > S2O SAR-to-optical > Install Python dependencies…" in text
    assert "pip install --upgrade --target" in text


def test_deps_dir_goes_first_on_sys_path_once(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert not deps.add_deps_to_path(tmp_path / "absent")
    folder = tmp_path / "_deps"
    (folder / "s2o_dep_probe").mkdir(parents=True)
    (folder / "s2o_dep_probe" / "__init__.py").write_text("VALUE = 42\n")
    sys.path.append(str(folder))
    assert deps.add_deps_to_path(folder)
    assert deps.add_deps_to_path(folder)
    assert sys.path[0] == str(folder) and sys.path.count(str(folder)) == 1
    monkeypatch.delitem(sys.modules, "s2o_dep_probe", raising=False)
    import s2o_dep_probe

    assert s2o_dep_probe.VALUE == 42


def test_install_command_and_numpy_pin():
    cmd = deps.install_command(["onnxruntime", "rasterio"], constraints="/c.txt")
    assert cmd[1:5] == ["-m", "pip", "install", "--upgrade"]
    assert cmd[cmd.index("--target") + 1] == str(deps.DEPS_DIR)
    assert cmd[cmd.index("--constraint") + 1] == "/c.txt"
    assert cmd[-2:] == ["onnxruntime", "rasterio"]
    assert "python" in cmd[0].rsplit("/", 1)[-1]
    assert deps.pinned_versions() == {"numpy": np.__version__}


def test_prune_removes_only_the_packages_qgis_provides(tmp_path):
    for name in ("numpy", "numpy.libs", "numpy-1.26.4.dist-info", "numpy_financial", "onnxruntime"):
        (tmp_path / name).mkdir()
    removed = deps.prune_kept(tmp_path)
    assert sorted(p.name for p in removed) == ["numpy", "numpy-1.26.4.dist-info", "numpy.libs"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["numpy_financial", "onnxruntime"]
