"""Perona-Malik despeckling: the scheme's properties, and the streamed raster version (exactly
equal to the whole-image computation, georeferenced, nodata kept, atomic)."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy.ndimage import gaussian_filter

from s2o_qgis_plugin.engine.despeckle import despeckle_raster, perona_malik
from s2o_qgis_plugin.engine.errors import Cancelled, InputError, OutputError
from s2o_qgis_plugin.engine.radiometry import from_db, to_db
from tests.engine.fixtures import db_as, sar_db, write_raster


def read1(path):
    with rasterio.open(path) as s:
        return s.read(1)


# -- the scheme ---------------------------------------------------------------------------------
def test_constant_image_stays_constant():
    img = np.full((17, 23), -12.5, np.float32)
    out = perona_malik(img, 25, 5.0, 0.25)
    assert out.dtype == np.float32 and (out == img).all()


def test_mass_is_conserved_with_reflecting_boundaries():
    img = np.random.default_rng(0).normal(-10, 4, (40, 31))
    out = perona_malik(img, 50, 3.0, 0.25)
    assert out.dtype == np.float64
    assert abs(out.sum() - img.sum()) < 1e-9 * np.abs(img).sum()
    assert out.std() < 0.5 * img.std()


def test_maximum_principle_and_zero_iterations():
    img = np.random.default_rng(1).uniform(-20, 0, (30, 30))
    out = perona_malik(img, 30, 2.0, 0.25)
    assert out.min() >= img.min() and out.max() <= img.max()
    assert (perona_malik(img, 0) == img).all()


def test_noisy_step_edge_is_smoothed_but_kept_sharper_than_by_a_gaussian():
    rng = np.random.default_rng(2)
    clean = np.zeros((64, 64))
    clean[:, 32:] = 10.0  # a 10 dB land/water edge under Sentinel-1 GRD speckle (ENL 4.4)
    noisy = clean + 10 * np.log10(rng.gamma(4.4, 1 / 4.4, clean.shape))
    pm = perona_malik(noisy)  # the defaults: 10 iterations, kappa 2 dB, time step 0.2
    flat = (slice(None), slice(4, 24))  # far from the edge
    assert noisy[flat].std() > 2.0 and pm[flat].std() < 0.3 * noisy[flat].std()
    # the Gaussian blur that removes as much noise in the flat region
    sigma = min(np.arange(0.3, 4, 0.05),
                key=lambda s: abs(gaussian_filter(noisy, s)[flat].std() - pm[flat].std()))
    gauss = gaussian_filter(noisy, sigma)
    assert abs(gauss[flat].std() - pm[flat].std()) < 0.05

    def contrast(u):  # step height across the edge, next to it
        return u[:, 32].mean() - u[:, 31].mean()

    assert contrast(pm) > 0.85 * 10 and contrast(pm) > 2 * contrast(gauss)


def test_nodata_does_not_leak_into_valid_pixels():
    img = np.random.default_rng(3).uniform(-15, -5, (20, 20))
    valid = np.ones_like(img, bool)
    valid[8:12, 8:12] = False
    img[~valid] = -9999.0
    out = perona_malik(img, 20, 5.0, 0.25, valid)
    assert (out[~valid] == -9999.0).all()
    assert out[valid].min() >= -15 and out[valid].max() <= -5


@pytest.mark.parametrize("kwargs,msg", [
    (dict(time_step=0.3), "time step must be in (0, 0.25]"),
    (dict(time_step=0), "time step must be in (0, 0.25]"),
    (dict(kappa=0), "kappa must be a positive number"),
    (dict(iterations=-1), "iterations must be a whole number"),
    (dict(iterations=2.5), "iterations must be a whole number"),
])
def test_parameters_are_checked(kwargs, msg):
    with pytest.raises(InputError) as err:
        perona_malik(np.zeros((4, 4)), **kwargs)
    assert msg in str(err.value)


# -- the raster version ---------------------------------------------------------------------------
@pytest.mark.parametrize("crs", ["EPSG:32633", "EPSG:4326"])
def test_tiled_despeckling_equals_the_whole_image_exactly(tmp_path, crs):
    db = sar_db(90, 70, 1, seed=4)
    db[0, 40:43, 10:14] = -9999.0
    src = write_raster(tmp_path / "s1.tif", db, crs=crs, nodata=-9999.0, descriptions=["VV"])
    whole = despeckle_raster(src, tmp_path / "whole.tif", iterations=8, tile_size=1024)
    tiled = despeckle_raster(src, tmp_path / "tiled.tif", iterations=8, tile_size=16)
    assert (whole.tiles, tiled.tiles) == (1, 6 * 5)
    a, b = read1(tmp_path / "whole.tif"), read1(tmp_path / "tiled.tif")
    assert np.array_equal(a, b)
    valid = db[0] != -9999.0
    direct = perona_malik(db[0], 8, 2.0, 0.2, valid)
    assert np.array_equal(a[valid], direct[valid])
    assert (a[~valid] == -9999.0).all()
    with rasterio.open(src) as s, rasterio.open(tmp_path / "tiled.tif") as o:
        assert (o.crs, o.transform, o.shape) == (s.crs, s.transform, s.shape)
        assert o.count == 1 and o.dtypes == ("float32",) and o.nodata == -9999.0
        assert o.descriptions[0].startswith("VV despeckled (Perona-Malik, 8 it., kappa 2 dB)")


def test_linear_input_is_diffused_in_db_and_returned_linear(tmp_path):
    db = sar_db(40, 40, 2, seed=5)
    src = write_raster(tmp_path / "lin.tif", db_as(db, "linear"))
    res = despeckle_raster(src, tmp_path / "out.tif", band=2, input_scale="linear", iterations=5)
    assert res.input_scale == "linear" and res.band == 2
    expected = from_db(perona_malik(to_db(db_as(db, "linear")[1], "linear"), 5, 2.0, 0.2),
                       "linear")
    out = read1(tmp_path / "out.tif")
    assert np.allclose(out, expected, rtol=1e-5)
    assert np.isnan(rasterio.open(tmp_path / "out.tif").nodata)
    # the speckle is reduced: lower coefficient of variation in the land area
    land = (slice(0, 15), slice(25, 40))
    cv = lambda a: a[land].std() / a[land].mean()  # noqa: E731
    assert cv(out) < 0.6 * cv(db_as(db, "linear")[1])


def test_auto_scale_and_contradictions(tmp_path):
    src = write_raster(tmp_path / "lin.tif", db_as(sar_db(60, 60, 1), "linear"))
    said = []
    res = despeckle_raster(src, tmp_path / "a.tif", input_scale="auto", log=said.append)
    assert res.input_scale == "linear"
    assert "input scale: linear" in said[0]
    with pytest.raises(InputError, match="declared dB"):
        despeckle_raster(src, tmp_path / "b.tif")  # the default scale is dB
    assert not (tmp_path / "b.tif").exists()


def test_progress_cancel_and_refusals_leave_nothing(tmp_path):
    src = write_raster(tmp_path / "s1.tif", sar_db(40, 40, 1))
    seen = []
    despeckle_raster(src, tmp_path / "ok.tif", tile_size=16, progress=seen.append)
    assert seen[-1] == 100 and seen == sorted(seen) and len(seen) == 9
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(Cancelled):
        despeckle_raster(src, tmp_path / "c.tif", tile_size=16, is_cancelled=lambda: len(seen) > 10,
                         progress=seen.append)
    with pytest.raises(InputError, match="band 3 does not exist"):
        despeckle_raster(src, tmp_path / "d.tif", band=3)
    with pytest.raises(OutputError, match="the output is the input raster itself"):
        despeckle_raster(src, src)
    with pytest.raises(InputError, match="input raster not found"):
        despeckle_raster(tmp_path / "none.tif", tmp_path / "e.tif")
    with pytest.raises(InputError, match="tile size 4 is too small"):
        despeckle_raster(src, tmp_path / "f.tif", tile_size=4, iterations=10)
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == before
