"""What the dialogs show, checked in QGIS without a desktop: help written as paragraphs that name
the dialog's own labels, the documentation page the Help button opens, tags and icons, output
layers named after their input, a SAR layer preferred as input, and the engine's refusals in
the dialog's words. (tests/gui drives the same in the real desktop.)"""

import re

import numpy as np
import pytest
from plugin_fixtures import bigearthnet, patch_ids, sar_4326, write_raster
from qgis.core import QgsApplication, QgsProcessingException, QgsProject, QgsRasterLayer

from s2o_qgis_plugin.__about__ import DIR_PLUGIN_ROOT
from s2o_qgis_plugin.algorithms import algorithm_classes
from s2o_qgis_plugin.algorithms.common import prefer_input, preferred_layer
from s2o_qgis_plugin.engine import input_kind
from scripts.algorithm_docs import DOCS, render
from tests.engine.fixtures import make_model

SENTENCE_END = re.compile(r"[.:!?)\"]$")
LEADING_LABELS = re.compile(r"^(?:<b>([^<]+)</b>(?:, )?)+")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(make_model(tmp_path_factory.mktemp("model") / "tiny.onnx"))


@pytest.fixture
def project():
    yield QgsProject.instance()
    QgsProject.instance().removeAllMapLayers()


@pytest.mark.parametrize("cls", algorithm_classes())
def test_help_is_paragraphs_naming_the_dialogs_labels(s2o, cls):
    alg = cls()
    alg.initAlgorithm()
    labels = {re.sub(r" \(.*\)$", "", p.description()) for p in alg.parameterDefinitions()}
    for paragraph in cls.HELP:
        assert "\n" not in paragraph and SENTENCE_END.search(paragraph), paragraph
        named = re.findall(r"<b>([^<]+)</b>", LEADING_LABELS.match(paragraph).group(0)) \
            if LEADING_LABELS.match(paragraph) else []
        assert set(named) <= labels, (named, labels)  # a paragraph about a field uses its label
    assert alg.shortHelpString() == "\n".join(cls.HELP)  # nothing missing here: no notice
    assert "export_onnx" not in alg.shortHelpString()


@pytest.mark.parametrize("cls", algorithm_classes())
def test_help_url_tags_and_icon(s2o, cls):
    alg = cls()
    assert alg.helpUrl().endswith(f"/docs/algorithms.md#{alg.name()}")
    assert f'<a id="{alg.name()}"></a>' in DOCS.read_text()
    assert "sar" in alg.tags() or "optical" in alg.tags()
    assert (DIR_PLUGIN_ROOT / cls.ICON).is_file() and not alg.icon().isNull()
    assert len({c.ICON for c in algorithm_classes()}) == len(algorithm_classes())


def test_the_documentation_page_is_current(s2o):
    assert DOCS.read_text(encoding="utf-8") == render(), \
        "docs/algorithms.md is stale: run `python scripts/algorithm_docs.py`"


def test_the_toolbox_finds_the_algorithms_by_tag(s2o):
    registry = QgsApplication.processingRegistry()
    found = [a.id() for a in registry.algorithms()
             if a.provider() and a.provider().id() == "s2o" and "sentinel-1" in a.tags()]
    assert sorted(found) == ["s2o:despeckle", "s2o:translate"]


# -- output layers ---------------------------------------------------------------------------------
def test_outputs_are_named_after_their_input_and_never_twice_the_same(s2o, model, project,
                                                                      tmp_path):
    import processing

    sar = QgsRasterLayer(bigearthnet("s1", tmp_path, patch_ids()[0]), "s1_scene", "gdal")
    project.addMapLayer(sar)
    names = []
    for i in range(2):
        out = processing.runAndLoadResults("s2o:translate", {
            "INPUT": sar, "MODEL": model, "TILE_SIZE": 64, "OUTPUT": str(tmp_path / f"{i}.tif")})
        (layer,) = [lyr for lyr in project.mapLayers().values() if lyr.source() == out["OUTPUT"]]
        names.append(layer.name())
        assert layer.renderer().type() == "multibandcolor"
    assert names == ["s1_scene optical", "s1_scene optical (2)"]
    out = processing.runAndLoadResults("s2o:despeckle", {
        "INPUT": sar, "ITERATIONS": 2, "OUTPUT": str(tmp_path / "d.tif")})
    (layer,) = [lyr for lyr in project.mapLayers().values() if lyr.source() == out["OUTPUT"]]
    assert layer.name() == "s1_scene despeckled"


# -- the input a dialog preselects -----------------------------------------------------------------
def test_a_sar_layer_is_preferred_to_the_active_optical_one(s2o, qgis_iface, project, tmp_path):
    from qgis.core import QgsProcessingParameterRasterLayer

    rgb = write_raster(tmp_path / "s2.tif", np.full((3, 20, 20), 900, "uint16"),
                       descriptions=["Red", "Green", "Blue"])
    optical = QgsRasterLayer(rgb, "s2_scene", "gdal")
    sar = QgsRasterLayer(sar_4326(tmp_path / "s1.tif"), "s1_scene", "gdal")
    project.addMapLayers([optical, sar])
    qgis_iface.setActiveLayer(optical)
    assert preferred_layer(input_kind.SAR) is sar
    param = QgsProcessingParameterRasterLayer("INPUT", "Sentinel-1 layer")
    assert prefer_input(param) is sar and param.guiDefaultValueOverride() == sar.id()
    assert param.defaultValue() is None  # scripts and qgis_process still give the input
    assert preferred_layer(input_kind.OPTICAL) is optical
    assert preferred_layer(input_kind.OPTICAL, exclude=[optical]) is None
    qgis_iface.setActiveLayer(sar)
    assert preferred_layer(input_kind.SAR) is sar
    alg = QgsApplication.processingRegistry().createAlgorithmById("s2o:translate")
    assert alg.parameterDefinition("INPUT").guiDefaultValueOverride() == sar.id()


# -- refusals in the dialog's words ----------------------------------------------------------------
def test_an_optical_layer_is_refused_as_such(s2o, model, tmp_path):
    import processing

    rgb = write_raster(tmp_path / "s2.tif", np.full((3, 20, 20), 900, "uint16"),
                       descriptions=["Red", "Green", "Blue"])
    for alg in ("s2o:translate", "s2o:despeckle"):
        with pytest.raises(QgsProcessingException) as err:
            processing.run(alg, {"INPUT": rgb, "OUTPUT": str(tmp_path / "out.tif")})
        assert str(err.value).startswith(
            "this layer looks like an optical image, not Sentinel-1 SAR: its bands are "
            "described as Red, Green, Blue")
    assert not (tmp_path / "out.tif").exists()


def test_engine_messages_use_the_dialogs_labels(s2o, model, tmp_path):
    import processing

    three = write_raster(tmp_path / "three.tif",
                         np.random.default_rng(0).normal(-12, 3, (3, 20, 20)).astype("float32"))
    with pytest.raises(QgsProcessingException) as err:
        processing.run("s2o:translate", {"INPUT": three, "MODEL": model,
                                         "OUTPUT": str(tmp_path / "out.tif")})
    assert "choose them (VV band 1 and VH band 2)" in str(err.value)
    assert "option" not in str(err.value)
    with pytest.raises(QgsProcessingException) as err:
        processing.run("s2o:translate", {"INPUT": sar_4326(tmp_path / "s1.tif"), "MODEL": model,
                                         "TILE_SIZE": 66, "OUTPUT": str(tmp_path / "out.tif")})
    assert "use 64 (Tile size)" in str(err.value)
