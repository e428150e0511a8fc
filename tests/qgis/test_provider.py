"""The plugin loads in real QGIS and registers the Processing provider `s2o`."""

import configparser
import os
import subprocess
import zipfile

from qgis.core import QgsApplication

import s2o_qgis_plugin
from scripts.build_plugin import build_zip, install
from scripts.qgis_env import qgis_env, qgis_process_cmd, qgis_profile_plugins_dir
from tests.conftest import ROOT


def test_provider_registered_and_removed(qgis_app, qgis_iface):
    registry = QgsApplication.processingRegistry()
    plugin = s2o_qgis_plugin.classFactory(qgis_iface)
    plugin.initGui()
    try:
        provider = registry.providerById("s2o")
        assert provider is not None
        assert provider.name() == "S2O SAR-to-optical"
        metadata = configparser.ConfigParser()
        metadata.read(ROOT / "metadata.txt", encoding="utf-8")
        assert provider.versionInfo() == metadata["general"]["version"]
    finally:
        plugin.unload()
    assert registry.providerById("s2o") is None


def test_qgis_process_lists_installed_provider(tmp_path):
    """Install the zip into a fresh QGIS profile and ask qgis_process.bin for the provider."""
    env = qgis_env(dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "qgis")))
    zip_path = build_zip(tmp_path / "dist")
    assert zipfile.is_zipfile(zip_path)
    target = install(zip_path, env)
    assert target == qgis_profile_plugins_dir(env) / "s2o_qgis_plugin"
    assert (target / "metadata.txt").is_file()
    out = subprocess.run(
        qgis_process_cmd("list"), env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "S2O SAR-to-optical" in out.stdout
