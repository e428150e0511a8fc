"""Errors the engine raises, and the words they are written in. Each message names the problem and
what to do about it, in the words of the front end that runs the engine (Words, below); the QGIS
algorithms and the CLI show it to the user as it is."""

import signal
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from numbers import Integral


class S2OError(Exception):
    """Base class for errors meant for the user."""


class InputError(S2OError):
    """The input raster or a parameter cannot be used (missing, unreadable, wrong bands...)."""


class ModelError(S2OError):
    """The model file cannot be used (not ONNX, not an s2o model, wrong shape...)."""


class MetadataError(ModelError, ValueError):
    """The model's s2o metadata is missing, lacks a field the engine needs, or breaks the
    contract (engine/metadata.py); the message names the field."""


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


# -- the words of each front end -----------------------------------------------------------------
# The engine's messages point at what the user can change (the input scale, the bands, the model,
# ...). Each front end names those its own way: s2o-translate and Python callers as options
# ("set input scale to db", "bands option, e.g. 1,2"), the QGIS Processing dialog by the labels
# and choice texts it shows ("set Input scale to Decibels (dB)", "VV band 1 and VH band 2").
# This is the one home of both vocabularies: the dialog's parameter labels are taken from DIALOG,
# and a front end runs the engine inside ``speaking(DIALOG)`` so that every message raised or
# logged there is written in its words (CLI is the default).


@dataclass(frozen=True)
class Words:
    """How one front end names the settings the engine's messages point at."""

    labels: Mapping[str, str]  # setting -> its name ("input_scale" -> "Input scale")
    choices: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # engine value -> text
    option_suffix: str = ""  # after a name that stands alone: "input scale" + " option"
    band_pairs: bool = False  # a band example as "VV band 1 and VH band 2", else "bands ... 1,2"
    the_input: str = "the input"  # how a message names the input raster

    def label(self, setting: str) -> str:
        return self.labels[setting]

    def option(self, setting: str) -> str:
        """The setting's name standing alone, e.g. in parentheses: "(model option)"."""
        return self.labels[setting] + self.option_suffix

    def choice(self, setting: str, value) -> str:
        """What the user picks for an engine ``value`` of ``setting`` ("db" -> "Decibels (dB)")."""
        return self.choices.get(setting, {}).get(str(value), str(value))

    def set_to(self, setting: str, *values) -> str:
        """"set input scale to linear or db"; without values, "set input scale"."""
        if not values:
            return f"set {self.labels[setting]}"
        texts = [self.choice(setting, v) for v in values]
        listed = texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"
        return f"set {self.labels[setting]} to {listed}"

    def bands_example(self, bands, needed) -> str:
        """How to choose ``bands`` (1-based) for the model bands ``needed`` (e.g. VV, VH)."""
        if self.band_pairs:
            return " and ".join(f"{self.labels[f'{name.lower()}_band']} {band}"
                                for name, band in zip(needed, bands, strict=True))
        return f"{self.option('bands')}, e.g. {','.join(map(str, bands))}"


CLI = Words(
    labels={"input_scale": "input scale", "bands": "bands", "vv_band": "VV band",
            "vh_band": "VH band", "model": "model", "device": "device", "tile_size": "tile size"},
    option_suffix=" option",
)
DIALOG = Words(
    labels={"input_scale": "Input scale", "bands": "VV band and VH band", "vv_band": "VV band",
            "vh_band": "VH band", "model": "Model", "device": "Device", "tile_size": "Tile size"},
    choices={
        "input_scale": {"auto": "Auto", "linear": "Linear (power)", "db": "Decibels (dB)",
                        "amplitude": "Amplitude"},
        "device": {"auto": "Auto", "cuda": "CUDA GPU", "cpu": "CPU"},
    },
    band_pairs=True,
    the_input="this layer",
)
_words: ContextVar[Words] = ContextVar("s2o_words", default=CLI)


def words() -> Words:
    """The vocabulary of the front end running the engine in this thread (CLI by default)."""
    return _words.get()


@contextmanager
def speaking(vocabulary: Words):
    """Write the engine's messages in ``vocabulary`` while the block runs (this thread)."""
    token = _words.set(vocabulary)
    try:
        yield vocabulary
    finally:
        _words.reset(token)


class Interrupted(KeyboardInterrupt):
    """A termination signal (SIGINT, SIGTERM, SIGHUP) stopped the run; like KeyboardInterrupt
    (Ctrl-C), a BaseException, so no ``except Exception`` on the way swallows it. The temporary
    output is removed on the way out (raster_io.atomic_output)."""

    def __init__(self, signum: int):
        super().__init__(signal_name(signum))
        self.signum = int(signum)


# -- wording shared by the CLI and the QGIS algorithms -------------------------------------------
# Each user-facing message about the failures below is made here, once; the engine raises it,
# the CLI prints it after "s2o-translate: error: ", QGIS shows it in a QgsProcessingException.
MB = 2**20


def signal_name(signum: int) -> str:
    """The name of signal ``signum`` (SIGTERM for 15), or "signal N" where it has none."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def megabytes(n_bytes: float) -> str:
    return f"{n_bytes / MB:,.1f} MB" if n_bytes < 10 * MB else f"{n_bytes / MB:,.0f} MB"


def unexpected_failure(exc: BaseException) -> str:
    return f"unexpected failure ({type(exc).__name__}: {exc}); please report it with this message"


def interrupted(dst, signum: int | None = None) -> str:
    how = "" if signum is None else f" by {signal_name(signum)}"
    return f"interrupted{how}: nothing was written to {dst}"


def cancelled(dst) -> str:
    return f"cancelled: nothing was written to {dst}"


def kept_or_nothing(dst, existed: bool) -> str:
    """What the destination holds after a failed write: its earlier file, or nothing."""
    return f"the earlier {dst} is unchanged" if existed else f"nothing was written to {dst}"


def no_space(folder, mount, needed: int, free: int, dst, existed: bool) -> str:
    on = f"{folder}" if str(mount) == str(folder) else f"{folder} (file system {mount})"
    return (f"no space left on {on}: the output needs up to {megabytes(needed)} (uncompressed; "
            f"usually less once compressed) and {megabytes(free)} were free when it started; "
            f"free some space or write to another folder ({kept_or_nothing(dst, existed)})")


def output_unreadable(dst, detail: str, existed: bool) -> str:
    return (f"the finished output failed its read-back check ({detail}): the storage did not "
            f"keep what was written (full, failing or disconnected?); "
            f"{kept_or_nothing(dst, existed)}")


def write_failed(dst, detail: str, existed: bool) -> str:
    return f"writing the output failed ({detail}); {kept_or_nothing(dst, existed)}"


def output_is_input(dst, the_input=None) -> str:
    """``the_input``: the input raster when ``dst`` is a file behind it (a VRT's source, an
    archive, a link); None when ``dst`` is the input raster itself."""
    if the_input is None:
        return f"the output is the input raster itself ({dst}): choose another file"
    return (f"the output {dst} is a file that the input {the_input} reads (a VRT's source, or "
            "a link or archive behind it): writing it would destroy the input; choose another "
            "file")


def name_too_long(dst, n_bytes: int, limit: int) -> str:
    return (f"the output file name is {n_bytes} bytes long and this file system allows {limit}: "
            f"choose a shorter name than {dst.name[:40]}...")


def complex_input(path, band: int, dtype: str) -> str:
    return (f"band {band} of {path} holds complex values ({dtype}), as a Sentinel-1 SLC product "
            "does; the models take detected, calibrated backscatter (GRD sigma0): make one from "
            "the SLC first (e.g. SNAP: Calibration to sigma0, TOPS Deburst, Multilooking, Terrain "
            "Correction) or use the GRD product of the same acquisition")


def damaged_input(path, detail: str) -> str:
    return (f"cannot read the input {path}: {detail.rstrip('. ')}. The file is damaged or "
            "incomplete (an interrupted download or copy?); check it with `gdalinfo -checksum`, "
            "or get it again")


def tile_too_large(tile: int, smaller: int | None, batch: int) -> str:
    w = words()
    if smaller is None:
        return (f"tile {tile} is too large for the memory available, and no smaller tile works "
                f"with this model: close other programs, or {w.set_to('device', 'cpu')} (a "
                "computer has more memory than its GPU)")
    also = " and batch 1" if batch > 1 else ""
    return (f"tile {tile} too large for the memory available: try {smaller}{also} "
            f"({w.option('tile_size')})")


# -- warnings (logged, the run goes on) ------------------------------------------------------------
def constant_input(value: float) -> str:
    if value == 0:
        return ("warning: every value sampled across the input is 0: an empty raster, or 0 marks "
                "missing data without being declared as nodata (declare it, e.g. "
                "`gdal_edit.py -a_nodata 0 FILE`); the output will be one flat colour")
    return (f"warning: every value sampled across the input is {value:g}: a constant raster "
            "gives one flat colour")


def little_space(folder, needed: int, free: int) -> str:
    return (f"warning: only {megabytes(free)} free in {folder}; the output may need up to "
            f"{megabytes(needed)} (uncompressed; usually less once compressed)")
