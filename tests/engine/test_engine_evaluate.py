"""PSNR/SSIM of a prediction raster against a reference (engine/evaluate.py), on small GeoTIFFs."""

import math

import numpy as np
import pytest
from rasterio.transform import from_origin
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from s2o_qgis_plugin.engine.errors import Cancelled, InputError, OutputError
from s2o_qgis_plugin.engine.evaluate import evaluate_rasters, rgb_bands_by_description, to_8bit
from tests.engine.fixtures import write_raster

UTM = "EPSG:32633"
ORIGIN = (500000.0, 6000000.0)


def write(path, data, *, crs=UTM, origin=ORIGIN, res=10.0, nodata=None, descriptions=None):
    """A north-up GeoTIFF of ``data`` (bands, rows, cols) with its origin and pixel size."""
    transform = from_origin(origin[0], origin[1], res, res)
    return str(write_raster(path, data, crs=crs, transform=transform, nodata=nodata,
                            descriptions=descriptions))


def scene(seed=0, shape=(3, 40, 50), hi=3000):
    return np.random.default_rng(seed).integers(0, hi, shape).astype("uint16")


def test_identical_images_give_infinite_psnr_and_ssim_one(tmp_path):
    a = write(tmp_path / "a.tif", scene())
    res = evaluate_rasters(a, a)
    assert res.psnr == math.inf
    assert res.ssim == pytest.approx(1.0)
    assert res.n_pixels == 40 * 50
    assert (res.width, res.height) == (50, 40)
    assert not res.resampled


def test_known_error_gives_known_psnr(tmp_path):
    """stretch=255 makes 8-bit values equal the DN; +-10 everywhere gives MSE 100."""
    ref = np.full((3, 30, 30), 100, "uint16")
    sign = np.where(np.indices((30, 30)).sum(0) % 2 == 0, 10, -10)
    pred = (ref.astype(int) + sign).astype("uint16")
    res = evaluate_rasters(
        write(tmp_path / "p.tif", pred), write(tmp_path / "r.tif", ref), stretch=255
    )
    assert res.mse == pytest.approx(100.0)
    assert res.psnr == pytest.approx(10 * math.log10(255**2 / 100))  # 28.13 dB
    assert res.psnr_per_band == pytest.approx([res.psnr] * 3)


def test_matches_skimage_on_whole_valid_image_and_is_strip_independent(tmp_path):
    ref, pred = scene(1), scene(2)
    p, r = write(tmp_path / "p.tif", pred), write(tmp_path / "r.tif", ref)
    p8, r8 = (np.moveaxis(to_8bit(x, 3000.0), 0, -1) for x in (pred, ref))
    expected_ssim = structural_similarity(r8, p8, data_range=255, channel_axis=-1, win_size=7)
    expected_psnr = peak_signal_noise_ratio(r8, p8, data_range=255)
    for strip_rows in (512, 9, 1):
        res = evaluate_rasters(p, r, strip_rows=strip_rows)
        assert res.ssim == pytest.approx(expected_ssim, abs=1e-12)
        assert res.psnr == pytest.approx(expected_psnr, abs=1e-12)
    assert res.n_ssim_pixels == (40 - 6) * (50 - 6)


def test_nodata_pixels_are_excluded(tmp_path):
    ref = np.full((3, 30, 30), 1000, "uint16")
    pred = ref.copy()
    pred[:, :10, :] = 0  # nodata in the prediction: would be a huge error if counted
    ref[:, :, -5:] = 65535  # nodata in the reference
    res = evaluate_rasters(
        write(tmp_path / "p.tif", pred, nodata=0), write(tmp_path / "r.tif", ref, nodata=65535)
    )
    assert res.n_pixels == 20 * 25
    assert res.psnr == math.inf
    assert res.ssim == pytest.approx(1.0)
    # SSIM windows touching nodata are dropped too: 7x7 windows fully inside the valid block.
    assert res.n_ssim_pixels == (20 - 6) * (25 - 6)


def test_offset_grids_use_the_common_extent(tmp_path):
    """The reference is the same scene shifted by (5, 3) pixels: on the overlap they agree."""
    big = scene(3, (3, 60, 60))
    pred = big[:, :40, :50]
    ref = big[:, 3:, 5:]  # starts 3 rows down, 5 columns right
    p = write(tmp_path / "p.tif", pred)
    r = write(tmp_path / "r.tif", ref, origin=(ORIGIN[0] + 50, ORIGIN[1] - 30))
    res = evaluate_rasters(p, r)
    assert res.resampled
    assert (res.width, res.height) == (45, 37)
    assert res.n_pixels == 45 * 37
    assert res.bounds == pytest.approx(
        (ORIGIN[0] + 50, ORIGIN[1] - 400, ORIGIN[0] + 500, ORIGIN[1] - 30)
    )
    assert res.psnr == math.inf
    assert res.ssim == pytest.approx(1.0)


def test_reference_in_another_crs_is_reprojected(tmp_path):
    """Same scene, reference in EPSG:4326 at a finer grid: close but not identical."""
    smooth = np.repeat(np.repeat(scene(4, (3, 10, 12)), 4, axis=1), 4, axis=2)  # 40 x 48
    p = write(tmp_path / "p.tif", smooth, crs="EPSG:4326", origin=(10.0, 50.0), res=0.001)
    fine = np.repeat(np.repeat(smooth, 2, axis=1), 2, axis=2)
    r = write(tmp_path / "r.tif", fine, crs="EPSG:4326", origin=(10.0, 50.0), res=0.0005)
    res = evaluate_rasters(p, r)
    assert res.resampled
    assert res.psnr > 20
    assert 0.5 < res.ssim <= 1.0


def test_bands_by_description_and_explicit(tmp_path):
    assert rgb_bands_by_description(["B02", "B03", "B04", "B08"]) == (3, 2, 1)
    assert rgb_bands_by_description(["Red", "Green", "Blue"]) == (1, 2, 3)
    assert rgb_bands_by_description(["VV", "VH"]) is None
    s2 = scene(5, (4, 20, 20))
    ref = write(tmp_path / "s2.tif", s2, descriptions=["B02", "B03", "B04", "B08"])
    pred = write(tmp_path / "rgb.tif", s2[[2, 1, 0]], descriptions=["Red", "Green", "Blue"])
    res = evaluate_rasters(pred, ref, pred_bands=None, ref_bands=None)
    assert res.ref_bands == (3, 2, 1)
    assert res.psnr == math.inf
    res = evaluate_rasters(pred, ref, pred_bands=(1,), ref_bands=(3,))
    assert res.psnr == math.inf and len(res.psnr_per_band) == 1


def test_errors_name_the_problem(tmp_path):
    a = write(tmp_path / "a.tif", scene())
    far = write(tmp_path / "far.tif", scene(), origin=(900000.0, 6000000.0))
    with pytest.raises(InputError, match="do not overlap"):
        evaluate_rasters(a, far)
    nocrs = write(tmp_path / "nocrs.tif", scene(), crs=None)
    with pytest.raises(InputError, match="no coordinate reference system"):
        evaluate_rasters(nocrs, a)
    with pytest.raises(InputError, match=r"band\(s\) \[4\] do not exist"):
        evaluate_rasters(a, a, pred_bands=(4, 2, 1))
    with pytest.raises(InputError, match="as many prediction bands"):
        evaluate_rasters(a, a, pred_bands=(1, 2))
    with pytest.raises(InputError, match="stretch must be positive"):
        evaluate_rasters(a, a, stretch=0)
    with pytest.raises(InputError, match=r"input raster not found: .*missing.tif"):
        evaluate_rasters(a, str(tmp_path / "missing.tif"))


def test_progress_and_cancel(tmp_path):
    a = write(tmp_path / "a.tif", scene())
    seen = []
    evaluate_rasters(a, a, strip_rows=10, progress=seen.append)
    assert seen == [25.0, 50.0, 75.0, 100.0]
    with pytest.raises(Cancelled):
        evaluate_rasters(
            a, a, strip_rows=10, is_cancelled=lambda: len(seen) > 4, progress=seen.append
        )


def test_html_report_holds_the_scores_and_an_unwritable_path_is_an_output_error(tmp_path):
    a = write(tmp_path / "a.tif", scene(1))
    b = write(tmp_path / "b.tif", scene(2))
    report = tmp_path / "report.html"
    res = evaluate_rasters(a, b, report=str(report))
    page = report.read_text()
    assert f"<th>PSNR (dB)</th><td>{res.psnr:.2f}</td>" in page
    assert f"<th>SSIM</th><td>{res.ssim:.4f}</td>" in page and "a.tif" in page
    with pytest.raises(OutputError, match="cannot write the evaluation report .*nope"):
        evaluate_rasters(a, b, report=str(tmp_path / "nope" / "report.html"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "b.tif", "report.html"]
