"""The plugin loads and unloads cleanly in QGIS, with and without its Python dependencies."""

import sys

import pytest
from plugin_fixtures import sar_4326
from qgis.core import Qgis, QgsApplication, QgsProcessingException
from qgis.gui import QgsBrowserGuiModel
from qgis.PyQt.QtWidgets import QPushButton

import s2o_qgis_plugin
from s2o_qgis_plugin import deps
from s2o_qgis_plugin.plugin import TRANSLATE_ACTION

ALGORITHMS = {"s2o:translate", "s2o:despeckle", "s2o:evaluate"}


@pytest.fixture
def menu_calls(qgis_iface, monkeypatch):
    """Record what the plugin adds to and removes from the Plugins menu (pytest-qgis's stub
    iface ignores addPluginToMenu)."""
    calls = {"added": [], "removed": []}
    monkeypatch.setattr(
        qgis_iface,
        "addPluginToMenu",
        lambda menu, a: calls["added"].append((menu, a)),
        raising=False,
    )
    monkeypatch.setattr(
        qgis_iface,
        "removePluginMenu",
        lambda menu, a: calls["removed"].append((menu, a)),
        raising=False,
    )
    # The Processing dialog asks the iface for the browser model, which the stub lacks.
    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)
    qgis_iface.messageBar().clearWidgets()
    return calls


def test_load_and_unload(qgis_iface, qgis_processing, menu_calls):
    registry = QgsApplication.processingRegistry()
    plugin = s2o_qgis_plugin.classFactory(qgis_iface)
    plugin.initGui()
    try:
        provider = registry.providerById("s2o")
        assert {a.id() for a in provider.algorithms()} == ALGORITHMS
        menus = [(menu, action.text()) for menu, action in menu_calls["added"]]
        assert menus == [("S2O SAR-to-optical", TRANSLATE_ACTION)]  # nothing to install
        assert not plugin.actions[0].icon().isNull()
        assert qgis_iface.messageBar().currentItem() is None  # nothing missing here
        plugin.actions[0].trigger()  # Plugins > S2O SAR-to-optical > Translate SAR to optical…
        assert plugin.dialog.algorithm().id() == "s2o:translate"
        assert plugin.dialog.isVisible()
    finally:
        added = [action for _, action in menu_calls["added"]]
        plugin.unload()
    assert [action for _, action in menu_calls["removed"]] == added
    assert registry.providerById("s2o") is None
    assert plugin.actions == [] and plugin.dialog is None


def test_missing_dependencies_offer_install_and_algorithms_explain(
    qgis_iface, qgis_processing, menu_calls, monkeypatch, tmp_path
):
    import processing

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    plugin = s2o_qgis_plugin.classFactory(qgis_iface)
    plugin.initGui()
    try:
        bar = qgis_iface.messageBar()
        item = bar.currentItem()
        assert item is not None and item.level() == Qgis.Warning
        assert item.text() == "onnxruntime missing: Translate SAR to optical cannot run yet."
        size = deps.download_mb(["onnxruntime"])
        assert f"Install (about {size} MB)" in [b.text() for b in item.findChildren(QPushButton)]
        menus = [(menu, action.text()) for menu, action in menu_calls["added"]]
        assert ("S2O SAR-to-optical", deps.INSTALL_ACTION) in menus
        provider = QgsApplication.processingRegistry().providerById("s2o")
        assert {a.id() for a in provider.algorithms()} == ALGORITHMS
        can = {a.id(): a.canExecute() for a in provider.algorithms()}
        assert can["s2o:despeckle"] == (True, "") and can["s2o:evaluate"] == (True, "")
        assert can["s2o:translate"][0] is False
        assert can["s2o:translate"][1].startswith("The Python package(s) onnxruntime cannot be")
        assert " ".join(deps.install_command(["onnxruntime"])) in can["s2o:translate"][1]
        with pytest.raises(QgsProcessingException) as err:
            processing.run(
                "s2o:translate",
                {"INPUT": sar_4326(tmp_path / "sar.tif"), "OUTPUT": str(tmp_path / "out.tif")},
            )
        text = str(err.value)
        assert "onnxruntime cannot be imported in QGIS's Python" in text
        assert "Plugins > S2O SAR-to-optical > Install Python dependencies…" in text
        assert not (tmp_path / "out.tif").exists()
    finally:
        plugin.unload()
    assert bar.currentItem() is None
    removed = [action.text() for _, action in menu_calls["removed"]]
    assert removed == [TRANSLATE_ACTION, deps.INSTALL_ACTION]
    assert QgsApplication.processingRegistry().providerById("s2o") is None


def test_batch_dialog_has_a_column_per_parameter(qgis_iface, qgis_processing, menu_calls):
    """The batch-mode table (Run as Batch Process…) builds a widget for every parameter."""
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog

    plugin = s2o_qgis_plugin.classFactory(qgis_iface)
    plugin.initGui()
    try:
        registry = QgsApplication.processingRegistry()
        for alg_id in sorted(ALGORITHMS):
            alg = registry.createAlgorithmById(alg_id)
            dialog = BatchAlgorithmDialog(alg, parent=qgis_iface.mainWindow())
            table = dialog.mainWidget().tblParameters
            headers = [table.horizontalHeaderItem(i).text() for i in range(table.columnCount())]
            assert headers == [p.description() for p in alg.parameterDefinitions()]
            assert all(table.cellWidget(1, i) is not None for i in range(table.columnCount()))
            dialog.close()
    finally:
        plugin.unload()
