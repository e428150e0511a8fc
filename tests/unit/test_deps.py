"""The plugin's dependency check and installer helpers (s2o_qgis_plugin/deps.py), no QGIS."""

import os
import subprocess
import sys
import textwrap

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
    assert f"about {deps.download_mb(['scikit-image'])} MB to download" in text
    assert text.endswith(f"or with: {' '.join(deps.install_command(['scikit-image']))}")


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


def test_install_and_pip_commands_and_numpy_pin():
    cmd = deps.install_command(["onnxruntime", "rasterio"])
    assert cmd[1:] == [deps.__file__, "install", "onnxruntime", "rasterio"]
    assert "python" in cmd[0].rsplit("/", 1)[-1]
    pip = deps.pip_command(["onnxruntime"], constraints="/c.txt")
    assert pip[1:5] == ["-m", "pip", "install", "--upgrade"]
    assert pip[pip.index("--target") + 1] == str(deps.DEPS_DIR)
    assert pip[pip.index("--constraint") + 1] == "/c.txt"
    assert deps.pinned_versions() == {"numpy": np.__version__}
    assert deps.download_mb(["onnxruntime", "scikit-image"]) == (
        deps.DOWNLOAD_MB["onnxruntime"] + deps.DOWNLOAD_MB["scikit-image"]
        + deps.NUMPY_DOWNLOAD_MB)


@pytest.fixture(scope="module")
def local_index(tmp_path_factory):
    """A wheel of a tiny package in a folder, and pip told to use only that folder."""
    root = tmp_path_factory.mktemp("probe")
    src = root / "src"
    (src / "s2o_probe").mkdir(parents=True)
    (src / "s2o_probe" / "__init__.py").write_text("VALUE = 7\n")
    (src / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "s2o-probe"
        version = "1.0"
    """))
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(wheels), str(src)], check=True)
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}


def test_the_printed_command_and_the_install_button_do_the_same_install(tmp_path, local_index,
                                                                       monkeypatch):
    """The command shown in messages (deps.py run by QGIS's Python) and deps.install (what the
    Install button calls) install the same way; pip's output reaches the log line by line."""
    by_command = tmp_path / "command"
    done = subprocess.run(deps.install_command(["s2o-probe"], target=by_command),
                          env=dict(os.environ, **local_index), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Successfully installed s2o-probe-1.0" in done.stdout
    assert (by_command / "s2o_probe" / "__init__.py").is_file()

    for name, value in local_index.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "path", list(sys.path))
    by_button, lines = tmp_path / "button", []
    deps.install(["s2o-probe"], by_button, log=lines.append)
    assert lines[0] == " ".join(deps.pip_command(["s2o-probe"], by_button, lines[0].split()[-2]))
    assert "Successfully installed s2o-probe-1.0" in lines
    assert sorted(p.name for p in by_button.iterdir()) == \
        sorted(p.name for p in by_command.iterdir())
    assert sys.path[0] == str(by_button)


def test_a_failed_install_quotes_pips_last_lines(tmp_path, local_index, monkeypatch):
    for name, value in local_index.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match="(?s)pip failed.*no-such-dist-s2o"):
        deps.install(["no-such-dist-s2o"], tmp_path / "t", log=lambda line: None)


def test_prune_removes_only_the_packages_qgis_provides(tmp_path):
    for name in ("numpy", "numpy.libs", "numpy-1.26.4.dist-info", "numpy_financial", "onnxruntime"):
        (tmp_path / name).mkdir()
    removed = deps.prune_kept(tmp_path)
    assert sorted(p.name for p in removed) == ["numpy", "numpy-1.26.4.dist-info", "numpy.libs"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["numpy_financial", "onnxruntime"]
