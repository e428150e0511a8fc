"""metadata.txt is complete and is the single source of the version."""

import configparser
import re
import zipfile

import pytest
import tomllib

from scripts.build_plugin import build_zip
from tests.conftest import ROOT

REQUIRED = [
    "name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
    "repository", "hasProcessingProvider", "qgisMaximumVersion", "supportsQt6", "license",
    "icon",
]


@pytest.fixture(scope="module")
def meta():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "metadata.txt", encoding="utf-8")
    return parser["general"]


def test_required_fields_present_and_non_empty(meta):
    missing = [k for k in REQUIRED if not meta.get(k, "").strip()]
    assert missing == []


def test_field_values(meta):
    assert meta["qgisMinimumVersion"] == "3.22"
    assert meta["hasProcessingProvider"] == "yes"
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"])
    assert (ROOT / "s2o_qgis_plugin" / meta["icon"]).is_file()


def test_version_has_one_source(meta):
    from s2o_qgis_plugin.__about__ import __version__

    assert __version__ == meta["version"]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"]
    assert "version" not in pyproject["project"]


def test_plugin_zip_layout(tmp_path, meta):
    path = build_zip(tmp_path)
    assert path.name == f"s2o_qgis_plugin-{meta['version']}.zip"
    names = zipfile.ZipFile(path).namelist()
    assert "s2o_qgis_plugin/metadata.txt" in names
    assert "s2o_qgis_plugin/__init__.py" in names
    assert all(n.startswith("s2o_qgis_plugin/") for n in names)
    assert not [n for n in names if "/tests/" in n or "training" in n or n.endswith(".pyc")]
