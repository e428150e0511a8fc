"""Every test in this folder needs real QGIS (pytest-qgis fixtures)."""

from pathlib import Path

import pytest
from qgis.core import QgsApplication

from s2o_qgis_plugin.provider import S2OProvider

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.qgis)


@pytest.fixture(scope="module")
def s2o(qgis_processing):
    """The s2o provider registered in QGIS's Processing registry for a module's tests."""
    registry = QgsApplication.processingRegistry()
    provider = S2OProvider()
    registry.addProvider(provider)
    yield provider
    registry.removeProvider(provider)
