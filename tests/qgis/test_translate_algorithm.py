"""s2o:translate through QGIS Processing: real Sentinel-1 GeoTIFFs, a generated EPSG:4326 raster
with nodata, a batch of layers, true-colour styling, cancel, and the messages for bad input."""

import numpy as np
import pytest
import rasterio
from plugin_fixtures import SAR_NODATA, bigearthnet, grid, patch_ids, sar_4326, write_raster
from qgis.core import (
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
)

from s2o_qgis_plugin.engine import model as model_module
from tests.engine.fixtures import make_model, model_metadata

CPU = "CPUExecutionProvider"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny s2o ONNX network (VV+VH, stride 4, halo 10) with valid s2o metadata."""
    return str(make_model(tmp_path_factory.mktemp("model") / "tiny.onnx"))


def translate(params, **kwargs):
    import processing

    return processing.run("s2o:translate", params, **kwargs)


def test_real_sentinel1_mosaic_keeps_georeferencing(s2o, model, tmp_path):
    sar = bigearthnet("s1_mosaic", tmp_path)
    dst = tmp_path / "optical.tif"
    out = translate(
        {"INPUT": sar, "MODEL": model, "TILE_SIZE": 64, "DEVICE": 2, "OUTPUT": str(dst)}
    )
    assert out["OUTPUT"] == str(dst)
    assert out["EXECUTION_PROVIDER"] == CPU
    assert grid(dst) == grid(sar)
    with rasterio.open(dst) as ds:
        assert ds.count == 3 and ds.dtypes == ("uint16",) * 3
        assert ds.descriptions == ("Red", "Green", "Blue")
        rgb = ds.read()
    # the mosaic has no nodata: every pixel is valid, so >= 1 (0 is kept for nodata)
    assert 1 <= rgb.min() and rgb.max() <= 3000 and rgb.std() > 0
    layer = QgsRasterLayer(str(dst), "optical", "gdal")
    assert layer.crs().authid() == "EPSG:32633"
    assert (layer.width(), layer.height()) == (240, 360)
    assert layer.extent() == QgsRasterLayer(sar, "sar", "gdal").extent()


def test_generated_4326_raster_with_nodata(s2o, model, tmp_path):
    sar = sar_4326(tmp_path / "sar.tif")
    dst = tmp_path / "out.tif"
    translate({"INPUT": sar, "MODEL": model, "TILE_SIZE": 64, "OUTPUT": str(dst)})
    assert grid(dst) == grid(sar)
    with rasterio.open(dst) as ds, rasterio.open(sar) as src:
        assert ds.crs.to_epsg() == 4326
        nodata_in = src.read(1) == SAR_NODATA
        valid_out = ds.read_masks(1) > 0
    assert nodata_in.sum() == 8 * 10
    assert not valid_out[nodata_in].any()
    assert valid_out[~nodata_in].all()


def test_batch_of_real_layers_and_true_colour_style(s2o, model, tmp_path):
    """Three real Sentinel-1 patches (three UTM zones) one after the other, as the batch dialog
    runs them; each result is loaded into the project in true colour."""
    import processing

    project = QgsProject.instance()
    for name in patch_ids()[:3]:
        sar = bigearthnet("s1", tmp_path, name)
        dst = tmp_path / f"{name}_optical.tif"
        out = processing.runAndLoadResults(
            "s2o:translate", {"INPUT": sar, "MODEL": model, "TILE_SIZE": 64, "OUTPUT": str(dst)}
        )
        assert out["OUTPUT"] == str(dst)
        assert grid(dst) == grid(sar)
        (layer,) = [lyr for lyr in project.mapLayers().values() if lyr.source() == str(dst)]
        renderer = layer.renderer()
        assert renderer.type() == "multibandcolor"
        assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (1, 2, 3)
        red = renderer.redContrastEnhancement()
        assert (red.minimumValue(), red.maximumValue()) == (0.0, 3000.0)
        project.removeMapLayer(layer.id())


def test_cancel_leaves_nothing_behind(s2o, model, tmp_path):
    sar = bigearthnet("s1_mosaic", tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda _: feedback.cancel())
    with pytest.raises(QgsProcessingException, match="Cancelled by the user"):
        translate(
            {"INPUT": sar, "MODEL": model, "TILE_SIZE": 64, "OUTPUT": str(out_dir / "x.tif")},
            feedback=feedback,
        )
    assert list(out_dir.iterdir()) == []


def test_bad_parameters_are_explained(s2o, model, tmp_path):
    sar = bigearthnet("s1", tmp_path, patch_ids()[0])
    dst = str(tmp_path / "out.tif")
    cases = [
        ({"VV_BAND": 1, "VH_BAND": 1}, "VV band and VH band are both band 1"),
        ({"MODEL": str(tmp_path / "nope.onnx")}, f"The model file {tmp_path / 'nope.onnx'} does"),
        ({"TILE_SIZE": 66}, "tile size 66 is not a multiple of the model's size multiple 4"),
        ({"INPUT_SCALE": 1}, "the input is declared linear"),  # dB values: refused
        ({"INPUT_SCALE": 1}, "if these are dB, set Input scale to Decibels (dB)"),
        ({"VV_BAND": 2}, "the model needs 2 band(s) (VV, VH)"),
    ]
    for extra, message in cases:
        params = {"INPUT": sar, "MODEL": model, "OUTPUT": dst, **extra}
        with pytest.raises(QgsProcessingException) as err:
            translate(params)
        assert message in str(err.value)
    xyz = QgsRasterLayer("type=xyz&url=http://127.0.0.1:9/{z}/{x}/{y}.png", "tiles", "wms")
    with pytest.raises(QgsProcessingException) as err:
        translate({"INPUT": xyz, "MODEL": model, "OUTPUT": dst})
    assert "The input layer 'tiles' comes from the 'wms' data provider" in str(err.value)
    assert "save it as a GeoTIFF first (Raster > Conversion > Translate" in str(err.value)
    assert not (tmp_path / "out.tif").exists()


def test_vv_only_model_uses_the_chosen_band(s2o, tmp_path):
    vv_model = str(make_model(tmp_path / "vv.onnx", input_bands=("VV",)))
    sar = sar_4326(tmp_path / "sar.tif")
    a = translate(
        {
            "INPUT": sar,
            "MODEL": vv_model,
            "VV_BAND": 1,
            "TILE_SIZE": 64,
            "OUTPUT": str(tmp_path / "a.tif"),
        }
    )
    b = translate(
        {
            "INPUT": sar,
            "MODEL": vv_model,
            "VV_BAND": 2,
            "TILE_SIZE": 64,
            "OUTPUT": str(tmp_path / "b.tif"),
        }
    )
    with rasterio.open(a["OUTPUT"]) as da, rasterio.open(b["OUTPUT"]) as db:
        assert not np.array_equal(da.read(), db.read())  # VH as "VV" gives another image


# -- the embedded model that fits the input ---------------------------------------------------
# (stand-ins made without torch, with the metadata the exporter gives the embedded models; the
# exporter's own files run through the same choice in tests/export/test_embedded_model_choice.py)
L2A = "Sentinel-2 L2A-like (surface reflectance)"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exported")
    return {
        kind: make_model(folder / f"{stem}.onnx", bands,
                         meta=model_metadata(bands, name="s2o-npde", version="0.1.0"))
        for kind, stem, bands in (("vv", "s2o_npde_vv", ("VV",)),
                                  ("dual", "s2o_npde_default", ("VV", "VH")))
    }


@pytest.fixture
def embedded(exported, monkeypatch):
    """The engine's embedded model paths pointed at the exported test models."""
    monkeypatch.setattr(model_module, "VV_MODEL_PATH", exported["vv"])
    monkeypatch.setattr(model_module, "DEFAULT_MODEL_PATH", exported["dual"])
    return exported


def run_logged(params):
    feedback = QgsProcessingFeedback(True)
    out = translate(params, feedback=feedback)
    return out, feedback.textLog()


def test_vv_only_raster_without_a_model_uses_the_vv_model(s2o, embedded, tmp_path):
    sar = sar_4326(tmp_path / "dual.tif")
    with rasterio.open(sar) as ds:
        vv = ds.read(1)[None]
    src = write_raster(tmp_path / "vv.tif", vv, nodata=SAR_NODATA, descriptions=["VV"])
    dst = tmp_path / "optical.tif"
    out, log = run_logged({"INPUT": src, "TILE_SIZE": 64, "OUTPUT": str(dst)})
    assert out["MODEL_USED"] == str(embedded["vv"])
    assert "model: the embedded VV-only model, picked because the band descriptions name VV " \
           "and no VH" in log
    assert f"model s2o-npde 0.1.0 ({embedded['vv']}), {L2A}; input scale db" in log
    assert grid(dst) == grid(src)
    with rasterio.open(dst) as ds:
        valid_out = ds.read_masks(1) > 0
        assert ds.tags()["S2O_S2_LEVEL"] == "L2A" and ds.tags()["S2O_PRODUCT"] == L2A
    nodata_in = vv[0] == SAR_NODATA
    assert nodata_in.sum() == 8 * 10
    assert not valid_out[nodata_in].any() and valid_out[~nodata_in].all()


def test_vv_vh_raster_without_a_model_uses_the_dual_model(s2o, embedded, tmp_path):
    out, log = run_logged({"INPUT": sar_4326(tmp_path / "s1.tif"), "TILE_SIZE": 64,
                           "OUTPUT": str(tmp_path / "out.tif")})
    assert out["MODEL_USED"] == str(embedded["dual"])
    assert "model: the embedded VV+VH model, picked because the band descriptions name VV and VH" \
        in log


def test_hh_hv_refused_and_chosen_bands_override(s2o, embedded, tmp_path):
    with rasterio.open(sar_4326(tmp_path / "s1.tif")) as ds:
        data = ds.read()
    hh = write_raster(tmp_path / "hh.tif", data, nodata=SAR_NODATA, descriptions=["HH", "HV"])
    with pytest.raises(QgsProcessingException) as err:
        translate({"INPUT": hh, "TILE_SIZE": 64, "OUTPUT": str(tmp_path / "a.tif")})
    assert "the s2o models were trained on VV/VH" in str(err.value)
    assert "choose the bands yourself (VV band 1 and VH band 2)" in str(err.value)
    assert not (tmp_path / "a.tif").exists()
    out, log = run_logged({"INPUT": hh, "VV_BAND": 1, "VH_BAND": 2, "TILE_SIZE": 64,
                           "OUTPUT": str(tmp_path / "b.tif")})
    assert out["MODEL_USED"] == str(embedded["dual"])
    assert "note: band 1 is described as HH ('HH') but is used as VV, as chosen" in log


def test_missing_vv_model_is_explained(s2o, embedded, tmp_path, monkeypatch):
    missing = tmp_path / "s2o_npde_vv.onnx"
    monkeypatch.setattr(model_module, "VV_MODEL_PATH", missing)
    src = write_raster(tmp_path / "vv.tif", np.full((1, 20, 20), -10.0, "float32"),
                       descriptions=["VV"])
    with pytest.raises(QgsProcessingException) as err:
        translate({"INPUT": src, "OUTPUT": str(tmp_path / "out.tif")})
    assert f"the embedded VV-only model is not installed ({missing})" in str(err.value)
