"""translate_raster reports a percentage as soon as the first tile is computed (a QGIS progress
bar stays a busy indicator until the first percentage above 0 arrives)."""

from s2o_qgis_plugin.engine.translate import translate_raster
from tests.engine.fixtures import make_model, write_sar


def test_a_percentage_after_the_first_tile_before_the_second(tmp_path):
    model = make_model(tmp_path / "tiny.onnx")
    src = write_sar(tmp_path / "s1.tif", 64, 96, descriptions=["VV", "VH"])
    events = []
    translate_raster(src, tmp_path / "out.tif", model, tile_size=32, progress=events.append,
                     is_cancelled=lambda: events.append("next tile") or False)
    start = events.index(0.0)  # before it, the checks before the first tile may poll too
    assert events[start:start + 4] == [0.0, "next tile", 100.0 / 6, "next tile"]
    percents = [e for e in events if e != "next tile"]
    assert percents == [0.0, *(100.0 * k / 6 for k in range(1, 6)), 100.0]
