"""Radiometry: Sentinel-1 backscatter to network input, network output to reflectance.

The linear maps below are the numeric side of the metadata contract (see metadata.py); the
training data loaders import them too, so training, export and inference scale identically.

    network input   x  = 2 * (clip(dB, lo, hi) - lo) / (hi - lo) - 1         (per band)
    network output  DN = dlo + (clip(y, a, b) - a) * (dhi - dlo) / (b - a)     (reflectance x 1e4)
    optical target  y  = a + (clip(DN, dlo, dhi) - dlo) * (b - a) / (dhi - dlo) (inverse, training)

Sentinel-1 input scales (sigma0 = radar backscatter coefficient, a power ratio):

    linear     s                      dB = 10 log10(max(s, 1e-5))
    dB         10 log10(s)            dB as is
    amplitude  A = sqrt(s)            dB = 20 log10(max(A, sqrt(1e-5)))

Zero or negative linear/amplitude values (thermal-noise removal can leave them in dark water)
have no logarithm: they are clipped to the floor FLOOR_DB = -50 dB, far below every model's
input range, so they become the darkest network input instead of holes in the output. Pixels
that are the raster's nodata value, NaN or +-inf are nodata (translate.py masks them).

"auto" scale (:func:`decide_input_scale`): band descriptions decide first ("VV_dB",
"Sigma0_VV_db" -> dB; "Amplitude_VV" -> amplitude; "Sigma0_VV", "Intensity_VH" -> linear), then
the values, from windows sampled across the raster (:class:`ValueStats`):

- more than 1 % negative values -> dB, when the 1st..99th percentiles lie within [-50, 20];
- otherwise linear fits when median < 0.5 and p99 <= 3, amplitude when 0.03 < median < 1 and
  p99 <= 2; when both fit, speckle decides: the median coefficient of variation of 5 x 5 blocks
  is about 1/sqrt(ENL) ~ 0.4-0.5 for Sentinel-1 GRD intensity (linear) and about half that for
  amplitude (0.19-0.23 measured on BigEarthNet), so >= 0.29 -> linear, else amplitude. (A
  strongly speckle-filtered linear raster can look like amplitude: the decision and its numbers
  are reported; set the scale explicitly when in doubt.)

A declared scale (explicit, or from the band descriptions) that the values contradict is
refused (InputError naming the values and the scale to set): dB with (almost) no negative value
and a median below 1.5, or percentiles outside [-100, 60]; linear or amplitude with more than
1 % negative values, or a 99th percentile above 50 (uncalibrated digital numbers); linear
read as amplitude and the converse, when two signs agree: the speckle contrast (above) and the
level, the median of the values (below 0.12 for linear sigma0 of Sentinel-1 scenes, 0.03-0.07
on BigEarthNet's VV+VH, and above it for their amplitude, 0.18-0.26). Each sign alone is not
enough: speckle filtering lowers a linear raster's contrast to amplitude's, and bright (urban)
scenes raise its level; both together are what a wrong declaration looks like.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InputError, words
from .metadata import DUAL_POL, VV_ONLY

SCALES = ("linear", "db", "amplitude")
INPUT_SCALES = ("auto", *SCALES)
DEFAULT_INPUT_SCALE = INPUT_SCALES[0]  # "auto": from the raster's tags and values
FLOOR_DB = -50.0
FLOOR_LINEAR = 10 ** (FLOOR_DB / 10)
FLOOR_AMPLITUDE = 10 ** (FLOOR_DB / 20)

DB_RANGE = (-50.0, 20.0)  # where sigma0 in dB lives (1st..99th percentile), for "auto"
DB_PLAUSIBLE = (-100.0, 60.0)  # outside this a declared dB raster is refused
NEGATIVE_FRACTION = 0.01  # more negatives than this: dB, never linear/amplitude
LINEAR_MEDIAN_MAX, LINEAR_P99_MAX = 0.5, 3.0
AMPLITUDE_MEDIAN, AMPLITUDE_P99_MAX = (0.03, 1.0), 2.0
# Network input of nodata pixels, every band: the middle of each band's dB range, a neutral
# backscatter. The low clip value (-1) read as open water and painted a dark band about 20 px wide
# along every nodata edge (swath borders). `python scripts/nodata_edge.py` (the 9 validation
# scenes, an 8 px nodata border, the 24 px beside it): the embedded VV+VH model's output there
# moves 52 DN from its output without the border with 0, 103 DN with -1, 56 with the training
# median.
NODATA_INPUT = 0.0
# The default contract of a trained model (training/config.py's defaults, the exporter writes
# them into the model's metadata, from where the engine reads them): sigma0 in dB clipped to a
# range per band, Sentinel-2 reflectance x 10000 (DN) over DEFAULT_DN_RANGE, both mapped to the
# network's NETWORK_RANGE.
DEFAULT_DB_RANGES = {"VV": (-25.0, 0.0), "VH": (-32.5, 0.0)}
DEFAULT_DN_RANGE = (0.0, 3000.0)
NETWORK_RANGE = (-1.0, 1.0)
# the reflectance x 10000 shown as full brightness: true-colour layers, 8-bit evaluation
DEFAULT_STRETCH = DEFAULT_DN_RANGE[1]
S2_NODATA = 0  # the nodata DN of Sentinel-2 products, and so of the translated output
OUTPUT_NODATA = S2_NODATA
MIN_VALID_DN = 1  # valid output pixels are clipped to at least this: never taken for nodata
DECLARED_DB_MEDIAN_MIN = 1.5  # dB with no negatives and a smaller median: linear/amplitude
POWER_P99_MAX = 50.0  # linear/amplitude above this: uncalibrated DN
CV_BLOCK = 5
CV_MIN_BLOCKS = 8
CV_LINEAR_MIN = 0.29
AMPLITUDE_LEVEL = 0.12  # median of declared linear/amplitude values: below linear, above amplitude


def db_to_network(db: np.ndarray, db_range) -> np.ndarray:
    """Map sigma0 in dB, shape (C, ...) with one (lo, hi) per band, to [-1, 1] (float32)."""
    db = np.asarray(db, dtype=np.float32)
    out = np.empty_like(db)
    for c, (lo, hi) in enumerate(db_range):
        out[c] = 2.0 * (np.clip(db[c], lo, hi) - lo) / (hi - lo) - 1.0
    return out


def network_to_dn(y: np.ndarray, value_range, dn_range) -> np.ndarray:
    """Map network output in value_range to reflectance x 10000 in dn_range (float32)."""
    a, b = value_range
    lo, hi = dn_range
    return (lo + (np.clip(y, a, b) - a) * ((hi - lo) / (b - a))).astype(np.float32)


def network_to_uint16(y: np.ndarray, value_range, dn_range,
                      min_dn: int = MIN_VALID_DN) -> np.ndarray:
    """network_to_dn, rounded to the nearest integer and clipped to [min_dn, 65535], as uint16
    (the output raster's values; MIN_VALID_DN keeps OUTPUT_NODATA free). Computed as one affine
    map y * s + o clipped to [max(dlo, min_dn), min(dhi, 65535)], which is the same map since
    both clip and round are monotonic, in place on one float32 copy (translate's hot path)."""
    a, b = value_range
    lo, hi = dn_range
    s = (hi - lo) / (b - a)
    dn = np.multiply(y, np.float32(s), dtype=np.float32)
    dn += np.float32(lo - a * s)
    np.maximum(dn, np.float32(max(lo, min_dn)), out=dn)
    np.minimum(dn, np.float32(min(hi, np.iinfo(np.uint16).max)), out=dn)
    np.rint(dn, out=dn)
    return dn.astype(np.uint16)


def dn_to_network(dn: np.ndarray, dn_range, value_range=NETWORK_RANGE) -> np.ndarray:
    """Map reflectance x 10000 to the network's output range (the training target)."""
    a, b = value_range
    lo, hi = dn_range
    dn = np.asarray(dn, dtype=np.float32)
    return (a + (np.clip(dn, lo, hi) - lo) * ((b - a) / (hi - lo))).astype(np.float32)


# -- scales -----------------------------------------------------------------------------------
def check_scale_name(scale: str, allowed=INPUT_SCALES) -> str:
    """Normalise a scale name ("dB" -> "db") or raise InputError listing the allowed ones."""
    name = str(scale).strip().lower()
    if name not in allowed:
        raise InputError(f"input scale must be one of {', '.join(allowed)}, got {scale!r}")
    return name


def to_db(arr: np.ndarray, scale: str) -> np.ndarray:
    """sigma0 in ``scale`` ("linear", "db", "amplitude") -> sigma0 in dB (float32), with the
    -50 dB floor for zero/negative linear and amplitude values; NaN stays NaN."""
    arr = np.asarray(arr, dtype=np.float32)
    if scale == "db":
        return arr
    if scale == "linear":
        return (10.0 * np.log10(np.maximum(arr, np.float32(FLOOR_LINEAR)))).astype(np.float32)
    if scale == "amplitude":
        return (20.0 * np.log10(np.maximum(arr, np.float32(FLOOR_AMPLITUDE)))).astype(np.float32)
    raise ValueError(f"unknown scale {scale!r}")


def from_db(db: np.ndarray, scale: str) -> np.ndarray:
    """Inverse of :func:`to_db` (float32): dB -> linear 10^(dB/10) or amplitude 10^(dB/20)."""
    db = np.asarray(db, dtype=np.float32)
    if scale == "db":
        return db
    if scale == "linear":
        return np.power(np.float32(10.0), db / np.float32(10.0)).astype(np.float32)
    if scale == "amplitude":
        return np.power(np.float32(10.0), db / np.float32(20.0)).astype(np.float32)
    raise ValueError(f"unknown scale {scale!r}")


def sar_to_network(arr: np.ndarray, scale: str, db_range) -> np.ndarray:
    """Sentinel-1 bands (C, ...) in ``scale`` -> network input in [-1, 1] (NaN stays NaN)."""
    return db_to_network(to_db(arr, scale), db_range)


# -- the values of a raster ----------------------------------------------------------------------
@dataclass(frozen=True)
class ValueStats:
    """Summary of the valid values of the bands used (NaN marks invalid pixels)."""

    n: int
    negative_fraction: float = 0.0
    median: float = float("nan")
    p1: float = float("nan")
    p99: float = float("nan")
    minimum: float = float("nan")
    maximum: float = float("nan")
    local_cv: float | None = None  # median coefficient of variation of 5 x 5 blocks

    @classmethod
    def from_blocks(cls, blocks: Sequence[np.ndarray]) -> ValueStats:
        """Stats of sample windows, each (C, h, w) float with NaN where invalid."""
        flat = [np.asarray(b, dtype=np.float32).ravel() for b in blocks]
        v = np.concatenate(flat) if flat else np.empty(0, np.float32)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return cls(n=0)
        p1, median, p99 = (float(q) for q in np.percentile(v, [1, 50, 99]))
        return cls(
            n=int(v.size), negative_fraction=float(np.mean(v < 0)), median=median, p1=p1,
            p99=p99, minimum=float(v.min()), maximum=float(v.max()),
            local_cv=_block_cv(blocks),
        )

    def describe(self) -> str:
        return (f"median {self.median:.3g}, 1st-99th percentile {self.p1:.3g} .. {self.p99:.3g}, "
                f"{100 * self.negative_fraction:.1f}% negative")


def _block_cv(blocks) -> float | None:
    """Median std/mean over the 5 x 5 blocks whose pixels are all valid with a positive mean."""
    cvs = []
    k = CV_BLOCK
    for block in blocks:
        block = np.asarray(block, dtype=np.float64)
        c, h, w = block.shape
        if h < k or w < k:
            continue
        tiles = block[:, : h // k * k, : w // k * k].reshape(c, h // k, k, w // k, k)
        tiles = tiles.transpose(0, 1, 3, 2, 4).reshape(-1, k * k)
        tiles = tiles[np.isfinite(tiles).all(axis=1)]
        mean = tiles.mean(axis=1)
        keep = mean > 0
        cvs.append(tiles[keep].std(axis=1) / mean[keep])
    cv = np.concatenate(cvs) if cvs else np.empty(0)
    return float(np.median(cv)) if cv.size >= CV_MIN_BLOCKS else None


@dataclass(frozen=True)
class ScaleDecision:
    """The input scale used and why (shown to the user)."""

    scale: str
    reason: str


_POLARISATION = re.compile(r"(?<![a-z])(vv|vh|hh|hv)(?![a-ce-z])")  # "VV", "Sigma0_VV", "VVdB"
_DESCRIPTION_SCALES = (
    ("db", re.compile(r"(?<![a-z])(?:vv|vh|hh|hv)?(?:db|decibels?)(?![a-z])")),
    ("amplitude", re.compile(r"(?<![a-z])amp(?:litude)?(?![a-z])")),
    ("linear", re.compile(
        r"(?<![a-z])(?:sigma0?|beta0?|gamma0?|intensity|linear|lin|power)(?![a-z])")),
)


def scale_from_descriptions(descriptions: Sequence[str | None]) -> tuple[str | None, str]:
    """(scale, description that says so) from band descriptions, or (None, "") when none does.
    Descriptions that disagree raise InputError."""
    said = {}
    for d in descriptions:
        text = (d or "").lower()
        for scale, pattern in _DESCRIPTION_SCALES:
            if pattern.search(text):
                said.setdefault(scale, d)
                break
    if len(said) > 1:
        listing = ", ".join(f"'{d}' ({s})" for s, d in said.items())
        raise InputError(f"the band descriptions disagree on the input scale: {listing}; "
                         f"{words().set_to('input_scale', *SCALES)}")
    if said:
        ((scale, d),) = said.items()
        return scale, d
    return None, ""


def check_declared_scale(scale: str, stats: ValueStats, source: str) -> None:
    """Refuse (InputError) values that contradict a declared scale (module docstring rules)."""
    if stats.n == 0:
        return
    if scale == "db":
        if stats.negative_fraction < NEGATIVE_FRACTION and stats.median < DECLARED_DB_MEDIAN_MIN:
            raise InputError(
                f"the input is declared dB ({source}) but its values are >= 0 with a median of "
                f"{stats.median:.3g} ({stats.describe()}): that looks like linear sigma0 or "
                f"amplitude; {words().set_to('input_scale', 'linear', 'amplitude', 'auto')}"
            )
        if stats.p1 < DB_PLAUSIBLE[0] or stats.p99 > DB_PLAUSIBLE[1]:
            raise InputError(
                f"the input is declared dB ({source}) but its values ({stats.describe()}) are "
                f"not sigma0 in dB (about -50 .. 20): check the bands, or "
                f"{words().set_to('input_scale')}"
            )
        return
    if stats.negative_fraction > NEGATIVE_FRACTION:
        raise InputError(
            f"the input is declared {scale} ({source}) but {100 * stats.negative_fraction:.1f}% "
            f"of its values are negative (minimum {stats.minimum:.3g}, {stats.describe()}); "
            f"{scale} sigma0 is never negative: if these are dB, "
            f"{words().set_to('input_scale', 'db')}"
        )
    if stats.p99 > POWER_P99_MAX:
        raise InputError(
            f"the input is declared {scale} ({source}) but its 99th percentile is "
            f"{stats.p99:.4g}: calibrated sigma0 stays below a few units; calibrate the product "
            f"(e.g. SNAP Calibration to sigma0) or {words().set_to('input_scale')}"
        )
    other = _other_power_scale(scale, stats)
    if other is not None:
        raise InputError(
            f"the input is declared {scale} ({source}) but its values look like {other}: "
            f"speckle contrast {stats.local_cv:.2f} (linear sigma0 has about 0.4, amplitude "
            f"about 0.2) and a median of {stats.median:.3g} (linear sigma0 is mostly below "
            f"{AMPLITUDE_LEVEL:g}, amplitude above); {words().set_to('input_scale', other)}"
        )


def _other_power_scale(scale: str, s: ValueStats) -> str | None:
    """The scale that values declared ``scale`` (linear or amplitude) really look like, by two
    signs that must agree, speckle contrast and level (module docstring); else None."""
    if s.local_cv is None:
        return None
    looks_linear = s.local_cv >= CV_LINEAR_MIN
    if scale == "linear" and not looks_linear and s.median >= AMPLITUDE_LEVEL:
        return "amplitude"
    if scale == "amplitude" and looks_linear and s.median < AMPLITUDE_LEVEL:
        return "linear"
    return None


def decide_input_scale(stats: ValueStats, requested: str = "auto",
                       descriptions: Sequence[str | None] = ()) -> ScaleDecision:
    """The scale to use for the bands summarised by ``stats`` (module docstring rules)."""
    requested = check_scale_name(requested)
    if requested != "auto":
        option = words().option("input_scale")
        check_declared_scale(requested, stats, option)
        return ScaleDecision(requested, f"{option}, as chosen")
    scale, description = scale_from_descriptions(descriptions)
    if scale is not None:
        source = f"band description '{description}'"
        check_declared_scale(scale, stats, source)
        return ScaleDecision(scale, f"auto: {source}")
    if stats.n == 0:
        return ScaleDecision("db", "auto: no valid pixel to look at (all nodata)")
    return _scale_from_values(stats)


def _scale_from_values(s: ValueStats) -> ScaleDecision:
    values = s.describe()
    if s.negative_fraction > NEGATIVE_FRACTION:
        if DB_RANGE[0] <= s.p1 and s.p99 <= DB_RANGE[1]:
            return ScaleDecision("db", f"auto: values have negatives and lie within "
                                       f"[{DB_RANGE[0]:g}, {DB_RANGE[1]:g}] ({values})")
        raise InputError(
            f"cannot tell the input scale: values have negatives but are not sigma0 in dB "
            f"({values}); check the bands or {words().set_to('input_scale', *SCALES)}"
        )
    fits_linear = s.median < LINEAR_MEDIAN_MAX and s.p99 <= LINEAR_P99_MAX
    fits_amplitude = (AMPLITUDE_MEDIAN[0] < s.median < AMPLITUDE_MEDIAN[1]
                      and s.p99 <= AMPLITUDE_P99_MAX)
    if fits_linear and fits_amplitude:
        if s.local_cv is None:
            raise InputError(
                f"cannot tell linear sigma0 from amplitude on so few pixels ({values}); "
                f"{words().set_to('input_scale', 'linear', 'amplitude')}"
            )
        scale = "linear" if s.local_cv >= CV_LINEAR_MIN else "amplitude"
        sign = ">=" if scale == "linear" else "<"
        return ScaleDecision(scale, (
            f"auto: values >= 0 fit linear and amplitude ({values}); speckle contrast "
            f"{s.local_cv:.2f} {sign} {CV_LINEAR_MIN} -> {scale}"
        ))
    if fits_linear or fits_amplitude:
        scale = "linear" if fits_linear else "amplitude"
        return ScaleDecision(scale, f"auto: values >= 0 fit {scale} only ({values})")
    raise InputError(
        f"cannot tell the input scale: values are >= 0 but fit neither linear sigma0 nor "
        f"amplitude ({values}); calibrate to sigma0 or {words().set_to('input_scale')}"
    )


# -- band choice ---------------------------------------------------------------------------------
HORIZONTAL = ("HH", "HV")  # horizontal-transmit polarisations: no s2o model was trained on them


def _band_listing(descriptions: Sequence[str | None]) -> str:
    return ", ".join(f"{i} '{d}'" if d else f"{i} (no description)"
                     for i, d in enumerate(descriptions, start=1))


def _band_names(descriptions: Sequence[str | None], count: int) -> list[str | None]:
    return list(descriptions)[:count] + [None] * max(0, count - len(descriptions))


def described_polarisations(description: str | None) -> set[str]:
    """The polarisations a band description names, upper case: "Sigma0_VV_db" -> {"VV"}."""
    return {p.upper() for p in _POLARISATION.findall((description or "").lower())}


def _refuse_horizontal(names: list[str | None], pols: list[set[str]], n_needed: int) -> None:
    """InputError for a raster whose bands are described as HH/HV and not as VV/VH."""
    hh = [i for i, s in enumerate(pols, start=1) if s == {"HH"}]
    hv = [i for i, s in enumerate(pols, start=1) if s == {"HV"}]
    example = words().bands_example((hh[:1] + hv[:1])[:n_needed] or [1], DUAL_POL[:n_needed])
    listing = _band_listing(names)
    raise InputError(
        f"the raster's bands are HH/HV polarisation ({listing}), as in Sentinel-1's polar and "
        "sea-ice acquisitions (horizontal transmit); the s2o models were trained on VV/VH "
        "(vertical transmit: VV co-polarisation, VH cross-polarisation), and HH/HV backscatter "
        "differs from VV/VH, so the model would translate it unreliably. Use a VV or VV+VH "
        "product; or, to run anyway with HH in place of VV and HV in place of VH, choose the "
        f"bands yourself ({example})"
    )


def embedded_layout(descriptions: Sequence[str | None], count: int,
                    requested=None) -> tuple[tuple[str, ...], str]:
    """The input bands of the embedded model that fits a raster (metadata.VV_ONLY or DUAL_POL)
    and why, in words for the log.

    Bands chosen by the caller decide by their number (one: VV only). Otherwise the band
    descriptions: a band named VV and one named VH -> VV+VH; VV without VH -> VV only; HH/HV
    without VV -> InputError (:func:`_refuse_horizontal`: no model was trained on them). Without
    any polarisation in the descriptions, one band is VV and more are VV+VH (which
    :func:`choose_bands` then takes in order, or asks to choose).
    """
    if requested is not None:
        try:
            requested = list(requested)
        except TypeError:
            raise InputError(f"bands must be band numbers such as 1,2; got {requested!r}") from None
        if len(requested) == 1:
            return VV_ONLY, f"band {requested[0]} was chosen alone"
        return DUAL_POL, f"bands {', '.join(map(str, requested))} were chosen"
    names = _band_names(descriptions, count)
    pols = [described_polarisations(d) for d in names]
    named = set().union(*pols)
    if "VV" in named:
        if "VH" in named:
            return DUAL_POL, "the band descriptions name VV and VH"
        return VV_ONLY, "the band descriptions name VV and no VH"
    if named & set(HORIZONTAL):
        _refuse_horizontal(names, pols, len(DUAL_POL) if count > 1 else len(VV_ONLY))
    if count == 1:
        return VV_ONLY, "a single band" + (f" described as {'/'.join(sorted(named))}" if named
                                           else ", taken as VV")
    return DUAL_POL, f"{count} bands" + ("" if named else ", none described by polarisation")


def polarisation_notes(descriptions: Sequence[str | None], chosen: Sequence[int],
                       needed: Sequence[str]) -> list[str]:
    """Warnings for bands used as a polarisation their description does not name (bands chosen
    by the caller, e.g. HH used as VV): one line per such band, none when all agree."""
    notes = []
    for want, band in zip(needed, chosen, strict=True):
        description = descriptions[band - 1] if band <= len(descriptions) else None
        named = described_polarisations(description)
        if named and want.upper() not in named:
            notes.append(
                f"band {band} is described as {'/'.join(sorted(named))} ('{description}') but "
                f"is used as {want.upper()}, as chosen"
                + ("; HH/HV backscatter differs from VV/VH, the model was not trained on it"
                   if named & set(HORIZONTAL) else "")
            )
    return notes


def choose_bands(descriptions: Sequence[str | None], count: int, requested=None,
                 needed: Sequence[str] = DUAL_POL) -> list[int]:
    """1-based raster bands feeding the model's input bands ``needed`` (in that order).

    ``requested`` (e.g. [2, 1]) wins when given. Otherwise the band descriptions decide (a band
    whose description names the polarisation, e.g. "VV", "Sigma0_VH_db"); without any
    polarisation in the descriptions, a raster with exactly as many bands as needed is taken in
    order (VV = band 1, VH = band 2). Bands described as HH/HV where VV/VH are needed are refused
    with the reason (no model was trained on them; the bands option overrides). Anything else
    raises InputError naming the bands.
    """
    needed = [str(n).upper() for n in needed]
    n = len(needed)
    names = _band_names(descriptions, count)
    wanted = ", ".join(needed)
    example = words().bands_example(range(1, n + 1), needed)
    if count < n:
        raise InputError(
            f"the model needs {n} bands ({wanted}) but the raster has {count} "
            f"({_band_listing(names)}): use a raster with {wanted}, or a model for "
            f"{'/'.join(needed[:count]) or 'fewer bands'}"
        )
    if requested is not None:
        return _check_requested(requested, count, needed)
    pols = [described_polarisations(d) for d in names]
    found = {p: [i for i, s in enumerate(pols, start=1) if s == {p}] for p in needed}
    if all(len(v) == 1 for v in found.values()):
        return [found[p][0] for p in needed]
    if not any(pols) and count == n:
        return list(range(1, n + 1))
    for p, bands in found.items():
        if len(bands) > 1:
            raise InputError(
                f"bands {', '.join(map(str, bands))} all look like {p} ({_band_listing(names)}): "
                f"choose the bands for {wanted} ({example})"
            )
    if any(pols):
        missing = [p for p, bands in found.items() if not bands]
        if any(s & set(HORIZONTAL) for s in pols) and "VV" in missing:
            _refuse_horizontal(names, pols, n)
        raise InputError(
            f"no band is described as {' or '.join(missing)} ({_band_listing(names)}) and the "
            f"model needs {wanted}: choose the bands ({words().option('bands')}) or use a model "
            "for the "
            "polarisations you have"
        )
    raise InputError(
        f"the raster has {count} bands ({_band_listing(names)}) and the model needs {n} "
        f"({wanted}); the descriptions do not say which is which: choose them ({example})"
    )


def _check_requested(requested, count: int, needed: list[str]) -> list[int]:
    try:
        bands = [int(b) for b in requested]
        ok = all(float(b) == int(b) for b in requested)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"bands must be band numbers such as 1,2; got {requested!r}")
    if len(bands) != len(needed):
        raise InputError(
            f"the model needs {len(needed)} band(s) ({', '.join(needed)}): give "
            f"{len(needed)} band number(s), got {bands}"
        )
    bad = [b for b in bands if not 1 <= b <= count]
    if bad:
        raise InputError(f"band {bad[0]} does not exist: the raster has bands 1..{count}")
    if len(set(bands)) != len(bands):
        raise InputError(f"bands must differ, got {bands}")
    return bands
