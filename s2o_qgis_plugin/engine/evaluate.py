"""PSNR and SSIM of a translated raster against an optical reference, on their common extent.

Both rasters are turned into 8-bit true-colour images the way the paper's scores are usually
computed on Sentinel-2 reflectance x 10000:

    v8 = round(clip(dn / stretch, 0, 1) * 255)                        (stretch: default 3000)

The reference is resampled onto the prediction's pixel grid (rasterio ``WarpedVRT``, bilinear by
default) when the two grids differ; only the window of the prediction that overlaps the
reference is read. A pixel counts when none of its chosen bands is nodata (or masked) in either
raster.

    PSNR = 10 * log10(255**2 / MSE),  MSE = mean over valid pixels and bands of (p8 - r8)**2

which is ``skimage.metrics.peak_signal_noise_ratio(r8, p8, data_range=255)`` on the valid pixels.
Identical images give MSE = 0 and PSNR = +inf (reported as ``inf``, never capped).

SSIM is ``skimage.metrics.structural_similarity(r8, p8, data_range=255, channel_axis=-1,
win_size=7, full=True)``: the local SSIM map, averaged over the pixels whose whole 7 x 7 window is
valid and inside the image (this matches skimage's own mean, which drops a 3-pixel border, when
no pixel is nodata). The raster is processed in strips of rows with a 3-row halo, so memory stays
bounded for scenes of any size and the strip size does not change the result.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds
from scipy.ndimage import binary_erosion
from skimage.metrics import structural_similarity

from . import atomic, raster_io
from .errors import Cancelled, InputError, OutputError
from .metadata import OUTPUT_BANDS
from .radiometry import DEFAULT_STRETCH

DATA_RANGE = 255.0
DEFAULT_BANDS = (1, 2, 3)
SSIM_WIN = 7
SSIM_PAD = SSIM_WIN // 2
STRIP_ROWS = 512
# band descriptions naming red, green, blue: the translated output's, Sentinel-2's band names
RGB_DESCRIPTIONS = (tuple(b.lower() for b in OUTPUT_BANDS), ("b04", "b03", "b02"),
                    ("b4", "b3", "b2"))


@dataclass
class EvaluationResult:
    psnr: float  # dB, +inf for identical images
    ssim: float  # mean SSIM over channels, in [-1, 1]
    mse: float  # in 8-bit units squared
    n_pixels: int  # valid pixels used for PSNR
    n_ssim_pixels: int  # pixels whose full SSIM window is valid
    width: int  # common grid (prediction's pixels that overlap the reference)
    height: int
    bounds: tuple  # (left, bottom, right, top) of the common grid, prediction's CRS
    crs: str
    pred_bands: tuple
    ref_bands: tuple
    stretch: float
    resampled: bool  # the reference was warped onto the prediction's grid
    psnr_per_band: list = field(default_factory=list)
    ssim_per_band: list = field(default_factory=list)


def rgb_bands_by_description(descriptions: Sequence[str | None]) -> tuple | None:
    """1-based (R, G, B) band numbers found by description ("Red"/"Green"/"Blue" or the
    Sentinel-2 names B04/B03/B02), or None when the descriptions do not name them."""
    names = [(d or "").strip().lower() for d in descriptions]
    for triple in RGB_DESCRIPTIONS:
        if all(t in names for t in triple):
            return tuple(names.index(t) + 1 for t in triple)
    return None


def to_8bit(dn: np.ndarray, stretch: float) -> np.ndarray:
    """``round(clip(dn / stretch, 0, 1) * 255)`` as float64 (exact 8-bit values)."""
    return np.round(np.clip(np.asarray(dn, dtype=np.float64) / stretch, 0.0, 1.0) * DATA_RANGE)


def channel_correlation(ref: np.ndarray, pred: np.ndarray, valid: np.ndarray | None = None
                        ) -> float:
    """Mean over channels of the Pearson correlation of ``pred`` with ``ref`` ((H, W, C) each),
    on the ``valid`` pixels: skill beyond the colour level, which PSNR rewards. A channel that
    is constant in either image has no linear skill there and counts 0."""
    mask = np.ones(ref.shape[:2], bool) if valid is None else np.asarray(valid, bool)
    values = []
    for c in range(ref.shape[-1]):
        r = ref[..., c][mask].astype(np.float64)
        p = pred[..., c][mask].astype(np.float64)
        if r.size < 2 or r.std() == 0 or p.std() == 0:
            values.append(0.0)
        else:
            values.append(float(np.corrcoef(r, p)[0, 1]))
    return float(np.mean(values))


def _pick_bands(ds, bands, what: str) -> tuple:
    if bands is None or len(bands) == 0:
        bands = rgb_bands_by_description(ds.descriptions) or DEFAULT_BANDS
    bands = tuple(int(b) for b in bands)
    bad = [b for b in bands if not 1 <= b <= ds.count]
    if bad:
        raise InputError(
            f"{what} has {ds.count} band(s); band(s) {bad} do not exist. "
            f"Choose bands between 1 and {ds.count}"
        )
    return bands


def _common_window(pred, ref) -> Window:
    """The prediction's window (whole pixels) that overlaps the reference's footprint."""
    for ds, what in ((pred, "prediction"), (ref, "reference")):
        if ds.crs is None:
            raise InputError(
                f"the {what} raster {ds.name} has no coordinate reference system, so it cannot "
                "be placed against the other raster: assign one first (Raster > Projections > "
                "Assign Projection)"
            )
    left, bottom, right, top = transform_bounds(ref.crs, pred.crs, *ref.bounds, densify_pts=21)
    pl, pb, pr, pt = pred.bounds
    inter = (max(left, pl), max(bottom, pb), min(right, pr), min(top, pt))
    if inter[0] >= inter[2] or inter[1] >= inter[3]:
        raise InputError(
            f"the prediction {pred.name} and the reference {ref.name} do not overlap: "
            "choose a reference that covers the translated area"
        )
    win = from_bounds(*inter, transform=pred.transform)
    win = win.round_offsets(op="floor").round_lengths(op="ceil")
    full = Window(0, 0, pred.width, pred.height)
    win = win.intersection(full)
    if win.width < 1 or win.height < 1:
        raise InputError(f"the prediction {pred.name} and the reference {ref.name} do not overlap")
    return win


def _same_grid(pred, ref) -> bool:
    return (
        pred.crs == ref.crs
        and pred.transform.almost_equals(ref.transform)
        and (pred.width, pred.height) == (ref.width, ref.height)
    )


def _read(ds, bands, window, stretch):
    """8-bit image (h, w, C) and the validity mask (h, w) of ``bands`` in ``window``."""
    data = ds.read(list(bands), window=window)
    valid = np.all(ds.read_masks(list(bands), window=window) > 0, axis=0)
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.all(np.isfinite(data), axis=0)
    return np.moveaxis(to_8bit(np.nan_to_num(data), stretch), 0, -1), valid


def check_parameters(stretch, pred_bands=None, ref_bands=None) -> None:
    """InputError unless ``stretch`` is positive and the bands chosen for both rasters (None or
    empty: not chosen yet) are as many."""
    if not stretch > 0:
        raise InputError(f"the reflectance stretch must be positive, got {stretch}")
    if pred_bands and ref_bands and len(pred_bands) != len(ref_bands):
        raise InputError(
            f"choose as many prediction bands as reference bands "
            f"(got {len(pred_bands)} and {len(ref_bands)})"
        )


@raster_io.bounded_gdal_cache
def evaluate_rasters(
    pred: str | os.PathLike,
    ref: str | os.PathLike,
    *,
    pred_bands: Sequence[int] | None = DEFAULT_BANDS,
    ref_bands: Sequence[int] | None = DEFAULT_BANDS,
    stretch: float = DEFAULT_STRETCH,
    resampling: Resampling = Resampling.bilinear,
    strip_rows: int = STRIP_ROWS,
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    report: str | os.PathLike | None = None,
) -> EvaluationResult:
    """PSNR and SSIM of ``pred`` (e.g. a translated raster) against ``ref`` (module docstring).

    ``report``: also write the scores as a small HTML page there (OutputError if it cannot be
    written; the page is written whole or not at all).

    ``pred_bands`` / ``ref_bands``: 1-based band numbers in R, G, B order; None or empty picks
    them from the band descriptions (Red/Green/Blue, B04/B03/B02), else 1, 2, 3.
    ``progress`` receives percent 0..100; ``is_cancelled`` returning True raises Cancelled.
    """
    check_parameters(stretch, pred_bands, ref_bands)
    with raster_io.open_raster(pred) as pred_ds, raster_io.open_raster(ref) as ref_ds:
        pbands = _pick_bands(pred_ds, pred_bands, "the prediction")
        rbands = _pick_bands(ref_ds, ref_bands, "the reference")
        check_parameters(stretch, pbands, rbands)
        win = _common_window(pred_ds, ref_ds)
        resampled = not _same_grid(pred_ds, ref_ds)
        if resampled:
            vrt_opts = {} if ref_ds.nodata is not None else {"add_alpha": True}
            ref_src = WarpedVRT(
                ref_ds,
                crs=pred_ds.crs,
                transform=pred_ds.transform,
                width=pred_ds.width,
                height=pred_ds.height,
                resampling=resampling,
                **vrt_opts,
            )
        else:
            ref_src = ref_ds
        try:
            sums = _accumulate(
                pred_ds,
                ref_src,
                pbands,
                rbands,
                win,
                stretch,
                strip_rows,
                progress,
                is_cancelled,
            )
        finally:
            if resampled:
                ref_src.close()
        bounds = rasterio.windows.bounds(win, pred_ds.transform)
        crs = pred_ds.crs.to_string()
    result = _result(sums, win, bounds, crs, pbands, rbands, stretch, resampled)
    if report is not None:
        write_report(result, report, str(pred), str(ref))
    return result


def write_report(result: EvaluationResult, path, pred: str, ref: str) -> None:
    """``report_html`` written to ``path`` atomically (OutputError naming the path)."""
    try:
        atomic.write_text(path, report_html(result, pred, ref))
    except OSError as exc:
        raise OutputError(f"cannot write the evaluation report {path}: {exc}") from exc


def _accumulate(pred, ref, pbands, rbands, win, stretch, strip_rows, progress, is_cancelled):
    """Per-band sums over strips of rows: squared error, SSIM map, pixel counts."""
    n_bands = len(pbands)
    sq_err = np.zeros(n_bands)
    ssim_sum = np.zeros(n_bands)
    n_valid = 0
    n_ssim = 0
    row0, col0 = int(win.row_off), int(win.col_off)
    height, width = int(win.height), int(win.width)
    strip_rows = max(int(strip_rows), 1)
    for top in range(0, height, strip_rows):
        if is_cancelled is not None and is_cancelled():
            raise Cancelled("evaluation cancelled")
        bottom = min(top + strip_rows, height)
        read_top, read_bottom = max(top - SSIM_PAD, 0), min(bottom + SSIM_PAD, height)
        window = Window(col0, row0 + read_top, width, read_bottom - read_top)
        p8, p_valid = _read(pred, pbands, window, stretch)
        r8, r_valid = _read(ref, rbands, window, stretch)
        valid = p_valid & r_valid
        p8[~valid] = 0.0
        r8[~valid] = 0.0
        core = slice(top - read_top, top - read_top + (bottom - top))
        diff = (p8 - r8)[core][valid[core]]
        sq_err += np.sum(diff * diff, axis=0)
        n_valid += int(valid[core].sum())
        if min(valid.shape) >= SSIM_WIN:
            _, smap = structural_similarity(
                r8, p8, data_range=DATA_RANGE, channel_axis=-1, win_size=SSIM_WIN, full=True
            )
            ssim_ok = _ssim_mask(valid)
            ssim_sum += np.sum(smap[core][ssim_ok[core]], axis=0)
            n_ssim += int(ssim_ok[core].sum())
        if progress is not None:
            progress(100.0 * bottom / height)
    return sq_err, ssim_sum, n_valid, n_ssim


def _ssim_mask(valid: np.ndarray) -> np.ndarray:
    """Pixels whose whole SSIM window is valid. Edges of the read strip count as invalid
    (border_value=0): at grid edges that drops a 3-pixel border like skimage's cropped mean; at
    inner strip edges only the halo rows are affected, and those are cropped away."""
    return binary_erosion(valid, structure=np.ones((SSIM_WIN, SSIM_WIN), bool), border_value=0)


def _result(sums, win, bounds, crs, pbands, rbands, stretch, resampled) -> EvaluationResult:
    sq_err, ssim_sum, n_valid, n_ssim = sums
    if n_valid == 0:
        raise InputError(
            "the prediction and the reference share no valid pixel (all nodata on their "
            "common extent)"
        )
    mse_band = sq_err / n_valid
    mse = float(mse_band.mean())

    def psnr(m):
        return math.inf if m == 0 else 10.0 * math.log10(DATA_RANGE**2 / m)

    if n_ssim:
        ssim_band = ssim_sum / n_ssim
        ssim = float(ssim_band.mean())
    else:
        ssim_band, ssim = np.full(len(pbands), np.nan), math.nan
    return EvaluationResult(
        psnr=psnr(mse),
        ssim=ssim,
        mse=mse,
        n_pixels=n_valid,
        n_ssim_pixels=n_ssim,
        width=int(win.width),
        height=int(win.height),
        bounds=tuple(bounds),
        crs=crs,
        pred_bands=pbands,
        ref_bands=rbands,
        stretch=float(stretch),
        resampled=resampled,
        psnr_per_band=[psnr(float(m)) for m in mse_band],
        ssim_per_band=[float(s) for s in ssim_band],
    )


def _fmt(value: float, digits: int) -> str:
    return "inf" if math.isinf(value) else ("n/a" if math.isnan(value) else f"{value:.{digits}f}")


def report_html(result, pred: str, ref: str) -> str:
    """A small self-contained HTML page with the scores and what they were computed on."""
    esc = html.escape
    rows = [
        ("Prediction", esc(pred)),
        ("Reference", esc(ref)),
        ("PSNR (dB)", _fmt(result.psnr, 2)),
        ("SSIM", _fmt(result.ssim, 4)),
        ("MSE (8-bit)", _fmt(result.mse, 2)),
        ("Pixels compared", str(result.n_pixels)),
        ("Common grid", f"{result.width} x {result.height} px, {esc(result.crs)}"),
        ("Extent", ", ".join(f"{v:.6g}" for v in result.bounds)),
        ("Bands (prediction / reference)", f"{result.pred_bands} / {result.ref_bands}"),
        ("8-bit stretch", f"round(clip(value / {result.stretch:g}, 0, 1) * 255)"),
        ("Reference resampled", "yes (bilinear)" if result.resampled else "no (same grid)"),
    ]
    table = "\n".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    per_band = "\n".join(
        f"<tr><td>{i + 1}</td><td>{_fmt(p, 2)}</td><td>{_fmt(s, 4)}</td></tr>"
        for i, (p, s) in enumerate(zip(result.psnr_per_band, result.ssim_per_band, strict=True))
    )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>S2O evaluation</title>
<style>table{{border-collapse:collapse}}th,td{{border:1px solid #999;padding:3px 8px;
text-align:left}}</style></head><body>
<h2>S2O evaluation against the reference</h2>
<table>
{table}
</table>
<h3>Per band</h3>
<table><tr><th>Band</th><th>PSNR (dB)</th><th>SSIM</th></tr>
{per_band}
</table>
</body></html>
"""
