"""The Processing provider "s2o"."""

from pathlib import Path

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ._version import PLUGIN_NAME, __version__

ICON_PATH = str(Path(__file__).with_name("icon.svg"))
OUTPUT_RASTER_EXTENSION = "tif"


class S2OProvider(QgsProcessingProvider):
    def id(self):  # noqa: A003 (QGIS API name)
        return "s2o"

    def name(self):
        return PLUGIN_NAME

    def longName(self):  # noqa: N802
        return f"{PLUGIN_NAME} {__version__}"

    def icon(self):
        return QIcon(ICON_PATH)

    def versionInfo(self):  # noqa: N802
        return __version__

    def supportedOutputRasterLayerExtensions(self):  # noqa: N802
        """The engine writes GeoTIFF only."""
        return [OUTPUT_RASTER_EXTENSION]

    def defaultRasterFileExtension(self):  # noqa: N802
        return OUTPUT_RASTER_EXTENSION

    def loadAlgorithms(self):  # noqa: N802
        from .algorithms import algorithm_classes

        for cls in algorithm_classes():
            self.addAlgorithm(cls())
