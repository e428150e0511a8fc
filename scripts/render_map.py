"""Render a Sentinel-1 scene beside its S2O translation (and a Sentinel-2 reference) as one PNG.

    python scripts/render_map.py --sar S1.tif [--optical translated.tif | --model M.onnx]
                                 [--reference S2.tif] [--out docs/map.png]

Headless QGIS (QT_QPA_PLATFORM=offscreen): each layer is drawn with QgsMapRendererParallelJob
into a QImage on the SAR layer's extent and CRS, and the panels are put side by side with a
title above each. Without --optical the SAR scene is first translated with the plugin's
Processing algorithm s2o:translate (the model from --model, else the embedded default model).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GDAL_PAM_ENABLED", "NO")  # no .aux.xml statistics beside the inputs

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsContrastEnhancement,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsRasterLayer,
    QgsRasterMinMaxOrigin,
)
from qgis.PyQt.QtCore import QRectF, QSize, Qt  # noqa: E402
from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter  # noqa: E402

from s2o_qgis_plugin.engine.metadata import SENTINEL_CREDIT  # noqa: E402

PANEL_WIDTH = 420
TITLE_HEIGHT = 34
FOOTER_HEIGHT = 24
GAP = 8
CREDIT = SENTINEL_CREDIT
SAR_TITLE = "Sentinel-1 SAR (VV)"
OPTICAL_TITLE = "S2O translation (true colour)"
REFERENCE_TITLE = "Sentinel-2 reference (true colour)"


_APP = []  # the QgsApplication this script started, kept alive for the process


def start_qgis() -> QgsApplication:
    """A QgsApplication for this process (reuses a running one, e.g. under pytest-qgis)."""
    app = QgsApplication.instance()
    if app is None:
        app = QgsApplication([], False)
        app.initQgis()
        _APP.append(app)
    return app


def load_raster(path, name: str) -> QgsRasterLayer:
    layer = QgsRasterLayer(str(path), name, "gdal")
    if not layer.isValid():
        raise SystemExit(f"cannot open {path} as a raster")
    return layer


def style_sar(layer: QgsRasterLayer) -> None:
    """VV (band 1) in grey, stretched between its 2 % and 98 % cumulative values."""
    from qgis.core import QgsSingleBandGrayRenderer

    layer.setRenderer(QgsSingleBandGrayRenderer(layer.dataProvider(), 1))
    layer.setContrastEnhancement(
        QgsContrastEnhancement.StretchToMinimumMaximum, QgsRasterMinMaxOrigin.CumulativeCut
    )


def style_true_colour(layer: QgsRasterLayer) -> None:
    from s2o_qgis_plugin.algorithms.common import apply_true_colour

    apply_true_colour(layer)


def render_layer(layer: QgsRasterLayer, extent, crs, width: int) -> QImage:
    """Draw ``layer`` alone over ``extent`` into a ``width``-pixel-wide image."""
    height = max(1, round(width * extent.height() / extent.width()))
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(crs)
    settings.setExtent(extent)
    settings.setOutputSize(QSize(width, height))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage()


def compose(panels: list[tuple[str, QImage]], footer: str = CREDIT) -> QImage:
    """Panels side by side, each with its title above, and a footer line."""
    width = sum(img.width() for _, img in panels) + GAP * (len(panels) + 1)
    height = max(img.height() for _, img in panels) + TITLE_HEIGHT + FOOTER_HEIGHT + GAP
    canvas = QImage(width, height, QImage.Format_ARGB32)
    canvas.fill(QColor("white"))
    painter = QPainter(canvas)
    title_font = QFont("DejaVu Sans", 12)
    title_font.setBold(True)
    x = GAP
    for title, img in panels:
        painter.setFont(title_font)
        painter.setPen(QColor("black"))
        painter.drawText(QRectF(x, 0, img.width(), TITLE_HEIGHT), Qt.AlignCenter, title)
        painter.drawImage(x, TITLE_HEIGHT, img)
        x += img.width() + GAP
    painter.setFont(QFont("DejaVu Sans", 9))
    painter.setPen(QColor("#555555"))
    painter.drawText(
        QRectF(GAP, height - FOOTER_HEIGHT, width - 2 * GAP, FOOTER_HEIGHT),
        Qt.AlignLeft | Qt.AlignVCenter,
        footer,
    )
    painter.end()
    return canvas


def render_map(sar, optical, out, reference=None, panel_width: int = PANEL_WIDTH) -> Path:
    """Write the side-by-side PNG of ``sar`` | ``optical`` (| ``reference``) to ``out``."""
    start_qgis()
    sar_layer = load_raster(sar, "sar")
    style_sar(sar_layer)
    layers = [(SAR_TITLE, sar_layer)]
    optical_layer = load_raster(optical, "optical")
    style_true_colour(optical_layer)
    layers.append((OPTICAL_TITLE, optical_layer))
    if reference is not None:
        reference_layer = load_raster(reference, "reference")
        style_true_colour(reference_layer)
        layers.append((REFERENCE_TITLE, reference_layer))
    extent, crs = sar_layer.extent(), sar_layer.crs()
    panels = [(title, render_layer(layer, extent, crs, panel_width)) for title, layer in layers]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not compose(panels).save(str(out), "PNG"):
        raise SystemExit(f"could not write {out}")
    return out


def translate_with_processing(sar, out_tif, model=None) -> str:
    """Run s2o:translate in this process (QGIS Python) and return the output path."""
    start_qgis()
    sys.path.insert(0, "/usr/share/qgis/python/plugins")
    import processing
    from processing.core.Processing import Processing

    from s2o_qgis_plugin.provider import S2OProvider

    Processing.initialize()
    registry = QgsApplication.processingRegistry()
    if registry.providerById("s2o") is None:
        registry.addProvider(S2OProvider())
    params = {"INPUT": str(sar), "OUTPUT": str(out_tif)}
    if model:
        params["MODEL"] = str(model)
    return processing.run("s2o:translate", params)["OUTPUT"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sar", required=True, help="Sentinel-1 GeoTIFF (VV first, or VV/VH)")
    parser.add_argument("--optical", help="translated GeoTIFF; default: translate --sar now")
    parser.add_argument("--model", help="s2o .onnx model for the translation (default: embedded)")
    parser.add_argument("--reference", help="Sentinel-2 RGB GeoTIFF shown as a third panel")
    parser.add_argument("--out", default=str(ROOT / "docs" / "map.png"))
    parser.add_argument("--panel-width", type=int, default=PANEL_WIDTH)
    args = parser.parse_args(argv)
    optical = args.optical
    if optical is None:
        tmp = Path(tempfile.mkdtemp(prefix="s2o-render-")) / "translated.tif"
        optical = translate_with_processing(args.sar, tmp, args.model)
    out = render_map(args.sar, optical, args.out, args.reference, args.panel_width)
    print(f"map: {out}")


if __name__ == "__main__":
    main()
