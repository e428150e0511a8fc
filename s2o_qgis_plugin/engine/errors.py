"""Errors the engine raises. Each message names the problem and what to do about it; the QGIS
algorithms and the CLI show it to the user as it is."""

from numbers import Integral


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


def whole_number(value, name: str, low: int = 1, high: int | None = None) -> int:
    """``value`` as an int when it is a whole number (numpy's too, not a bool) in low..high;
    otherwise InputError naming ``name`` and the range."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low or (
            high is not None and value > high):
        allowed = (f"a whole number in {low}..{high}" if high is not None
                   else "a positive whole number" if low == 1 else f"a whole number >= {low}")
        raise InputError(f"{name} must be {allowed}, got {value!r}")
    return int(value)
