"""Processing algorithms: one file each; each only maps parameters to one engine call."""


def algorithm_classes():
    """The algorithm classes the provider registers (imported lazily, inside QGIS)."""
    from .despeckle import DespeckleAlgorithm
    from .evaluate import EvaluateAlgorithm
    from .translate import TranslateAlgorithm

    return [TranslateAlgorithm, DespeckleAlgorithm, EvaluateAlgorithm]
