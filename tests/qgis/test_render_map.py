"""scripts/render_map.py draws real layers side by side into a PNG, headless."""

from plugin_fixtures import bigearthnet
from qgis.PyQt.QtGui import QImage

from scripts.render_map import GAP, TITLE_HEIGHT, render_map


def distinct_colours(image: QImage, x0: int, width: int, y: int) -> int:
    return len({image.pixel(x, y) for x in range(x0, x0 + width)})


def test_three_panels_of_real_rasters(qgis_app, tmp_path):
    sar = bigearthnet("s1_mosaic", tmp_path)
    s2 = bigearthnet("s2_mosaic", tmp_path)
    out = render_map(sar, s2, tmp_path / "map.png", reference=s2, panel_width=120)
    image = QImage(str(out))
    assert image.width() == 3 * 120 + 4 * GAP
    panel_height = round(120 * 360 / 240)  # the 240 x 360 px mosaic keeps its aspect
    assert image.height() >= TITLE_HEIGHT + panel_height
    row = TITLE_HEIGHT + panel_height // 2
    for k in range(3):  # each panel is drawn (many colours), not left white
        assert distinct_colours(image, GAP + k * (120 + GAP), 120, row) > 20
    sar_pixel = image.pixelColor(GAP + 60, row)
    assert sar_pixel.red() == sar_pixel.green() == sar_pixel.blue()  # VV in grey
    optical_pixel = image.pixelColor(2 * GAP + 120 + 60, row)
    assert len({optical_pixel.red(), optical_pixel.green(), optical_pixel.blue()}) > 1
