"""s2o:evaluate through QGIS Processing on real Sentinel-2 patches and generated rasters."""

import math

import pytest
from plugin_fixtures import bigearthnet, patch_ids, rgb_4326
from qgis.core import QgsProcessingException, QgsRasterLayer


def run(params):
    import processing

    return processing.run("s2o:evaluate", params)


def test_identical_real_sentinel2_gives_ssim_one(s2o, tmp_path):
    s2 = bigearthnet("s2", tmp_path, patch_ids()[0])
    report = tmp_path / "report.html"
    out = run({"PREDICTION": s2, "REFERENCE": s2, "OUTPUT_HTML_FILE": str(report)})
    assert out["PSNR"] == math.inf
    assert out["SSIM"] == pytest.approx(1.0)
    assert out["N_PIXELS"] == 120 * 120
    text = report.read_text()
    assert "<th>PSNR (dB)</th><td>inf</td>" in text
    assert "<th>SSIM</th><td>1.0000</td>" in text


def test_different_images_and_grids_give_plausible_scores(s2o, tmp_path):
    """Two unrelated generated images (EPSG:4326, nodata block) score poorly; each against
    itself scores SSIM 1."""
    a = rgb_4326(tmp_path / "a.tif", seed=1)
    b = rgb_4326(tmp_path / "b.tif", seed=2)
    out = run({"PREDICTION": a, "REFERENCE": b, "OUTPUT_HTML_FILE": str(tmp_path / "r.html")})
    assert 5.0 < out["PSNR"] < 30.0
    assert -0.5 < out["SSIM"] < 0.5
    assert out["N_PIXELS"] == 67 * 45 - 5 * 6  # the nodata block is left out
    same = run({"PREDICTION": a, "REFERENCE": a, "OUTPUT_HTML_FILE": str(tmp_path / "s.html")})
    assert same["SSIM"] == pytest.approx(1.0)


def test_reference_on_a_larger_grid_is_cut_to_the_common_extent(s2o, tmp_path):
    """A real patch of the 33UUP mosaic against the whole mosaic: same pixels where they meet."""
    mosaic = bigearthnet("s2_mosaic", tmp_path)
    layer = QgsRasterLayer(mosaic, "mosaic", "gdal")
    assert layer.isValid() and layer.width() == 240
    import processing

    clip = processing.run(
        "gdal:cliprasterbyextent",
        {
            "INPUT": mosaic,
            "PROJWIN": "344400,345600,5293200,5294400 [EPSG:32633]",
            "OUTPUT": str(tmp_path / "clip.tif"),
        },
    )["OUTPUT"]
    out = run(
        {"PREDICTION": clip, "REFERENCE": mosaic, "OUTPUT_HTML_FILE": str(tmp_path / "r.html")}
    )
    assert out["N_PIXELS"] == 120 * 120
    assert out["PSNR"] == math.inf


def test_errors_are_explained(s2o, tmp_path):
    ids = patch_ids()
    portugal = bigearthnet("s2", tmp_path, ids[0])
    ireland = bigearthnet("s2", tmp_path, ids[1])
    html = str(tmp_path / "r.html")
    with pytest.raises(QgsProcessingException, match="do not overlap"):
        run({"PREDICTION": portugal, "REFERENCE": ireland, "OUTPUT_HTML_FILE": html})
    with pytest.raises(QgsProcessingException,
                       match=r"as many prediction bands as reference bands \(got 2 and 3\)"):
        run(
            {
                "PREDICTION": portugal,
                "REFERENCE": portugal,
                "PREDICTION_BANDS": [1, 2],
                "REFERENCE_BANDS": [1, 2, 3],
                "OUTPUT_HTML_FILE": html,
            }
        )
    xyz = QgsRasterLayer("type=xyz&url=http://127.0.0.1:9/{z}/{x}/{y}.png", "tiles", "wms")
    assert xyz.isValid()
    with pytest.raises(QgsProcessingException) as err:
        run({"PREDICTION": xyz, "REFERENCE": portugal, "OUTPUT_HTML_FILE": html})
    assert "comes from the 'wms' data provider" in str(err.value)
    assert "save it as a GeoTIFF first" in str(err.value)
