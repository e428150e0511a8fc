"""Drives the real QGIS desktop (run by `qgis --code driver.py` under Xvfb, see test_gui.py).

It does what a user does, step by step on QGIS's own event loop: opens each s2o dialog from the
plugin menu or Processing, runs Translate with the dialog's Run button, fills the Batch
Processing dialog with three SAR layers and runs it, reopens Translate after a run and tries an
optical layer; or, in the "missing" scenario (QGIS's Python without onnxruntime and
scikit-image), looks at what the plugin and the toolbox say before Run. It records what can be
asserted in results.json and saves screenshots as PNG files, then quits QGIS.

Environment: S2O_GUI_SCENARIO ("full" or "missing"), S2O_GUI_OUT (results.json and the
outputs), S2O_GUI_SHOTS (the screenshots), S2O_GUI_DATA (tests/data).
"""

import json
import os
import time
import traceback
from pathlib import Path

from osgeo import gdal
from qgis.core import QgsApplication, QgsCoordinateTransform, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import (
    QApplication,
    QDialogButtonBox,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTextBrowser,
    QTextEdit,
)
from qgis.utils import iface, plugins

SCENARIO = os.environ.get("S2O_GUI_SCENARIO", "full")
OUT = Path(os.environ["S2O_GUI_OUT"])
SHOTS = Path(os.environ.get("S2O_GUI_SHOTS", OUT))
DATA = Path(os.environ["S2O_GUI_DATA"])
PLUGIN = "s2o_qgis_plugin"
RESULTS = {"scenario": SCENARIO, "errors": [], "screenshots": {}, "steps": []}
OUT.mkdir(parents=True, exist_ok=True)


# -- a tiny step runner on the Qt event loop -------------------------------------------------------
class Until:
    """Wait (polling every 100 ms, the event loop running) until ``condition()`` is true."""

    def __init__(self, condition, timeout=60.0, what="condition"):
        self.condition, self.timeout, self.what = condition, timeout, what


def run_steps(steps):
    """Advance the generator ``steps``: a number it yields is a pause in ms, an Until a wait."""

    def advance():
        try:
            wait = next(steps)
        except StopIteration:
            finish()
            return
        except Exception:  # noqa: BLE001 (recorded for the test, then QGIS quits)
            RESULTS["errors"].append(traceback.format_exc())
            finish()
            return
        if isinstance(wait, Until):
            deadline = time.monotonic() + wait.timeout

            def poll():
                try:
                    done = wait.condition()
                except Exception:  # noqa: BLE001
                    done = False
                if done:
                    advance()
                elif time.monotonic() > deadline:
                    RESULTS["errors"].append(f"timed out waiting for {wait.what}")
                    finish()
                else:
                    QTimer.singleShot(100, poll)

            QTimer.singleShot(100, poll)
        else:
            QTimer.singleShot(int(wait), advance)

    QTimer.singleShot(0, advance)


def finish():
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(RESULTS, indent=1, default=str))
    QgsProject.instance().setDirty(False)
    QgsApplication.exit(0)


# -- what the tests look at ------------------------------------------------------------------------
def shot(name, widget=None):
    """A screenshot of the whole screen, or of ``widget``'s window with its frame."""
    QApplication.processEvents()
    screen = QApplication.primaryScreen()
    if widget is None:
        pixmap = screen.grabWindow(0)
    else:
        g = widget.window().frameGeometry()
        pixmap = screen.grabWindow(0, g.x(), g.y(), g.width(), g.height())
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pixmap.save(str(path))
    RESULTS["screenshots"][name] = str(path)


def centre(window):
    """Put ``window`` in the middle of the screen (where QGIS puts a new dialog over the
    maximised main window), so that its screenshot is whole."""
    screen = QApplication.primaryScreen().geometry()
    frame = window.frameGeometry()
    window.move(screen.center() - frame.center() + window.pos())


def help_paragraphs(dialog):
    browser = dialog.findChild(QTextBrowser, "textShortHelp")
    block, paragraphs = browser.document().begin(), []
    while block.isValid():
        if block.text().strip():
            paragraphs.append(block.text().strip())
        block = block.next()
    return paragraphs


def dialog_facts(dialog):
    """Size, horizontal scrolling of the parameter panel, widgets cut off at its right edge,
    the help's paragraphs, whether the Help button works, the preselected input layer."""
    panel = dialog.mainWidget()
    areas = [a for a in panel.findChildren(QScrollArea) if a.isVisible()]
    clipped = []
    for area in areas:
        viewport = area.viewport()
        for child in area.widget().findChildren(QLabel) + area.widget().findChildren(QPushButton):
            if child.isVisible():
                right = child.mapTo(viewport, child.rect().topRight()).x()
                if right > viewport.width():
                    clipped.append(child.text() or child.objectName())
    help_button = dialog.buttonBox().button(QDialogButtonBox.Help)
    facts = {
        "size": [dialog.width(), dialog.height()],
        "hscroll": [a.horizontalScrollBar().maximum() for a in areas],
        "hscroll_visible": [a.horizontalScrollBar().isVisible() for a in areas],
        "clipped": clipped,
        "help": help_paragraphs(dialog),
        "help_button_enabled": help_button is not None and help_button.isEnabled(),
        "run_enabled": dialog.runButton().isEnabled(),
    }
    wrappers = getattr(panel, "wrappers", {})
    for name in ("INPUT", "PREDICTION", "REFERENCE"):
        if name in wrappers:
            layer = QgsProject.instance().mapLayer(str(wrappers[name].parameterValue()))
            facts[f"preselected_{name}"] = layer.name() if layer else None
    return facts


def log_text(dialog):
    log = dialog.findChild(QTextEdit, "txtLog")
    return log.toPlainText() if log is not None else ""


def layer_facts(layer):
    renderer = layer.renderer()
    facts = {"name": layer.name(), "renderer": renderer.type(), "source": layer.source(),
             "extent": layer.extent().toString(), "crs": layer.crs().authid()}
    if renderer.type() == "multibandcolor":
        red = renderer.redContrastEnhancement()
        facts["bands"] = [renderer.redBand(), renderer.greenBand(), renderer.blueBand()]
        facts["stretch"] = [red.minimumValue(), red.maximumValue()]
    return facts


def add_raster(path, name):
    layer = QgsRasterLayer(str(path), name, "gdal")
    assert layer.isValid(), path
    QgsProject.instance().addMapLayer(layer)
    return layer


def layers_named(prefix):
    return [lyr for lyr in QgsProject.instance().mapLayers().values()
            if lyr.name().startswith(prefix)]


def open_dialog(alg_id):
    from processing import createAlgorithmDialog

    dialog = createAlgorithmDialog(alg_id)
    dialog.show()
    return dialog


def find_algorithm(tree, alg_id, parent=None):
    """The index of ``alg_id`` in the Processing toolbox's (filtered) tree."""
    from qgis.PyQt.QtCore import QModelIndex

    model, parent = tree.model(), parent or QModelIndex()
    for row in range(model.rowCount(parent)):
        index = model.index(row, 0, parent)
        alg = tree.algorithmForIndex(index)
        if alg is not None and alg.id() == alg_id:
            return index
        found = find_algorithm(tree, alg_id, index)
        if found is not None:
            return found
    return None


def step(name):
    RESULTS["steps"].append(name)


# -- the scenarios ---------------------------------------------------------------------------------
def full():
    """Dialogs, a Translate run from its dialog, a graphical batch, an optical input refused."""
    window = iface.mainWindow()
    window.showMaximized()
    plugin = plugins[PLUGIN]
    yield 1500
    step("load layers")
    sar = add_raster(DATA / "heldout" / "punjab_s1.tif", "punjab_s1")
    s2 = add_raster(DATA / "heldout" / "punjab_s2.tif", "punjab_s2")
    iface.setActiveLayer(s2)  # the optical reference is the active layer: QGIS's default
    iface.mapCanvas().setExtent(sar.extent())
    yield 1000

    step("each dialog at its default size")
    dialogs = {}
    for alg_id in ("s2o:translate", "s2o:despeckle", "s2o:evaluate"):
        name = alg_id.split(":")[1]
        if name == "translate":  # Plugins > S2O SAR-to-optical > Translate SAR to optical…
            plugin.actions[0].trigger()
            dialog = plugin.dialog
        else:
            dialog = open_dialog(alg_id)
        yield Until(dialog.isVisible, 30, f"the {name} dialog")
        centre(dialog)
        yield 800
        dialogs[name] = dialog_facts(dialog)
        shot(f"{name}_dialog", dialog)
        if name != "translate":
            dialog.close()
    RESULTS["dialogs"] = dialogs

    step("run Translate from its dialog")
    dialog = plugin.dialog
    dialog.setParameters({"INPUT": sar.id(), "TILE_SIZE": 128})  # 9 tiles: a visible progress
    bar = dialog.findChild(QProgressBar, "progressBar")
    progress = []
    bar.valueChanged.connect(lambda v: progress.append([bar.maximum(), v]))
    dialog.runButton().click()
    yield Until(lambda: layers_named("punjab_s1 optical"), 300, "the translated layer")
    yield Until(lambda: dialog.runButton().isEnabled(), 60, "the end of the run")
    yield 1500
    (optical,) = layers_named("punjab_s1 optical")
    RESULTS["translate_run"] = {"layer": layer_facts(optical), "log": log_text(dialog),
                                "progress": progress,
                                "active_layer": iface.activeLayer().name()}
    shot("translate_run_log", dialog)
    dialog.close()
    iface.mapCanvas().setExtent(sar.extent())
    iface.mapCanvas().refreshAllLayers()
    yield 2500
    shot("map_translated")

    step("reopen Translate with the optical result active")
    iface.setActiveLayer(optical)
    plugin.actions[0].trigger()
    dialog = plugin.dialog
    yield Until(dialog.isVisible, 30, "the translate dialog again")
    centre(dialog)
    yield 800
    RESULTS["reopened"] = dialog_facts(dialog)
    dialog.setParameters({"INPUT": s2.id()})  # the user picks the Sentinel-2 image anyway
    dialog.runButton().click()
    yield Until(lambda: "Execution failed" in log_text(dialog) and dialog.runButton().isEnabled(),
                120, "the refusal")
    yield 800
    RESULTS["optical_refused"] = {"log": log_text(dialog),
                                  "layers": sorted(lyr.name() for lyr in
                                                   QgsProject.instance().mapLayers().values())}
    shot("translate_optical_refused", dialog)
    dialog.close()

    step("batch: three SAR layers, Run")
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog
    from processing.tools import dataobjects

    strips = []
    mosaic = DATA / "bigearthnet" / "s1_mosaic.tif"
    for i, part in enumerate(("north", "middle", "south")):
        path = OUT / f"s1_{part}.tif"
        written = gdal.Translate(str(path), str(mosaic), srcWin=[0, 120 * i, 240, 120])
        del written  # closes (flushes) the file
        strips.append(add_raster(path, f"s1_{part}"))
    iface.setActiveLayer(optical)
    registry = QgsApplication.processingRegistry()
    batch = BatchAlgorithmDialog(registry.createAlgorithmById("s2o:translate"), window)
    batch.show()
    yield Until(batch.isVisible, 30, "the batch dialog")
    centre(batch)
    panel = batch.mainWidget()
    col_in, col_out = panel.parameter_to_column["INPUT"], panel.parameter_to_column["OUTPUT"]
    first = QgsProject.instance().mapLayer(str(panel.wrappers[0][col_in].parameterValue()))
    RESULTS["batch_preselected"] = first.name() if first else None  # the optical one is active
    panel.addRow(len(strips) - panel.batchRowCount())
    context = dataobjects.createContext()
    (OUT / "batch").mkdir(exist_ok=True)
    for row, layer in enumerate(strips):
        panel.wrappers[row][col_in].setParameterValue(layer.id(), context)
        panel.tblParameters.cellWidget(row + 1, col_out).setValue(
            str(OUT / "batch" / f"{layer.name()}_optical.tif"))
    panel.checkLoadLayersOnCompletion.setChecked(True)  # the user wants the results on the map
    yield 800
    RESULTS["batch_rows"] = panel.batchRowCount()
    shot("batch_dialog_filled", batch)
    batch.runButton().click()  # runs the rows one after the other, then loads the layers
    yield Until(lambda: len(layers_named("s1_")) >= 6, 120, "three batch layers")
    yield 1000
    RESULTS["batch"] = {"layers": [layer_facts(lyr) for lyr in layers_named("s1_")
                                   if lyr.name().endswith("optical")],
                        "log": log_text(batch)}
    shot("batch_run_log", batch)
    batch.close()
    for layer in strips:  # the SAR strips under the results: show the results alone
        QgsProject.instance().layerTreeRoot().findLayer(layer.id()).setItemVisibilityChecked(False)
    extent = strips[0].extent()
    for layer in strips[1:]:
        extent.combineExtentWith(layer.extent())
    canvas = iface.mapCanvas()
    to_canvas = QgsCoordinateTransform(strips[0].crs(), canvas.mapSettings().destinationCrs(),
                                       QgsProject.instance())
    canvas.setExtent(to_canvas.transformBoundingBox(extent))
    plugins["processing"].resultsDock.hide()
    canvas.refreshAllLayers()
    yield 2500
    shot("batch_map")


def missing():
    """QGIS's Python without onnxruntime and scikit-image: what the user sees before Run."""
    window = iface.mainWindow()
    window.showMaximized()
    plugin = plugins[PLUGIN]
    yield 2000
    from s2o_qgis_plugin import deps

    RESULTS["missing_packages"] = deps.missing_packages()
    step("message bar and menu")
    bar = iface.messageBar()
    item = bar.currentItem()
    RESULTS["message"] = {
        "text": item.text() if item else None,
        "buttons": [b.text() for b in item.findChildren(QPushButton)] if item else [],
        "install_action": plugin.install_action.text() if plugin.install_action else None,
    }
    registry = QgsApplication.processingRegistry()
    RESULTS["can_execute"] = {a.id(): list(a.canExecute())
                              for a in registry.providerById("s2o").algorithms()}
    shot("missing_dependencies")

    step("the plugin's Translate dialog")
    plugin.actions[0].trigger()
    dialog = plugin.dialog
    yield Until(dialog.isVisible, 30, "the translate dialog")
    centre(dialog)
    yield 800
    bar_item = dialog.messageBar().currentItem()
    RESULTS["dialog"] = dialog_facts(dialog)
    RESULTS["dialog"]["message"] = bar_item.text() if bar_item else None
    shot("translate_missing_dependencies", dialog)
    dialog.close()

    step("the toolbox refuses to open Translate")
    toolbox = plugins["processing"].toolbox
    toolbox.show()
    tree = toolbox.algorithmTree
    tree.setFilterString("Translate SAR to optical")
    yield 500
    tree.setCurrentIndex(find_algorithm(tree, "s2o:translate"))
    seen = {}

    def close_modal():
        modal = QApplication.activeModalWidget()
        if modal is None:
            QTimer.singleShot(200, close_modal)
            return
        seen["title"] = modal.windowTitle()
        seen["text"] = " ".join(w.toPlainText() for w in modal.findChildren(QTextBrowser))
        shot("toolbox_cannot_run", modal)
        modal.close()

    QTimer.singleShot(800, close_modal)
    toolbox.executeAlgorithm()  # modal: close_modal answers it
    yield Until(lambda: "text" in seen, 30, "the toolbox's refusal")
    RESULTS["toolbox"] = seen


run_steps({"full": full, "missing": missing}[SCENARIO]())
