"""Every test in this folder needs real QGIS (pytest-qgis fixtures), and each one also checks
that the plugin called no QGIS API that this QGIS deprecates."""

import warnings
from pathlib import Path

import pytest
from qgis.core import QgsApplication

from s2o_qgis_plugin.provider import S2OProvider

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.qgis)


@pytest.fixture(scope="session", autouse=True)
def layer_tree_view(qgis_iface):
    """A real layer tree view of the project for pytest-qgis's iface, whose methods are mocks:
    QGIS >= 3.44 hands iface.layerTreeView() to C++ when Processing loads result layers
    (processing.runAndLoadResults), which a MagicMock fails (TypeError, then a crash)."""
    from qgis.core import QgsLayerTreeModel, QgsProject
    from qgis.gui import QgsLayerTreeView

    model = QgsLayerTreeModel(QgsProject.instance().layerTreeRoot())
    view = QgsLayerTreeView()
    view.setModel(model)
    qgis_iface.layerTreeView = lambda: view
    yield view


@pytest.fixture(scope="module")
def s2o(qgis_processing):
    """The s2o provider registered in QGIS's Processing registry for a module's tests."""
    registry = QgsApplication.processingRegistry()
    provider = S2OProvider()
    registry.addProvider(provider)
    yield provider
    registry.removeProvider(provider)


@pytest.fixture(autouse=True)
def no_deprecated_api():
    """Fails a test in which the plugin's own code called deprecated API: sip warns
    (DeprecationWarning) at the calling line for every QGIS/Qt call deprecated in the running
    QGIS, so on 3.40 and 3.44 (scripts/qgis_matrix.sh) this is the check for "no API deprecated
    in 3.40"."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        yield
    ours = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught
            if issubclass(w.category, DeprecationWarning)
            and "s2o_qgis_plugin" in Path(w.filename).parts]
    assert ours == [], "deprecated API called by the plugin"
