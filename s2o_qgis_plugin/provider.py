"""The Processing provider "s2o"."""

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .__about__ import __icon_path__, __title__, __version__

OUTPUT_RASTER_EXTENSION = "tif"


class S2OProvider(QgsProcessingProvider):
    ID = "s2o"  # algorithms are s2o:translate, s2o:despeckle, s2o:evaluate

    def id(self):  # noqa: A003 (QGIS API name)
        return self.ID

    def name(self):
        return __title__

    def longName(self):  # noqa: N802
        return f"{__title__} {__version__}"

    def icon(self):
        return QIcon(str(__icon_path__))

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
