"""Without a model given, the engine picks the embedded model that fits the input's bands: real
onnxruntime sessions on real models made by the project's exporter from untrained checkpoints,
with the engine's embedded model paths (model.VV_MODEL_PATH, model.DEFAULT_MODEL_PATH) pointed
at them. (Here, beside the exporter's tests, because making the models needs torch.)"""

import shutil

import numpy as np
import pytest
import rasterio

from s2o_qgis_plugin.engine import cli
from s2o_qgis_plugin.engine import model as model_module
from s2o_qgis_plugin.engine.errors import InputError, ModelError
from s2o_qgis_plugin.engine.translate import (
    TAG_MODEL_FILE,
    TAG_PRODUCT,
    TAG_S2_LEVEL,
    translate_raster,
)
from tests.engine.fixtures import sar_db, write_raster

NODATA = -9999.0
L1C = "Sentinel-2 L1C-like (top of atmosphere)"
L2A = "Sentinel-2 L2A-like (surface reflectance)"


@pytest.fixture(scope="module")
def exported(tmp_path_factory, exports):
    """A VV-only model (declared L1C, so the level visibly follows the model) and a VV+VH one,
    the session's exports under the embedded models' names."""
    folder = tmp_path_factory.mktemp("exported")
    named = {
        "vv": (exports("VV", s2_level="L1C"), "s2o_npde_vv.onnx"),
        "dual": (exports("VV,VH"), "s2o_npde_dual.onnx"),
    }
    return {k: shutil.copyfile(made.onnx, folder / name) for k, (made, name) in named.items()}


@pytest.fixture
def embedded(exported, monkeypatch):
    monkeypatch.setattr(model_module, "VV_MODEL_PATH", exported["vv"])
    monkeypatch.setattr(model_module, "DEFAULT_MODEL_PATH", exported["dual"])
    return exported


def sar(path, n_bands, descriptions=None, nodata_block=True):
    """Sentinel-1-like sigma0 in dB, 72 x 88 px, EPSG:32633, a nodata block in a corner."""
    data = sar_db(72, 88, n_bands, seed=3)
    if nodata_block:
        data[:, :9, :13] = NODATA
    return write_raster(path, data, nodata=NODATA, descriptions=descriptions)


def translate(src, dst, **kwargs):
    said = []
    res = translate_raster(
        src, dst, tile_size=64, device="cpu", threads=1, log=said.append, **kwargs
    )
    return res, said


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    "descriptions,why",
    [
        (None, "a single band, taken as VV"),
        (["Sigma0_VV_db"], "the band descriptions name VV and no VH"),
    ],
)
def test_one_band_vv_db_geotiff_with_nodata_uses_the_vv_model(
    tmp_path, embedded, descriptions, why
):
    src = sar(tmp_path / "vv.tif", 1, descriptions)
    res, said = translate(src, tmp_path / "out.tif")
    assert res.model_path == embedded["vv"] and res.model_choice == why
    assert f"model: the embedded VV-only model, picked because {why}" in said
    assert any(line.startswith("model s2o-npde 0.1.0 (s2o_npde_vv.onnx), " + L1C) for line in said)
    assert (res.s2_level, res.product, res.bands, res.input_scale) == ("L1C", L1C, [1], "db")
    with rasterio.open(src) as a, rasterio.open(tmp_path / "out.tif") as b:
        assert (b.crs, b.transform, b.width, b.height) == (a.crs, a.transform, a.width, a.height)
        assert b.count == 3 and b.nodata == 0 and b.descriptions == ("Red", "Green", "Blue")
        nodata_in = a.read(1) == NODATA
        out = b.read()
        tags = b.tags()
    assert nodata_in.sum() == 9 * 13
    assert (out[:, nodata_in] == 0).all() and (out[:, ~nodata_in] >= 1).all()
    assert out[:, ~nodata_in].std() > 0
    assert (tags[TAG_MODEL_FILE], tags[TAG_S2_LEVEL], tags[TAG_PRODUCT]) == (
        "s2o_npde_vv.onnx",
        "L1C",
        L1C,
    )
    # the same pixels as that model given explicitly
    translate(src, tmp_path / "explicit.tif", model=embedded["vv"])
    with rasterio.open(tmp_path / "explicit.tif") as c:
        assert np.array_equal(c.read(), out)


def test_vv_vh_uses_the_dual_model(tmp_path, embedded):
    src = sar(tmp_path / "s1.tif", 2, ["VV", "VH"])
    res, said = translate(src, tmp_path / "out.tif")
    assert res.model_path == embedded["dual"] and res.bands == [1, 2]
    assert (
        "model: the embedded VV+VH model, picked because the band descriptions name VV and VH"
    ) in said
    assert (res.s2_level, res.product) == ("L2A", L2A)
    with rasterio.open(tmp_path / "out.tif") as out:
        assert out.tags()[TAG_MODEL_FILE] == "s2o_npde_dual.onnx"


def test_hh_hv_is_refused_with_the_reason(tmp_path, embedded):
    src = sar(tmp_path / "hh.tif", 2, ["Sigma0_HH_db", "Sigma0_HV_db"])
    before = files_in(tmp_path)
    with pytest.raises(InputError) as err:
        translate(src, tmp_path / "out.tif")
    msg = str(err.value)
    assert "the raster's bands are HH/HV polarisation (1 'Sigma0_HH_db', 2 'Sigma0_HV_db')" in msg
    assert "the s2o models were trained on VV/VH" in msg
    assert "HH/HV backscatter differs from VV/VH" in msg
    assert "choose the bands yourself (bands option, e.g. 1,2)" in msg
    assert files_in(tmp_path) == before


def test_choosing_the_bands_overrides_the_refusal(tmp_path, embedded):
    src = sar(tmp_path / "hh.tif", 2, ["Sigma0_HH_db", "Sigma0_HV_db"])
    res, said = translate(src, tmp_path / "dual.tif", bands=[1, 2])
    assert res.model_path == embedded["dual"] and res.bands == [1, 2]
    assert "model: the embedded VV+VH model, picked because bands 1, 2 were chosen" in said
    assert any(line.startswith("note: band 1 is described as HH") for line in said)
    assert any(line.startswith("note: band 2 is described as HV") for line in said)
    res, said = translate(src, tmp_path / "vv.tif", bands=[1])
    assert res.model_path == embedded["vv"] and res.bands == [1]
    assert "model: the embedded VV-only model, picked because band 1 was chosen alone" in said


def test_missing_vv_model_is_a_clear_error(tmp_path, embedded, monkeypatch):
    missing = tmp_path / "models" / "s2o_npde_vv.onnx"
    monkeypatch.setattr(model_module, "VV_MODEL_PATH", missing)
    src = sar(tmp_path / "vv.tif", 1)
    before = files_in(tmp_path)
    with pytest.raises(ModelError) as err:
        translate(src, tmp_path / "out.tif")
    assert str(err.value) == (
        "the input is VV only (a single band, taken as VV) and the embedded VV-only model is "
        f"not installed ({missing}): choose a VV-only s2o model file (model option), or use a "
        "raster with VV and VH bands for the embedded VV+VH model"
    )
    assert files_in(tmp_path) == before
    # VV+VH input still runs with the default model
    res, _ = translate(sar(tmp_path / "s1.tif", 2, ["VV", "VH"]), tmp_path / "dual.tif")
    assert res.model_path == embedded["dual"]


def test_cli_says_which_model_and_product(tmp_path, embedded, monkeypatch, capsys):
    src = sar(tmp_path / "vv.tif", 1, ["VV"])
    dst = tmp_path / "out.tif"
    assert cli.main([str(src), str(dst), "--tile", "64", "--device", "cpu"]) == cli.EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "provider: CPUExecutionProvider",
        f"model: {embedded['vv']}",
        f"product: {L1C}",
        f"output: {dst}",
    ]
    assert (
        "s2o-translate: model: the embedded VV-only model, picked because the band "
        "descriptions name VV and no VH"
    ) in captured.err
    monkeypatch.setattr(model_module, "VV_MODEL_PATH", tmp_path / "none.onnx")
    assert cli.main([str(src), str(tmp_path / "b.tif"), "--quiet"]) == cli.EXIT_MODEL
    assert "the embedded VV-only model is not installed" in capsys.readouterr().err
    hh = sar(tmp_path / "hh.tif", 2, ["HH", "HV"])
    assert cli.main([str(hh), str(tmp_path / "c.tif"), "--quiet"]) == cli.EXIT_INPUT
    assert "the s2o models were trained on VV/VH" in capsys.readouterr().err
