"""What the s2o algorithms share: group, file-source check, engine-error mapping, RGB styling.

Only the engine modules that need nothing beyond numpy (errors, radiometry, tiling, model's
names) are imported here, so the provider loads even when onnxruntime or rasterio are missing;
the algorithms import the engine's entry points inside processAlgorithm, after ``deps.require``.
"""

from __future__ import annotations

import contextlib
import os

from osgeo import gdal
from qgis.core import (
    QgsContrastEnhancement,
    QgsMultiBandColorRenderer,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterNumber,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QCoreApplication

from .. import deps
from ..engine import radiometry
from ..engine.errors import Cancelled, Interrupted, S2OError, interrupted, unexpected_failure

GROUP = "SAR to optical"
GROUP_ID = "sar_to_optical"
GDAL_PROVIDER = "gdal"
# Sentinel-1 input scales as (engine value, label); an enum parameter's index is the position
INPUT_SCALES = list(zip(radiometry.INPUT_SCALES, (
    "Auto (band metadata, else value range)",
    "Linear sigma0 (power)",
    "Decibels (dB)",
    "Amplitude (square root of sigma0)",
), strict=True))
RGB_STRETCH = (0.0, 3000.0)  # reflectance x 10000 shown as full brightness (true colour)
SAVE_AS_HINT = (
    "save it as a GeoTIFF first (Raster > Conversion > Translate, or right-click the layer > "
    "Export > Save As...) and run the algorithm on that file"
)


class S2OAlgorithm(QgsProcessingAlgorithm):
    """What every s2o algorithm shares: group, help, translation, icon, fresh instances.
    Subclasses set NAME, DISPLAY_NAME and HELP."""

    NAME = DISPLAY_NAME = HELP = ""

    def name(self):
        return self.NAME

    def displayName(self):  # noqa: N802
        return self.tr(self.DISPLAY_NAME)

    def group(self):
        return self.tr(GROUP)

    def groupId(self):  # noqa: N802
        return GROUP_ID

    def shortHelpString(self):  # noqa: N802
        return self.tr(self.HELP)

    def tr(self, text):
        return QCoreApplication.translate("S2O", text)

    def createInstance(self):  # noqa: N802
        return type(self)()


def tile_size_parameter(name, label, default, minimum, maximum, *, advanced=False):
    """An integer tile-size parameter (pixels), optionally in the dialog's advanced section."""
    param = QgsProcessingParameterNumber(
        name,
        label,
        QgsProcessingParameterNumber.Integer,
        defaultValue=default,
        minValue=minimum,
        maxValue=maximum,
    )
    if advanced:
        param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return param


def gdal_file_source(layer: QgsRasterLayer, what: str = "input") -> str:
    """The GDAL data source of ``layer``; QgsProcessingException for layers that only QGIS can
    draw (web services such as WMS/XYZ, memory or virtual rasters) or that GDAL cannot open."""
    if layer is None:
        raise QgsProcessingException(f"The {what} layer is missing or not a raster layer.")
    if layer.providerType() != GDAL_PROVIDER:
        raise QgsProcessingException(
            f"The {what} layer '{layer.name()}' comes from the '{layer.providerType()}' data "
            f"provider (a web service, memory or virtual raster), which the s2o engine cannot "
            f"read tile by tile: {SAVE_AS_HINT}."
        )
    source = layer.source()
    with _gdal_quiet():
        opened = gdal.OpenEx(source, gdal.OF_RASTER)
    if opened is None:
        raise QgsProcessingException(
            f"GDAL cannot open the {what} layer '{layer.name()}' ({source}) as a file: "
            f"{SAVE_AS_HINT}."
        )
    return source


@contextlib.contextmanager
def _gdal_quiet():
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        yield
    finally:
        gdal.PopErrorHandler()


@contextlib.contextmanager
def engine_errors(destination: str = "the destination"):
    """Turn missing dependencies, engine errors, termination signals (qgis_process) and bugs
    into QgsProcessingException with the engine's text, never a raw traceback."""
    try:
        yield
    except QgsProcessingException:
        raise
    except deps.MissingDependencyError as exc:
        raise QgsProcessingException(f"S2O cannot run: {exc}") from exc
    except Cancelled as exc:
        raise QgsProcessingException(
            "Cancelled by the user: nothing was written to the destination."
        ) from exc
    except S2OError as exc:
        raise QgsProcessingException(str(exc)) from exc
    except Interrupted as exc:
        raise QgsProcessingException(interrupted(destination, exc.signum)) from exc
    except Exception as exc:  # a bug: said as one, with what to report
        raise QgsProcessingException(unexpected_failure(exc)) from exc


def engine_callbacks(feedback) -> dict:
    """progress (percent) and is_cancelled callbacks bound to a QgsProcessingFeedback."""
    return {"progress": feedback.setProgress, "is_cancelled": feedback.isCanceled}


def output_path(path: str) -> str:
    """Absolute destination path; its folder must exist (QGIS creates temporary folders)."""
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise QgsProcessingException(f"The output folder {folder} does not exist.")
    return path


def apply_true_colour(layer: QgsRasterLayer, stretch=RGB_STRETCH) -> None:
    """Render bands 1, 2, 3 as red, green, blue, each stretched linearly over ``stretch``."""
    provider = layer.dataProvider()
    renderer = QgsMultiBandColorRenderer(provider, 1, 2, 3)
    lo, hi = stretch
    for band, setter in (
        (1, renderer.setRedContrastEnhancement),
        (2, renderer.setGreenContrastEnhancement),
        (3, renderer.setBlueContrastEnhancement),
    ):
        enhancement = QgsContrastEnhancement(provider.dataType(band))
        enhancement.setMinimumValue(lo)
        enhancement.setMaximumValue(hi)
        enhancement.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
        setter(enhancement)
    layer.setRenderer(renderer)
    layer.triggerRepaint()


class TrueColourStyle(QgsProcessingLayerPostProcessorInterface):
    """Styles a translated layer as true colour once Processing has loaded it into the map."""

    # QGIS calls the post-processor after processAlgorithm returned; keep the Python objects
    # alive until then (one per destination, replaced when the destination is reused).
    _alive: dict = {}

    def __init__(self, stretch=RGB_STRETCH):
        super().__init__()
        self.stretch = stretch

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API name)
        if isinstance(layer, QgsRasterLayer) and layer.bandCount() >= 3:
            apply_true_colour(layer, self.stretch)

    @classmethod
    def attach(cls, context, destination: str, stretch=RGB_STRETCH) -> None:
        """Set the style on ``destination`` when the run loads it into the project."""
        if context.willLoadLayerOnCompletion(destination):
            style = cls(stretch)
            cls._alive[destination] = style
            context.layerToLoadOnCompletionDetails(destination).setPostProcessor(style)
