"""Raster input/output for the engine: opening with clear errors, windowed reads with mirror
reflection beyond the scene, nodata masks, output profiles and atomic outputs.

Every read here is windowed: a scene is never loaded whole, whatever its size.

Output GeoTIFF (translation): 3 bands uint16 "Red", "Green", "Blue" (colour interpretation
red/green/blue), Sentinel-2-like reflectance x 10000, internally tiled 256 x 256, BIGTIFF=IF_SAFER,
the input's CRS and transform (or its GCPs). Compression: ZSTD level 1 with the horizontal
predictor when this GDAL has ZSTD (GDAL >= 2.3, QGIS >= 3.4 read it), else DEFLATE. GDAL
compresses the blocks when it flushes them, mostly when the file is closed after the last tile,
so compression time adds to the run: on this project's test output ZSTD-1 took 0.08 s where
DEFLATE-6 took 0.58 s for 2048 x 2048 px, for files of the same size. Blocks are compressed on
all CPU cores (NUM_THREADS=ALL_CPUS).
Nodata is 0, the nodata value of Sentinel-2 L2A products themselves: valid pixels are clipped to
at least 1 (1e-4 reflectance, invisible), so a dark valid pixel never turns into a hole.

Atomic output: the file is written as ``.<name>.s2o-tmp-<pid>.tif`` beside the destination and
renamed over it (os.replace) only on success; on any exception, Cancelled or KeyboardInterrupt
the temporary file is removed, so the destination holds either the old file or the complete
new one, never a partial raster.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from .errors import InputError, OutputError
from .tiling import reflect_index

OUTPUT_NODATA = 0
MIN_VALID_DN = 1
RGB_DESCRIPTIONS = ("Red", "Green", "Blue")
RGB_COLORINTERP = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
BLOCK_SIZE = 256
OUTPUT_SUFFIXES = (".tif", ".tiff")
TMP_MARK = ".s2o-tmp-"
SAMPLE_SIZE = 128
SAMPLES_PER_AXIS = 4

GTIFF_OPTIONS = dict(
    driver="GTiff", tiled=True, blockxsize=BLOCK_SIZE, blockysize=BLOCK_SIZE,
    bigtiff="IF_SAFER", num_threads="ALL_CPUS",
)
ZSTD = dict(compress="zstd", zstd_level=1)
DEFLATE = dict(compress="deflate")


@functools.lru_cache(maxsize=1)
def compression_options() -> dict:
    """ZSTD level 1 when this GDAL writes it (probed once in memory), else DEFLATE."""
    probe = "/vsimem/s2o-zstd-probe.tif"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(probe, "w", driver="GTiff", width=1, height=1, count=1,
                               dtype="uint8", **ZSTD) as d:
                d.write(np.zeros((1, 1, 1), np.uint8))
            with rasterio.open(probe) as d:
                has_zstd = d.profile.get("compress", "").lower() == "zstd"
    except (RasterioError, OSError):
        has_zstd = False
    finally:
        with contextlib.suppress(RasterioError, OSError):
            rasterio.shutil.delete(probe)
    return ZSTD if has_zstd else DEFLATE


# -- input -------------------------------------------------------------------------------------
# GDAL keeps decoded input blocks and written output blocks in one process-wide cache, by default
# 5 % of the RAM: left alone, a streamed translation's memory grows with the scene up to that size.
GDAL_CACHE_BYTES = 128 * 2**20


def bounded_gdal_cache(func):
    """Run ``func`` with GDAL's block cache capped at GDAL_CACHE_BYTES (the previous size is
    restored afterwards), unless the user set GDAL_CACHEMAX: memory stays flat in scene size."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if "GDAL_CACHEMAX" in os.environ:
            return func(*args, **kwargs)
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):
            return func(*args, **kwargs)

    return wrapper


def open_raster(path):
    """Open ``path`` for reading, or raise InputError: missing, a folder, not a raster GDAL
    reads, or no bands (e.g. a container of subdatasets)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input raster not found: {path}")
    if path.is_dir():
        raise InputError(f"input path is a folder, not a raster: {path}")
    try:
        with warnings.catch_warnings():  # translate.py reports a missing georeference itself
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(path)
    except (RasterioError, OSError) as exc:  # RasterioIOError is an OSError
        raise InputError(f"{path} is not a raster GDAL can read ({exc})") from exc
    if src.count == 0:
        hint = (f"; it holds subdatasets, open one of them: {src.subdatasets[0]}"
                if src.subdatasets else "")
        src.close()
        raise InputError(f"{path} has no raster bands{hint}")
    return src


def _has_gdal_mask(src, band: int) -> bool:
    flags = src.mask_flag_enums[band - 1]
    return MaskFlags.per_dataset in flags or MaskFlags.alpha in flags


def read_window(src, bands: Sequence[int], row: int, col: int, height: int, width: int):
    """Read ``bands`` (1-based) over a window that may reach outside the scene.

    Returns ``(data, valid)``: data (C, height, width) float32, positions outside the scene
    filled by mirror reflection (:func:`tiling.reflect_index`); valid (height, width) bool,
    False where any band is its nodata value, NaN/inf, or masked by a GDAL mask/alpha band.
    Only the in-scene rectangle spanned by the reflected indices is read.
    """
    H, W = src.height, src.width
    inside = row >= 0 and col >= 0 and row + height <= H and col + width <= W
    if inside:
        ri = ci = None
        win = Window(col, row, width, height)
    else:
        ri = reflect_index(np.arange(row, row + height), H)
        ci = reflect_index(np.arange(col, col + width), W)
        r0, c0 = int(ri.min()), int(ci.min())
        win = Window(c0, r0, int(ci.max()) + 1 - c0, int(ri.max()) + 1 - r0)
        ri, ci = ri - r0, ci - c0
    bands = list(bands)
    data = src.read(bands, window=win, out_dtype="float32")
    invalid = ~np.isfinite(data).all(axis=0)
    for c, b in enumerate(bands):
        nd = src.nodatavals[b - 1]
        if nd is not None and not np.isnan(nd):
            invalid |= data[c] == np.float32(nd)
        if _has_gdal_mask(src, b):
            invalid |= src.read_masks(b, window=win) == 0
    if ri is not None:  # one axis at a time (np.take): 4x faster than 2-D fancy indexing
        data = np.take(np.take(data, ri, axis=1), ci, axis=2)
        invalid = np.take(np.take(invalid, ri, axis=0), ci, axis=1)
    return data, ~invalid


def sample_blocks(src, bands: Sequence[int], size: int = SAMPLE_SIZE,
                  per_axis: int = SAMPLES_PER_AXIS) -> list[np.ndarray]:
    """Up to ``per_axis**2`` windows of ``size x size`` pixels spread evenly over the raster,
    each (C, h, w) float32 with NaN where invalid: what the "auto" input scale looks at."""

    def starts(n):
        if n <= size:
            return [0]
        k = min(per_axis, -(-n // size))
        return sorted({round(i * (n - size) / (k - 1)) for i in range(k)})

    out = []
    for r in starts(src.height):
        for c in starts(src.width):
            data, valid = read_window(src, bands, r, c, min(size, src.height),
                                      min(size, src.width))
            data[:, ~valid] = np.nan
            out.append(data)
    return out


# -- output ------------------------------------------------------------------------------------
def check_destination(dst, src=None) -> Path:
    """Raise OutputError before any work when ``dst`` cannot be written: the input itself, a
    folder, a non-GeoTIFF name, a missing or read-only folder (or a file where a folder
    should be). Returns the absolute destination path."""
    dst = Path(dst).absolute()
    if src is not None and dst.resolve() == Path(src).resolve():
        raise OutputError(f"the output is the input raster itself ({dst}): choose another file")
    if dst.is_dir():
        raise OutputError(f"the output path is a folder: {dst}; give a file name ending .tif")
    if dst.suffix.lower() not in OUTPUT_SUFFIXES:
        raise OutputError(f"the output is a GeoTIFF: give a file name ending .tif, not {dst.name}")
    parent = dst.parent
    if not parent.is_dir():
        blocker = next((p for p in parent.parents if p.exists()), None)
        if parent.exists() or (blocker is not None and not blocker.is_dir()):
            where = parent if parent.exists() else blocker
            raise OutputError(f"cannot write {dst}: {where} is a file, not a folder")
        raise OutputError(f"the output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"the output folder is not writable: {parent}")
    return dst


def temporary_path(dst: Path) -> Path:
    """``.<name>.s2o-tmp-<pid>.tif`` beside ``dst``."""
    return dst.with_name(f".{dst.name}{TMP_MARK}{os.getpid()}.tif")


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}.aux.xml")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


@contextlib.contextmanager
def atomic_output(dst):
    """Yield a temporary path beside ``dst``; on success rename it to ``dst`` (with its
    ``.aux.xml`` if GDAL wrote one), on any exception remove it and re-raise. Close the dataset
    written to the temporary path before the block ends."""
    dst = Path(dst)
    tmp = temporary_path(dst)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    try:
        os.replace(tmp, dst)
        aux, dst_aux = Path(f"{tmp}.aux.xml"), Path(f"{dst}.aux.xml")
        if aux.exists():
            os.replace(aux, dst_aux)
        elif dst_aux.exists():
            dst_aux.unlink()  # statistics of an older file of that name
    except OSError as exc:
        _remove(tmp)
        raise OutputError(f"cannot move the finished output to {dst}: {exc}") from exc


def create(path: Path, profile: dict):
    """rasterio.open(path, "w", **profile) with OutputError on failure."""
    try:
        with warnings.catch_warnings():  # GCP-only or ungeoreferenced: handled by the caller
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path, "w", **profile)
    except (RasterioError, OSError) as exc:
        raise OutputError(f"cannot create {path}: {exc}") from exc


def _georeferencing(src) -> dict:
    size = dict(width=src.width, height=src.height)
    if src.crs is None and src.gcps[0]:
        return size  # copy_gcps georeferences the output
    return dict(size, crs=src.crs, transform=src.transform)


def copy_gcps(src, dst) -> None:
    """Rasters georeferenced by ground control points only (e.g. Sentinel-1 GRD in radar
    geometry) keep them in the output."""
    gcps, gcp_crs = src.gcps
    if gcps and src.crs is None:
        dst.gcps = (gcps, gcp_crs)


def rgb_profile(src) -> dict:
    """Profile of the translated output (module docstring)."""
    return dict(GTIFF_OPTIONS, **compression_options(), **_georeferencing(src), count=3,
                dtype="uint16", nodata=OUTPUT_NODATA, photometric="RGB", predictor=2)


def label_rgb(dst) -> None:
    for i, name in enumerate(RGB_DESCRIPTIONS, start=1):
        dst.set_band_description(i, name)
    dst.colorinterp = RGB_COLORINTERP


def float_profile(src, nodata: float) -> dict:
    """Profile of a single-band float32 output on the input's grid (despeckling)."""
    return dict(GTIFF_OPTIONS, **compression_options(), **_georeferencing(src), count=1,
                dtype="float32", nodata=nodata, predictor=3)
