"""Errors the engine raises. Each message names the problem and what to do about it; the QGIS
algorithms and the CLI show it to the user as it is."""


class S2OError(Exception):
    """Base class for errors meant for the user."""


class InputError(S2OError):
    """The input raster or a parameter cannot be used (missing, unreadable, wrong bands...)."""


class ModelError(S2OError):
    """The model file cannot be used (not ONNX, not an s2o model, wrong shape...)."""


class OutputError(S2OError):
    """The destination cannot be written."""


class Cancelled(S2OError):  # noqa: N818 (a signal, not a failure)
    """The caller asked to stop; nothing was left at the destination."""
