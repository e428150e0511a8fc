"""translate_raster end to end on small GeoTIFFs: georeferencing, output format, seam-free
tiling at raster level, nodata, scales, progress, cancel, and every refusal leaving nothing."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp

from s2o_qgis_plugin.engine.errors import Cancelled, InputError, ModelError, OutputError
from s2o_qgis_plugin.engine.metadata import NOT_S2O_HELP
from s2o_qgis_plugin.engine.model import DEFAULT_MODEL_PATH, S2OModel
from s2o_qgis_plugin.engine.radiometry import NODATA_INPUT, network_to_dn, sar_to_network
from s2o_qgis_plugin.engine.tiling import padded_length, read_halo, reflect_index
from s2o_qgis_plugin.engine.translate import (
    TAG_PRODUCT,
    TAG_S2_LEVEL,
    TranslateResult,
    translate_raster,
)
from tests.engine.fixtures import (
    TEST_MODEL_HALO,
    db_as,
    make_model,
    model_metadata,
    sar_db,
    write_raster,
    write_sar,
)

DN_TOL = 3000 / 255  # 1/255 of the output DN range


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {
        "vvvh": S2OModel.load(make_model(d / "vvvh.onnx"), device="cpu", threads=1),
        "vv": S2OModel.load(make_model(d / "vv.onnx", ("VV",), seed=1), device="cpu", threads=1),
        "halo0": S2OModel.load(make_model(d / "h0.onnx", halo=0), device="cpu", threads=1),
        "path": d / "vvvh.onnx",
    }


@pytest.fixture
def model(models):
    return models["vvvh"]


def files_in(folder):
    return sorted(p.name for p in Path(folder).iterdir())


def reference_dn(path, model, scale="db", halo=None):
    """Whole-image run computed here without the tiler: read all, pad by reflection to the
    m-grid plus h', run once, crop, to DN, nodata 0."""
    meta = model.meta
    with rasterio.open(path) as s:
        data = s.read(out_dtype="float32")
        nodata = s.nodata
    valid = np.isfinite(data).all(axis=0)
    if nodata is not None and not np.isnan(nodata):
        valid &= (data != np.float32(nodata)).all(axis=0)
    x = sar_to_network(data, scale, meta.input_db_range)
    x[:, ~valid] = -1.0
    _, H, W = x.shape
    m = meta.size_multiple
    hp = read_halo(meta.halo if halo is None else halo, m)
    ri = reflect_index(np.arange(-hp, padded_length(H, m) + hp), H)
    ci = reflect_index(np.arange(-hp, padded_length(W, m) + hp), W)
    y = model.run(x[:, ri][:, :, ci][None])[0][:, hp:hp + H, hp:hp + W]
    dn = np.clip(np.rint(network_to_dn(y, meta.output_value_range, meta.output_dn_range)), 1,
                 65535).astype(np.uint16)
    dn[:, ~valid] = 0
    return dn


def read_out(path):
    with rasterio.open(path) as s:
        return s.read()


# -- output format and georeferencing ------------------------------------------------------------
@pytest.mark.parametrize("crs", ["EPSG:32633", "EPSG:4326"])
def test_georeferencing_and_format(tmp_path, model, crs):
    src = write_sar(tmp_path / "s1.tif", 100, 77, crs=crs, nodata=-9999.0,
                    descriptions=["VV", "VH"])
    dst = tmp_path / "out.tif"
    res = translate_raster(src, dst, model, tile_size=64)
    assert isinstance(res, TranslateResult)
    assert (res.dst, res.width, res.height, res.tiles) == (dst, 77, 100, 4)
    assert res.provider == "CPUExecutionProvider" and res.bands == [1, 2]
    assert res.input_scale == "db" and res.scale_reason.startswith("auto: values")
    with rasterio.open(src) as a, rasterio.open(dst) as b:
        assert b.crs == a.crs and b.crs.to_string() == crs
        assert b.transform == a.transform and (b.width, b.height) == (a.width, a.height)
        assert b.count == 3 and b.dtypes == ("uint16",) * 3 and b.nodata == 0
        assert b.descriptions == ("Red", "Green", "Blue")
        assert tuple(b.colorinterp) == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
        assert b.block_shapes == [(256, 256)] * 3
        assert b.profile["tiled"] and b.compression.value in ("ZSTD", "DEFLATE")
        assert {k: v for k, v in b.tags().items() if k.startswith("S2O_")} == {
            "S2O_MODEL": "s2o-test 0.0.1", "S2O_MODEL_FILE": "vvvh.onnx", "S2O_S2_LEVEL": "L2A",
            "S2O_PRODUCT": "Sentinel-2 L2A-like (surface reflectance)",
        }
        out = b.read()
    assert out.min() >= 1 and out.max() <= 3000 and out.std() > 10
    assert files_in(tmp_path) == ["out.tif", "s1.tif"]


def test_output_equals_whole_image_run_for_any_tile_size(tmp_path, model):
    src = write_sar(tmp_path / "s1.tif", 100, 77, descriptions=["VV", "VH"], seed=4)
    ref = reference_dn(src, model)
    for tile in (32, 48, 64, 512):
        dst = tmp_path / f"out{tile}.tif"
        res = translate_raster(src, dst, model, tile_size=tile, batch_size=3)
        assert res.tiles == -(-100 // tile) * -(-77 // tile)
        diff = np.abs(read_out(dst).astype(int) - ref).max()
        assert diff <= 1 < DN_TOL, (tile, diff)


def test_a_too_small_declared_halo_shows_seams(tmp_path, models):
    """Same weights, halo declared 0: the raster-level check fails as it should."""
    src = write_sar(tmp_path / "s1.tif", 100, 77, descriptions=["VV", "VH"], seed=4)
    ref = reference_dn(src, models["halo0"], halo=TEST_MODEL_HALO)
    translate_raster(src, tmp_path / "out.tif", models["halo0"], tile_size=32)
    assert np.abs(read_out(tmp_path / "out.tif").astype(int) - ref).max() > DN_TOL


def test_batching_does_not_change_the_output(tmp_path, model):
    src = write_sar(tmp_path / "s1.tif", 70, 90, descriptions=["VV", "VH"])
    translate_raster(src, tmp_path / "b1.tif", model, tile_size=32, batch_size=1)
    translate_raster(src, tmp_path / "b4.tif", model, tile_size=32, batch_size=4)
    assert (read_out(tmp_path / "b1.tif") == read_out(tmp_path / "b4.tif")).all()


@pytest.mark.parametrize("scale", ["linear", "amplitude"])
def test_the_same_scene_in_any_scale_gives_the_same_output(tmp_path, model, scale):
    db = sar_db(64, 64, 2, seed=2)
    a = write_raster(tmp_path / "db.tif", db, descriptions=["VV", "VH"])
    b = write_raster(tmp_path / f"{scale}.tif", db_as(db, scale), descriptions=["VV", "VH"])
    translate_raster(a, tmp_path / "a.tif", model, tile_size=64)
    res = translate_raster(b, tmp_path / "b.tif", model, tile_size=64)
    assert res.input_scale == scale
    diff = np.abs(read_out(tmp_path / "a.tif").astype(int) - read_out(tmp_path / "b.tif"))
    assert diff.max() <= 1


def test_vv_model_picks_the_vv_band_by_description(tmp_path, models):
    db = sar_db(40, 40, 2)
    src = write_raster(tmp_path / "s1.tif", db[::-1], descriptions=["Sigma0_VH_db", "Sigma0_VV_db"])
    res = translate_raster(src, tmp_path / "out.tif", models["vv"], tile_size=32)
    assert res.bands == [2] and res.input_scale == "db"
    assert "band description 'Sigma0_VV_db'" in res.scale_reason


# -- nodata ---------------------------------------------------------------------------------------
def test_nodata_nan_and_inf_become_output_nodata_without_polluting_neighbours(tmp_path, model):
    db = sar_db(60, 52, 2, seed=7)
    bad = db.copy()
    bad[0, 10, 10] = np.nan
    bad[1, 30, 40] = np.inf
    bad[0, 50, 5] = -np.inf
    bad[:, 0:3, 0:4] = -9999.0
    src = write_raster(tmp_path / "bad.tif", bad, nodata=-9999.0, descriptions=["VV", "VH"])
    res = translate_raster(src, tmp_path / "out.tif", model, tile_size=32)
    out = read_out(tmp_path / "out.tif")
    holes = np.zeros((60, 52), bool)
    holes[10, 10] = holes[30, 40] = holes[50, 5] = True
    holes[0:3, 0:4] = True
    assert (out[:, holes] == 0).all() and (out[:, ~holes] >= 1).all()
    # filled with NODATA_INPUT before inference: same as a raster that holds its dB value there
    filled = db.copy()
    for band, (low, high) in enumerate(model.meta.input_db_range):
        filled[band][holes] = low + (NODATA_INPUT + 1) / 2 * (high - low)
    translate_raster(write_raster(tmp_path / "f.tif", filled, descriptions=["VV", "VH"]),
                     tmp_path / "f_out.tif", model, tile_size=32)
    ref = read_out(tmp_path / "f_out.tif")
    assert np.abs(out[:, ~holes].astype(int) - ref[:, ~holes]).max() <= 1
    assert res.skipped_tiles == 0


def test_all_nodata_raster_gives_a_valid_all_nodata_output(tmp_path, model):
    data = np.full((2, 40, 70), -9999.0, np.float32)
    src = write_raster(tmp_path / "empty.tif", data, nodata=-9999.0)
    res = translate_raster(src, tmp_path / "out.tif", model, tile_size=32)
    assert res.skipped_tiles == res.tiles == 2 * 3
    with rasterio.open(tmp_path / "out.tif") as s:
        assert s.nodata == 0 and (s.read() == 0).all() and s.count == 3


def test_raster_smaller_than_the_size_multiple(tmp_path, model):
    src = write_sar(tmp_path / "tiny.tif", 3, 5, descriptions=["VV_dB", "VH_dB"])
    res = translate_raster(src, tmp_path / "out.tif", model)
    assert (res.width, res.height, res.tiles) == (5, 3, 1)
    out = read_out(tmp_path / "out.tif")
    assert out.shape == (3, 3, 5) and out.min() >= 1
    assert np.abs(out.astype(int) - reference_dn(src, model)).max() <= 1


# -- callbacks ------------------------------------------------------------------------------------
def test_progress_is_monotonic_to_100_and_log_says_what_was_decided(tmp_path, model):
    src = write_sar(tmp_path / "s1.tif", 64, 96, descriptions=["VV", "VH"])
    seen, said = [], []
    translate_raster(src, tmp_path / "out.tif", model, tile_size=32, progress=seen.append,
                     log=said.append)
    assert seen[0] == 0 and seen[-1] == 100
    assert all(b >= a for a, b in zip(seen, seen[1:], strict=False)) and len(seen) >= 6
    text = "\n".join(said)
    assert "on CPUExecutionProvider" in text and "input scale: db (auto: values" in text
    assert "bands: VV <- 1 (VV), VH <- 2 (VH)" in text and "6 tile(s)" in text


def test_cancel_leaves_nothing_and_keeps_an_older_output(tmp_path, model):
    src = write_sar(tmp_path / "s1.tif", 64, 96, descriptions=["VV", "VH"])
    dst = tmp_path / "out.tif"
    dst.write_bytes(b"older result")
    calls = []

    def cancel_on_third_poll():
        calls.append(files_in(tmp_path))
        return len(calls) >= 3

    with pytest.raises(Cancelled, match="cancelled: nothing was written"):
        translate_raster(src, dst, model, tile_size=32, is_cancelled=cancel_on_third_poll)
    assert any(n.startswith(".out.tif.s2o-tmp-") for n in calls[-1])  # it was being written
    assert dst.read_bytes() == b"older result"
    assert files_in(tmp_path) == ["out.tif", "s1.tif"]


# -- refusals: each leaves nothing behind --------------------------------------------------------
def refused(tmp_path, exc, match, src, model, **kwargs):
    before = files_in(tmp_path)
    dst = kwargs.pop("dst", tmp_path / "out.tif")
    with pytest.raises(exc) as info:
        translate_raster(src, dst, model, **kwargs)
    assert match in str(info.value), str(info.value)
    assert files_in(tmp_path) == before
    return str(info.value)


def test_missing_input(tmp_path, model):
    refused(tmp_path, InputError, "input raster not found", tmp_path / "nope.tif", model)


def test_text_file_named_tif(tmp_path, model):
    src = tmp_path / "notes.tif"
    src.write_text("not a raster\n")
    refused(tmp_path, InputError, "is not a raster GDAL can read", src, model)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_zero_bands(tmp_path, model):
    """GDAL refuses to create a GeoTIFF (or a VRT) with zero bands; a PCIDSK file can be one."""
    src = tmp_path / "empty.pix"
    with rasterio.open(src, "w", driver="PCIDSK", width=10, height=10, count=0, dtype="uint8"):
        pass
    refused(tmp_path, InputError, "has no raster bands", src, model)


def test_too_many_bands_without_a_choice(tmp_path, model):
    src = write_raster(tmp_path / "three.tif", sar_db(20, 20, 3))
    msg = refused(tmp_path, InputError, "the raster has 3 bands", src, model)
    assert "bands option, e.g. 1,2" in msg
    res = translate_raster(src, tmp_path / "ok.tif", model, bands=[1, 2], tile_size=32)
    assert res.bands == [1, 2]


def test_values_contradicting_the_declared_scale(tmp_path, model):
    src = write_sar(tmp_path / "lin.tif", 40, 40, scale="linear")
    msg = refused(tmp_path, InputError, "declared dB (input scale option)", src, model,
                  input_scale="db")
    assert "median of 0.0" in msg and "set input scale to linear" in msg


@pytest.mark.parametrize("where,match", [
    ("file.txt/out.tif", "is a file, not a folder"),
    ("missing/out.tif", "the output folder does not exist"),
    ("missing/deeper/out.tif", "the output folder does not exist"),
    (".", "the output path is a folder"),
    ("out.png", "give a file name ending .tif"),
])
def test_unwritable_destination(tmp_path, model, where, match):
    src = write_sar(tmp_path / "s1.tif", 20, 20, descriptions=["VV", "VH"])
    (tmp_path / "file.txt").write_text("x")
    refused(tmp_path, OutputError, match, src, model, dst=tmp_path / where)


def test_destination_is_the_input(tmp_path, model, monkeypatch):
    src = write_sar(tmp_path / "s1.tif", 20, 20, descriptions=["VV", "VH"])
    monkeypatch.chdir(tmp_path)
    refused(tmp_path, OutputError, "the output is the input raster itself", src, model,
            dst=Path("./sub/../s1.tif"))


def test_corrupt_and_foreign_models(tmp_path, models):
    src = write_sar(tmp_path / "s1.tif", 20, 20, descriptions=["VV", "VH"])
    corrupt = tmp_path / "bad.onnx"
    corrupt.write_bytes(models["path"].read_bytes()[:300])
    refused(tmp_path, ModelError, "corrupt or not ONNX", src, corrupt, device="cpu")
    foreign = make_model(tmp_path / "foreign.onnx", with_metadata=False)
    refused(tmp_path, ModelError, NOT_S2O_HELP, src, foreign, device="cpu")


@pytest.mark.parametrize("tile,match", [(50, "use 48"), (4, "use at least 12"),
                                        (100000, "too large")])
def test_bad_tile_sizes(tmp_path, model, tile, match):
    src = write_sar(tmp_path / "s1.tif", 20, 20, descriptions=["VV", "VH"])
    refused(tmp_path, InputError, match, src, model, tile_size=tile)


def test_bad_batch_size_and_scale_name(tmp_path, model):
    src = write_sar(tmp_path / "s1.tif", 20, 20, descriptions=["VV", "VH"])
    refused(tmp_path, InputError, "batch size must be a positive whole number", src, model,
            batch_size=0)
    refused(tmp_path, InputError, "input scale must be one of", src, model, input_scale="dbz")


def test_model_given_as_a_path(tmp_path, models):
    src = write_sar(tmp_path / "s1.tif", 20, 20, descriptions=["VV", "VH"])
    res = translate_raster(src, tmp_path / "out.tif", str(models["path"]), device="cpu",
                           threads=1, tile_size=32)
    assert res.model_name == "s2o-test 0.0.1" and res.provider == "CPUExecutionProvider"


def test_the_product_level_is_reported_and_tagged(tmp_path):
    path = make_model(tmp_path / "l1c.onnx", meta=model_metadata(s2_level="L1C"))
    src = write_sar(tmp_path / "s1.tif", 20, 20, descriptions=["VV", "VH"])
    said = []
    res = translate_raster(src, tmp_path / "out.tif", path, device="cpu", tile_size=32,
                           log=said.append)
    assert (res.s2_level, res.model_path, res.model_choice) == ("L1C", path, "")
    assert res.product == "Sentinel-2 L1C-like (top of atmosphere)"
    assert ("model s2o-test 0.0.1 (l1c.onnx), Sentinel-2 L1C-like (top of atmosphere), on "
            "CPUExecutionProvider") in said
    with rasterio.open(tmp_path / "out.tif") as out:
        tags = out.tags()
    assert tags[TAG_S2_LEVEL] == "L1C" and tags[TAG_PRODUCT] == res.product


def test_vv_vh_without_a_model_runs_the_real_embedded_default_model(tmp_path):
    """The embedded file itself (schema 2 when this was written: read as L2A) for VV+VH."""
    src = write_sar(tmp_path / "s1.tif", 40, 48, descriptions=["VV", "VH"], nodata=-9999.0)
    said = []
    res = translate_raster(src, tmp_path / "out.tif", device="cpu", threads=1, tile_size=64,
                           log=said.append)
    assert res.model_path == DEFAULT_MODEL_PATH and res.s2_level == "L2A"
    assert ("model: the embedded VV+VH model, picked because the band descriptions name VV and "
            "VH") in said
    with rasterio.open(tmp_path / "out.tif") as out:
        assert out.tags()[TAG_S2_LEVEL] == "L2A" and out.read().min() >= 1


def test_hh_hv_raster_refused_unless_the_bands_are_chosen(tmp_path, model):
    src = write_sar(tmp_path / "s1.tif", 24, 24, descriptions=["Sigma0_HH_db", "Sigma0_HV_db"])
    msg = refused(tmp_path, InputError, "the raster's bands are HH/HV polarisation", src, model,
                  tile_size=32)
    assert "trained on VV/VH" in msg and "(bands option, e.g. 1,2)" in msg
    said = []
    res = translate_raster(src, tmp_path / "out.tif", model, bands=[1, 2], tile_size=32,
                           log=said.append)
    assert res.bands == [1, 2]
    assert ("note: band 1 is described as HH ('Sigma0_HH_db') but is used as VV, as chosen; "
            "HH/HV backscatter differs from VV/VH, the model was not trained on it") in said


@pytest.mark.slow
def test_a_large_scene_is_streamed_not_loaded(tmp_path, model):
    """An 8192 x 8192 x 2 float32 scene (512 MB in memory) stored sparse (a few MB on disk):
    the translation's Python-side peak memory stays at a few tiles."""
    import tracemalloc

    from rasterio.windows import Window

    n = 8192
    src = tmp_path / "big.tif"
    with rasterio.open(src, "w", driver="GTiff", width=n, height=n, count=2, dtype="float32",
                       tiled=True, blockxsize=512, blockysize=512, sparse_ok=True, nodata=0,
                       crs="EPSG:32633", transform=rasterio.transform.from_origin(0, 0, 10, 10),
                       ) as d:
        d.write(sar_db(64, 64, 2), window=Window(5000, 5000, 64, 64))
    tracemalloc.start()
    try:
        res = translate_raster(src, tmp_path / "out.tif", model, tile_size=512)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.tiles == 256 and res.skipped_tiles == 255
    assert peak < 64e6, f"peak {peak / 1e6:.0f} MB"
    with rasterio.open(tmp_path / "out.tif") as s:
        assert (s.width, s.height) == (n, n)
        block = s.read(window=Window(4990, 4990, 84, 84))
    assert (block[:, 10:74, 10:74] >= 1).all()
    assert (block[:, :10] == 0).all() and (block[:, :, 74:] == 0).all()


def test_gcp_georeferencing_is_kept(tmp_path, model):
    """Sentinel-1 GRD in radar geometry carries ground control points instead of a transform."""
    from rasterio.control import GroundControlPoint

    src = write_sar(tmp_path / "grd.tif", 40, 40, descriptions=["VV", "VH"], crs=None)
    gcps = [GroundControlPoint(0, 0, 13.0, 48.0), GroundControlPoint(0, 40, 13.1, 48.0),
            GroundControlPoint(40, 0, 13.0, 47.9), GroundControlPoint(40, 40, 13.1, 47.9)]
    with rasterio.open(src, "r+") as d:
        d.gcps = (gcps, rasterio.crs.CRS.from_epsg(4326))
    translate_raster(src, tmp_path / "out.tif", model, tile_size=32)
    with rasterio.open(tmp_path / "out.tif") as s:
        out_gcps, crs = s.gcps
    assert crs.to_epsg() == 4326
    assert [(g.row, g.col, g.x, g.y) for g in out_gcps] == [(g.row, g.col, g.x, g.y) for g in gcps]


def test_an_existing_output_is_replaced_with_its_stale_statistics(tmp_path, model):
    src = write_sar(tmp_path / "s1.tif", 20, 20, descriptions=["VV", "VH"])
    (tmp_path / "out.tif").write_bytes(b"old")
    (tmp_path / "out.tif.aux.xml").write_text("<PAMDataset/>")
    translate_raster(src, tmp_path / "out.tif", model, tile_size=32)
    assert files_in(tmp_path) == ["out.tif", "s1.tif"]
    assert read_out(tmp_path / "out.tif").shape == (3, 20, 20)


def test_gdal_internal_mask_becomes_output_nodata(tmp_path, model):
    """Pixels masked by a per-dataset GDAL mask are nodata in the output, also across a tile edge
    and where the read window is mirrored at the scene's corner. (GDAL honours alpha bands only
    for Byte/UInt16 rasters, not the float32 of calibrated SAR, so the mask is the case here.)"""
    db = sar_db(60, 52, 2, seed=3)
    masked = np.zeros((60, 52), bool)
    masked[20:26, 28:40] = True  # straddles the tile edge at column 32
    masked[55:60, 0:6] = True  # at the scene's corner: mirrored into the halo
    src = write_raster(tmp_path / "masked.tif", db, descriptions=["VV", "VH"],
                       dtype="float32")
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(src, "r+") as dst:
        dst.write_mask(np.where(masked, 0, 255).astype("uint8"))
    translate_raster(src, tmp_path / "out.tif", model, tile_size=32)
    out = read_out(tmp_path / "out.tif")
    assert (out[:, masked] == 0).all() and (out[:, ~masked] >= 1).all()
