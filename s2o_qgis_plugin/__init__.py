"""S2O SAR-to-optical QGIS plugin."""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    """QGIS entry point: import lazily so that importing the package never needs qgis."""
    from .plugin import S2OPlugin

    return S2OPlugin(iface)
