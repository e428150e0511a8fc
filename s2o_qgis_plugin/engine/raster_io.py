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

Inputs: any path GDAL opens, GDAL's virtual paths included (``/vsizip/archive.zip/s1.tif``,
``/vsicurl/...``, ``NETCDF:file.nc:var``). Complex bands (SLC) are refused; a band's GDAL scale
and offset are applied as it is read (value = stored x scale + offset); a GeoTIFF cut short is
refused when opened, and any other read error is reported as a damaged input (InputError naming
the file and GDAL's message), never as a bug.

Atomic output (:func:`atomic_output`): the file is written as
``.<name>.s2o-tmp-<host>-<pid>-<random>.tif`` beside the destination (the name shortened so the
temporary name and its ``.aux.xml`` stay within the file system's name limit), then synced to
storage (fsync), read back whole (it opens with the size and type written, every block is in the
file and decodes), and only then renamed over the destination (os.replace, atomic). On any
exception, Cancelled, Ctrl-C, SIGTERM or SIGHUP (signals.termination_raises) the temporary file
is removed, so the destination holds either its earlier file or the complete new one, never a
partial raster. Failures name their cause: a full file system says so, with the space needed.
A run killed outright (SIGKILL, power loss) leaves its temporary file; the next run in that
folder removes those whose process is gone (same host, :func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import hashlib
import math
import os
import re
import secrets
import shutil
import socket
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.enums import ColorInterp, Interleaving, MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from . import errors
from .atomic import TMP_MARK
from .errors import InputError, OutputError
from .metadata import OUTPUT_BANDS
from .radiometry import OUTPUT_NODATA
from .signals import raise_if_received, termination_raises
from .tiling import reflect_index

RGB_DESCRIPTIONS = OUTPUT_BANDS
RGB_COLORINTERP = (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
BLOCK_SIZE = 256
OUTPUT_SUFFIXES = (".tif", ".tiff")
AUX = ".aux.xml"
NAME_MAX = 255  # bytes in a file name, where the file system does not say (os.pathconf)
MAX_CHECKED_BLOCKS = 2**20  # GeoTIFF blocks checked against the file's size (more: skipped)
NEARLY_FULL = 2**20  # bytes free below which a failed write is put down to a full disk
VERIFY_COLUMNS = 16 * 256  # columns read at once by the read-back check
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


# GDAL's virtual file systems (/vsizip/, /vsicurl/, ...) and driver-prefixed connection strings
# (NETCDF:file.nc:var, SENTINEL1_CALIB:...): names GDAL opens that are no file on disk
_GDAL_VIRTUAL = re.compile(r"^(/vsi[a-z0-9_]+/|[A-Z][A-Z0-9_]+:)")
_ARCHIVES = ("vsizip", "vsitar", "vsigzip", "vsi7z", "vsirar", "vsisubfile")


def is_gdal_virtual(name: str) -> bool:
    """True for a GDAL virtual path or connection string (opened by GDAL, not found on disk)."""
    return bool(_GDAL_VIRTUAL.match(name))


def open_raster(path):
    """Open ``path`` for reading, or raise InputError: missing, a folder, not a raster GDAL
    reads, no bands (e.g. a container of subdatasets), or a GeoTIFF cut short. GDAL virtual
    paths are passed to GDAL as they are (no Path normalisation: /vsizip//abs/a.zip/x.tif)."""
    name = os.fspath(path)
    if not is_gdal_virtual(name):
        local = Path(name)
        if not local.exists():
            raise InputError(f"input raster not found: {local}")
        if local.is_dir():
            raise InputError(f"input path is a folder, not a raster: {local}")
    try:
        with warnings.catch_warnings():  # translate.py reports a missing georeference itself
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(name)
    except (RasterioError, OSError) as exc:  # RasterioIOError is an OSError
        problem = None if is_gdal_virtual(name) else _tiff_cut_short(name)
        if problem:  # GDAL >= 3.10 refuses such a file on opening
            raise InputError(errors.damaged_input(name, problem)) from exc
        raise InputError(f"{name} is not a raster GDAL can read ({gdal_words(exc)})") from exc
    try:
        if src.count == 0:
            hint = (f"; it holds subdatasets, open one of them: {src.subdatasets[0]}"
                    if src.subdatasets else "")
            raise InputError(f"{name} has no raster bands{hint}")
        problem = _block_problem(src)
        if problem:
            raise InputError(errors.damaged_input(name, problem))
    except BaseException:
        src.close()
        raise
    return src


def gdal_words(exc: BaseException) -> str:
    """GDAL's own words for a rasterio error. rasterio >= 1.4 raises "Read failed. See previous
    exception for details." with GDAL's error as its cause; earlier versions say it directly."""
    seen = exc
    while seen is not None:
        text = str(seen)
        if text and "See previous exception" not in text:
            return text
        seen = seen.__cause__
    return str(exc)


def _tiff_cut_short(name: str) -> str | None:
    """For a local TIFF whose first directory lies beyond the file's end (cut short before its
    header's directory, which GDAL writes last), that in words; None otherwise."""
    try:
        with open(name, "rb") as f:
            head = f.read(16)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return None
    order = {b"II": "little", b"MM": "big"}.get(head[:2])
    if order is None or len(head) < 16:
        return None
    version = int.from_bytes(head[2:4], order)
    if version not in (42, 43):  # classic TIFF, BigTIFF
        return None
    offset = int.from_bytes(head[4:8] if version == 42 else head[8:16], order)
    if offset + 2 <= size:
        return None
    return (f"it is cut short: its first directory starts at byte {offset:,} but the file has "
            f"{size:,} bytes")


def _block_problem(ds, every_block_written: bool = False) -> str | None:
    """For a local GeoTIFF, the first block that does not lie within the file (it was cut short
    or not finished), in words; with ``every_block_written``, also a block never written. None
    when all is well, for other formats, or past MAX_CHECKED_BLOCKS blocks (metadata only: no
    pixel is read)."""
    if ds.driver != "GTiff" or is_gdal_virtual(ds.name):
        return None
    try:
        size = os.path.getsize(ds.name)
    except OSError:
        return None
    bh, bw = ds.block_shapes[0]
    rows, cols = math.ceil(ds.height / bh), math.ceil(ds.width / bw)
    bands = range(1, ds.count + 1) if ds.interleaving == Interleaving.band else (1,)
    if rows * cols * len(bands) > MAX_CHECKED_BLOCKS:
        return None
    for b in bands:
        for y in range(rows):
            for x in range(cols):
                offset = int(ds.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=b) or 0)
                length = int(ds.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=b) or 0)
                if offset and offset + length > size:
                    return (f"it is cut short: the block at row {y * bh}, column {x * bw}"
                            f"{f' of band {b}' if len(bands) > 1 else ''} ends at byte "
                            f"{offset + length:,} but the file has {size:,} bytes")
                if every_block_written and not (offset and length):
                    return (f"the block at row {y * bh}, column {x * bw} was never written")
    return None


def local_file(name: str) -> str | None:
    """The file on disk behind a GDAL name (a plain path, or the archive of /vsizip/..., also
    nested), as a real path; None for what is no local file (/vsimem/, /vsicurl/, ...)."""
    if not name.startswith("/vsi"):
        return os.path.realpath(name) if os.path.isfile(name) else None
    kind, _, rest = name[1:].partition("/")
    if kind not in _ARCHIVES:
        return None
    if rest.startswith("{") and "}" in rest:  # /vsizip/{/path/a.zip}/inner.tif
        return local_file(rest[1:rest.index("}")])
    pieces = rest.split("/")  # the archive: the longest leading part that is a file
    for n in range(len(pieces), 0, -1):
        found = local_file("/".join(pieces[:n]))
        if found is not None:
            return found
    return None


def input_files(ds, limit: int = 256) -> list[str]:
    """The files on disk an open raster reads, as real paths, its own first: GDAL's file list,
    followed into VRTs (also nested) and archives (local_file). What must not be overwritten."""
    found: list[str] = []
    todo, seen = list(ds.files), set()
    while todo and len(seen) < limit:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        real = local_file(name)
        if real is not None and real not in found:
            found.append(real)
        if name.lower().endswith(".vrt") and name != ds.name:
            with contextlib.suppress(RasterioError, OSError), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with rasterio.open(name) as inner:
                    todo.extend(inner.files)
    return found


def _has_gdal_mask(src, band: int) -> bool:
    flags = src.mask_flag_enums[band - 1]
    return MaskFlags.per_dataset in flags or MaskFlags.alpha in flags


GDAL_COMPLEX_NAMES = {"complex_int16": "CInt16", "complex_int32": "CInt32",
                      "complex64": "CFloat32", "complex128": "CFloat64"}


def check_real_bands(src, bands: Sequence[int]) -> None:
    """InputError when one of ``bands`` holds complex values (an SLC): reading it as real
    numbers would silently keep the real part only."""
    for b in bands:
        dtype = src.dtypes[b - 1]
        if dtype.startswith("complex"):
            name = GDAL_COMPLEX_NAMES.get(dtype, dtype)
            raise InputError(errors.complex_input(src.name, b, name))


def scale_offset_notes(src, bands: Sequence[int]) -> list[str]:
    """One line per band whose GDAL scale/offset read_window applies."""
    return [f"band {b}: values = stored x {src.scales[b - 1]:g} + {src.offsets[b - 1]:g} (the "
            "raster's scale and offset, applied)" for b in bands
            if (src.scales[b - 1], src.offsets[b - 1]) != (1.0, 0.0)]


def invalid_pixels(data: np.ndarray, nodata: Sequence[float | None]) -> np.ndarray:
    """(h, w) bool: True where any band of ``data`` (C, h, w), the values as stored (float32),
    is NaN/inf or equals its band's ``nodata`` value (None or NaN: no such value)."""
    invalid = ~np.isfinite(data).all(axis=0)
    for c, nd in enumerate(nodata):
        if nd is not None and not np.isnan(nd):
            invalid |= data[c] == np.float32(nd)
    return invalid


def apply_scale_offset(data: np.ndarray, scales: Sequence[float],
                       offsets: Sequence[float]) -> np.ndarray:
    """value = stored x scale + offset, per band of ``data`` (C, h, w) float32, in place."""
    for c, (scale, offset) in enumerate(zip(scales, offsets, strict=True)):
        if scale != 1.0:
            data[c] *= np.float32(scale)
        if offset != 0.0:
            data[c] += np.float32(offset)
    return data


def read_window(src, bands: Sequence[int], row: int, col: int, height: int, width: int):
    """Read ``bands`` (1-based) over a window that may reach outside the scene.

    Returns ``(data, valid)``: data (C, height, width) float32, positions outside the scene
    filled by mirror reflection (:func:`tiling.reflect_index`), each band's GDAL scale and
    offset applied; valid (height, width) bool, False where any band is its nodata value (a
    stored value), NaN/inf, or masked by a GDAL mask/alpha band. Only the in-scene rectangle
    spanned by the reflected indices is read. Complex bands and read errors raise InputError.
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
    check_real_bands(src, bands)
    try:
        data = src.read(bands, window=win, out_dtype="float32")
        invalid = invalid_pixels(data, [src.nodatavals[b - 1] for b in bands])
        for b in bands:
            if _has_gdal_mask(src, b):
                invalid |= src.read_masks(b, window=win) == 0
    except (RasterioError, OSError) as exc:
        where = (f"rows {win.row_off}..{win.row_off + win.height - 1}, columns "
                 f"{win.col_off}..{win.col_off + win.width - 1}")
        raise InputError(errors.damaged_input(src.name, f"{where}: {gdal_words(exc)}")) from exc
    apply_scale_offset(data, [src.scales[b - 1] for b in bands],
                       [src.offsets[b - 1] for b in bands])
    if ri is not None:  # one axis at a time (np.take): 4x faster than 2-D fancy indexing
        data = np.take(np.take(data, ri, axis=1), ci, axis=2)
        invalid = np.take(np.take(invalid, ri, axis=0), ci, axis=1)
    return data, ~invalid


def sample_blocks(src, bands: Sequence[int], size: int = SAMPLE_SIZE,
                  per_axis: int = SAMPLES_PER_AXIS) -> list[np.ndarray]:
    """Up to ``per_axis**2`` windows of ``size x size`` pixels spread evenly over the raster
    (:func:`sample_windows`), each (C, h, w) float32 with NaN where invalid: what the "auto"
    input scale looks at."""
    out = []
    for r, c, h, w in sample_windows(src.height, src.width, size, per_axis):
        data, valid = read_window(src, bands, r, c, h, w)
        data[:, ~valid] = np.nan
        out.append(data)
    return out


def sample_windows(height: int, width: int, size: int = SAMPLE_SIZE,
                   per_axis: int = SAMPLES_PER_AXIS) -> list[tuple[int, int, int, int]]:
    """(row, col, height, width) of the windows :func:`sample_blocks` reads: up to
    ``per_axis`` evenly spaced starts along each axis, windows of at most ``size`` pixels."""

    def starts(n):
        if n <= size:
            return [0]
        k = min(per_axis, -(-n // size))
        return sorted({round(i * (n - size) / (k - 1)) for i in range(k)})

    return [(r, c, min(size, height), min(size, width))
            for r in starts(height) for c in starts(width)]


# -- output ------------------------------------------------------------------------------------
def name_max(folder) -> int:
    """The longest file name (bytes) the file system of ``folder`` allows."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # Windows has no pathconf
        return NAME_MAX


def _name_bytes(name: str) -> int:
    return len(os.fsencode(name))


def check_destination(dst, inputs=()) -> Path:
    """Raise OutputError before any work when ``dst`` cannot be written: one of the files the
    input reads (``inputs``, e.g. :func:`input_files`: the raster itself, the files behind a VRT,
    a symbolic or hard link to one of them), a folder, a non-GeoTIFF name, a name too long for
    the file system, a missing or read-only folder (or a file where a folder should be).
    Returns the absolute destination path."""
    dst = Path(dst).absolute()
    limit = name_max(dst.parent) if dst.parent.is_dir() else NAME_MAX
    if _name_bytes(dst.name) > limit:  # first: a stat of such a name fails
        raise OutputError(errors.name_too_long(dst, _name_bytes(dst.name), limit))
    real = os.path.realpath(dst)
    inputs = [str(p) for p in inputs]
    for i, source in enumerate(inputs):
        same = os.path.realpath(source) == real
        if not same and dst.exists() and os.path.exists(source):
            same = os.path.samefile(source, dst)
        if same:
            raise OutputError(errors.output_is_input(dst, None if i == 0 else inputs[0]))
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


# .<name>.s2o-tmp-<host>-<pid>-<random>.tif[.aux.xml]; runs before the host tag: -<pid>.tif
_TEMPORARY = re.compile(r"^\..*\.s2o-tmp-(?:(?P<host>[0-9a-f]{6})-)?(?P<pid>[0-9]+)"
                        r"(?:-[0-9a-f]+)?\.tif(?:\.aux\.xml)?$", re.DOTALL)


@functools.lru_cache(maxsize=1)
def _host_tag() -> str:
    """6 hex digits naming this computer: a process id means something on its own host only."""
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def temporary_path(dst: Path) -> Path:
    """``.<name>.s2o-tmp-<host>-<pid>-<random>.tif`` beside ``dst``, ``<name>`` shortened so
    that this name plus ``.aux.xml`` fits the file system's name limit (module docstring)."""
    dst = Path(dst)
    mark = f"{TMP_MARK}{_host_tag()}-{os.getpid()}-{secrets.token_hex(3)}.tif"
    room = name_max(dst.parent) - _name_bytes(AUX) - _name_bytes(mark) - 1
    stem = dst.name.encode("utf-8", "surrogateescape")[:max(room, 0)]
    return dst.with_name(f".{stem.decode('utf-8', 'ignore')}{mark}")


def _process_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return not ok or code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, another user's
        return True
    return True


def remove_stale_temporaries(folder) -> list[Path]:
    """Remove the temporary outputs in ``folder`` left by runs that were killed outright: those
    of this host whose process is gone (a live run's file is never touched, nor another host's
    on a shared folder). Returns the files removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMPORARY.match(entry.name)
        if m is None or (m["host"] is not None and m["host"] != _host_tag()):
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or _process_alive(pid):
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}{AUX}")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


@dataclasses.dataclass(frozen=True)
class RasterShape:
    """What a finished output must read back as."""

    width: int
    height: int
    count: int
    dtype: str

    @property
    def nbytes(self) -> int:
        """Uncompressed size: an upper bound of the file's size for what is written here."""
        return self.width * self.height * self.count * np.dtype(self.dtype).itemsize


def free_bytes(folder) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _mount_point(folder) -> str:
    path = os.path.realpath(folder)
    while not os.path.ismount(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


class _ReadBackError(Exception):
    """The finished temporary file does not read back as written (atomic_output)."""


def verify_raster(path, shape: RasterShape) -> None:
    """Raise _ReadBackError unless ``path`` opens with ``shape``, every block is in the file
    (GeoTIFF) and every pixel decodes (read in windows: memory stays bounded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                got = RasterShape(ds.width, ds.height, ds.count, ds.dtypes[0])
                if got != shape:
                    raise _ReadBackError(f"it reads as {got.width} x {got.height} px, "
                                          f"{got.count} band(s) of {got.dtype}")
                problem = _block_problem(ds, every_block_written=True)
                if problem:
                    raise _ReadBackError(problem)
                rows = ds.block_shapes[0][0] if ds.block_shapes else BLOCK_SIZE
                for r in range(0, ds.height, rows):
                    for c in range(0, ds.width, VERIFY_COLUMNS):
                        ds.read(window=Window(c, r, min(VERIFY_COLUMNS, ds.width - c),
                                              min(rows, ds.height - r)))
    except (RasterioError, OSError) as exc:
        raise _ReadBackError(str(exc).strip().splitlines()[0] if str(exc).strip()
                              else type(exc).__name__) from exc


def read_back_problem(path, shape: RasterShape) -> str | None:
    """Why ``path`` does not read back as a finished raster of ``shape`` (:func:`verify_raster`),
    in words; None when it does."""
    try:
        verify_raster(path, shape)
    except _ReadBackError as exc:
        return str(exc)
    return None


def _sync(path, folder: bool = False) -> None:
    """Push ``path`` (or a folder's entries) to storage: delayed write errors (ENOSPC or EIO
    on network file systems and quotas) surface here, not after the rename."""
    if folder and os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY if folder else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _says_no_space(exc: BaseException) -> bool:
    texts = {os.strerror(e) for e in _NO_SPACE}
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
            return True
        if any(t in str(exc) for t in texts):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextlib.contextmanager
def atomic_output(dst, shape: RasterShape | None = None, log=None):
    """Yield a temporary path beside ``dst`` to write the output to (close it before the block
    ends); on success sync it, read it back (``shape``: :func:`verify_raster`) and rename it to
    ``dst`` (with its ``.aux.xml`` if GDAL wrote one); on any exception or termination signal
    remove it and raise, a storage failure as OutputError naming its cause. Before that, stale
    temporary files in the folder are removed and, when ``shape`` says the output may not fit,
    a warning is logged (``log(message)``)."""
    dst = Path(dst)
    say = log if log is not None else (lambda message: None)
    for stale in remove_stale_temporaries(dst.parent):
        say(f"removed {stale.name}: a temporary file left by an earlier run that was killed")
    existed = dst.exists()
    needed = shape.nbytes if shape is not None else 0
    free = free_bytes(dst.parent)
    if free is not None and free < needed:
        say(errors.little_space(dst.parent, needed, free))
    tmp = temporary_path(dst)
    with termination_raises():
        try:
            yield tmp
            raise_if_received()  # never replace the destination after a termination signal
            try:
                _sync(tmp)
                if shape is not None:
                    verify_raster(tmp, shape)
            except FileNotFoundError as exc:  # the block wrote nothing
                raise OutputError(errors.write_failed(dst, str(exc), existed)) from exc
        except BaseException as exc:
            failure = _storage_failure(exc, dst, existed, needed, free)
            _remove(tmp)
            if failure is None:
                raise
            raise failure from exc
        try:
            os.replace(tmp, dst)
            aux, dst_aux = Path(f"{tmp}{AUX}"), Path(f"{dst}{AUX}")
            if _name_bytes(dst_aux.name) > name_max(dst.parent):
                with contextlib.suppress(FileNotFoundError):  # no sidecar can have that name,
                    aux.unlink()  # nor can a stale one exist
            elif aux.exists():
                os.replace(aux, dst_aux)
            elif dst_aux.exists():
                dst_aux.unlink()  # statistics of an older file of that name
            with contextlib.suppress(OSError):
                _sync(dst.parent, folder=True)
        except OSError as exc:
            _remove(tmp)
            raise OutputError(f"cannot move the finished output to {dst}: {exc}") from exc


def _storage_failure(exc, dst: Path, existed: bool, needed: int, free) -> OutputError | None:
    """The OutputError to raise for ``exc`` raised while writing ``dst``, naming a full file
    system as the cause; None when ``exc`` is no storage failure (cancel, input, model...)."""
    if not isinstance(exc, (OutputError, _ReadBackError, RasterioError, OSError)):
        return None
    now = free_bytes(dst.parent)
    if _says_no_space(exc) or (now is not None and now < NEARLY_FULL):
        return OutputError(errors.no_space(dst.parent, _mount_point(dst.parent), needed,
                                           free if free is not None else 0, dst, existed))
    if isinstance(exc, _ReadBackError):
        return OutputError(errors.output_unreadable(dst, str(exc), existed))
    if isinstance(exc, OutputError):
        return None
    return OutputError(errors.write_failed(dst, str(exc), existed))


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
