"""QGIS glue: register and unregister the Processing provider."""

from qgis.core import QgsApplication

from .provider import S2OProvider


class S2OPlugin:
    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 (QGIS API name; qgis_process calls it)
        if self.provider is None:
            self.provider = S2OProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
