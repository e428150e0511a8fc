"""s2o:despeckle through QGIS Processing on a real Sentinel-1 patch and a generated EPSG:4326
raster with nodata; cancel and bad parameters."""

import numpy as np
import pytest
import rasterio
from plugin_fixtures import SAR_NODATA, bigearthnet, grid, patch_ids, sar_4326
from qgis.core import QgsProcessingException, QgsProcessingFeedback


def despeckle(params, **kwargs):
    import processing

    return processing.run("s2o:despeckle", params, **kwargs)


def local_roughness(img):
    """Mean absolute difference between horizontal neighbours (speckle makes it large)."""
    return float(np.nanmean(np.abs(np.diff(img, axis=1))))


def test_real_sentinel1_vh_is_smoothed_on_the_same_grid(s2o, tmp_path):
    sar = bigearthnet("s1", tmp_path, patch_ids()[0])
    dst = tmp_path / "vh_smooth.tif"
    out = despeckle({"INPUT": sar, "BAND": 2, "OUTPUT": str(dst)})
    assert out["OUTPUT"] == str(dst)
    assert grid(dst) == grid(sar)
    with rasterio.open(sar) as src, rasterio.open(dst) as ds:
        before, after = src.read(2), ds.read(1)
        assert ds.count == 1 and ds.dtypes == ("float32",)
        assert "despeckled (Perona-Malik, 10 it., kappa 2 dB)" in ds.descriptions[0]
    assert local_roughness(after) < 0.5 * local_roughness(before)
    # Perona-Malik in dB keeps the level: the mean changes by far less than the speckle
    assert abs(np.nanmean(after) - np.nanmean(before)) < 0.5


def test_generated_4326_nodata_stays_nodata(s2o, tmp_path):
    sar = sar_4326(tmp_path / "sar.tif")
    dst = tmp_path / "out.tif"
    despeckle({"INPUT": sar, "BAND": 1, "ITERATIONS": 3, "INPUT_SCALE": 2, "OUTPUT": str(dst)})
    assert grid(dst) == grid(sar)
    with rasterio.open(dst) as ds:
        data = ds.read(1)
        assert ds.nodata == SAR_NODATA
    assert (data[:8, :10] == SAR_NODATA).all()
    valid = data[8:, :]
    assert (valid > -40).all() and (valid < 10).all()  # no nodata leaked into valid pixels


def test_cancel_and_bad_parameters(s2o, tmp_path):
    sar = bigearthnet("s1", tmp_path, patch_ids()[0])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda _: feedback.cancel())
    with pytest.raises(QgsProcessingException, match="Cancelled by the user"):
        despeckle(
            {"INPUT": sar, "BAND": 1, "TILE_SIZE": 32, "OUTPUT": str(out_dir / "x.tif")},
            feedback=feedback,
        )
    assert list(out_dir.iterdir()) == []
    dst = str(out_dir / "y.tif")
    cases = [
        ({"TIME_STEP": 0.3}, "time step must be in (0, 0.25] for the explicit scheme to be "
                             "stable (e.g. 0.2), got 0.3"),
        ({"KAPPA": 0}, "kappa must be a positive number (in dB), got 0.0"),
        ({"ITERATIONS": 40, "TILE_SIZE": 32}, "tile size 32 is too small for a 40 px halo"),
        ({"BAND": 3}, "band 3 does not exist: the raster has bands 1..2"),
    ]
    for extra, message in cases:
        with pytest.raises(QgsProcessingException) as err:
            despeckle({"INPUT": sar, "OUTPUT": dst, **extra})
        assert message in str(err.value)
    assert list(out_dir.iterdir()) == []
