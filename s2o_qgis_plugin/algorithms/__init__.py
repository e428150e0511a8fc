"""Processing algorithms: one file each; each only maps parameters to one engine call."""


def algorithm_classes():
    """The algorithm classes the provider registers (imported lazily, inside QGIS)."""
    return []
