"""One raster larger than a machine's patience: a Dask-backed xarray.DataArray in, the translated
DataArray out, lazily, computed chunk by chunk on any worker.

    translate_dataarray(arr, model=None, ...) -> xarray.DataArray    (band: 3, y, x) uint16
    write_translation(out, dst, client=None, ...) -> Path             the engine's atomic writer

``arr`` is what ``rioxarray.open_rasterio(path, chunks=...)`` returns (stackstac and odc-stac
give the same shape): dims (band, y, x), georeferenced by its coordinates and ``spatial_ref``,
nodata in ``rio.nodata`` (or NaN), GDAL scale/offset in the ``scale_factor``/``add_offset``
attributes (``mask_and_scale=False``, rioxarray's default, reads values exactly as the engine
does), band names in ``long_name`` or in the band coordinate ("vv", "vh" as stackstac names
them).

Same result as the engine, to the DN. translate_raster runs the model on the windows of
tiling.tile_grid: all of one shape, starting on the model's stride grid, with a halo h' of the
model's receptive field, reflected at the scene's edges. The same windows are run here:

    rechunk   chunks along each axis are whole numbers of engine tiles (the chunk size asked for,
              rounded to tiles); where the last tile's window reaches further back than its
              chunk's halo (the engine shifts the last window back to keep one shape), that chunk
              is merged into the one before (:func:`grid_chunks`)
    overlap   ``dask.array.map_overlap`` with depth h' on y and x, boundary "none": each chunk
              arrives with h' pixels of its neighbours
    per chunk the engine's tiles inside the chunk, each window gathered with the engine's
              reflection (tiling.reflect_index) from the chunk and its overlap, the nodata mask
              and radiometry of raster_io/translate (invalid_pixels, apply_scale_offset,
              network_input), session.run, output_dn

So every pixel comes out of the very window, the same shape and values, that translate_raster
feeds the model at the same tile size; with batch 1 (the default, as in the engine) the DN are
identical (tests/cluster prove it on real scenes). The input scale is decided as the engine does,
from the same sample windows (raster_io.sample_windows, computed once, small).

Each worker opens the model once (tasks.MODELS); the client opens it on the CPU to read its
metadata. Chunks of a few engine tiles (2048 px with tile 512) keep tasks long enough for the
scheduler's overhead to vanish and short enough to spread over many workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from rasterio.errors import RasterioError
from rasterio.windows import Window

from ..engine import errors, raster_io
from ..engine.errors import InputError, OutputError
from ..engine.input_kind import refuse_optical
from ..engine.metadata import layout_name
from ..engine.model import DEFAULT_DEVICE, check_device
from ..engine.radiometry import (
    DEFAULT_INPUT_SCALE,
    ValueStats,
    check_scale_name,
    choose_bands,
    decide_input_scale,
    polarisation_notes,
)
from ..engine.tiling import (
    DEFAULT_BATCH,
    DEFAULT_TILE,
    read_halo,
    reflect_index,
    tile_grid,
    validate_tile_size,
)
from ..engine.translate import (
    TAG_MODEL_FILE,
    embedded_model,
    network_input,
    output_dn,
    output_tags,
)
from . import require
from .tasks import MODELS, worker_threads

DIMS = ("band", "y", "x")
DEFAULT_CHUNK = 2048  # pixels along y and x, rounded to whole tiles (module docstring)
METADATA_DEVICE = "cpu"  # the client opens the model only to read its metadata


@dataclass(frozen=True)
class _Plan:
    """What each chunk's task needs (small, shipped with every task)."""

    model_path: str
    device: str
    threads: int | None
    height: int
    width: int
    tile: int
    size_multiple: int
    halo: int
    scale: str
    db_range: tuple
    value_range: tuple
    dn_range: tuple
    nodata: tuple  # per band, as stored (None or NaN: none)
    scales: tuple
    offsets: tuple
    batch_size: int


# -- the grid ------------------------------------------------------------------------------------
def _reach(n: int, tile: int, m: int, halo: int) -> list[tuple[int, int, int, int]]:
    """Per engine tile along one axis: (write start, write end, lowest and highest scene
    position its read window takes after reflection)."""
    out = []
    for t in tile_grid(n, 1, tile, m, halo):
        idx = reflect_index(np.arange(t.read_row, t.read_row + t.read_height), n)
        out.append((t.row, t.row + t.height, int(idx.min()), int(idx.max())))
    return out


def grid_chunks(n: int, tile: int, m: int, halo: int, chunk: int) -> tuple[int, ...]:
    """Chunk lengths along an axis of ``n`` pixels: whole engine tiles, about ``chunk`` pixels
    each, such that every tile's read window lies within its chunk and the read halo
    h' = read_halo(halo, m) of overlap on either side (module docstring)."""
    per = max(1, round(chunk / tile))
    reach = _reach(n, tile, m, halo)
    hp = read_halo(halo, m)
    groups = [reach[i:i + per] for i in range(0, len(reach), per)]
    merged: list[list] = []
    for group in groups:
        merged.append(list(group))
        while len(merged) > 1:
            start, end = merged[-1][0][0], merged[-1][-1][1]
            if all(lo >= start - hp and hi < end + hp for _, _, lo, hi in merged[-1]):
                break
            last = merged.pop()
            merged[-1].extend(last)
    return tuple(g[-1][1] - g[0][0] for g in merged)


# -- the input -----------------------------------------------------------------------------------
def _descriptions(arr) -> list[str | None]:
    """Band descriptions: ``long_name`` (rioxarray), else string band coordinates (stackstac)."""
    count = arr.sizes["band"]
    names = arr.attrs.get("long_name")
    if isinstance(names, str):
        names = [names] if count == 1 else None
    if names is not None and len(names) == count:
        return [str(n) if n else None for n in names]
    labels = arr.coords["band"].values if "band" in arr.coords else []
    if len(labels) == count and all(isinstance(v, str) for v in labels.tolist()):
        return [str(v) for v in labels.tolist()]
    return [None] * count


def _per_band(value, count: int, default: float) -> tuple:
    if value is None:
        return (default,) * count
    if np.ndim(value) == 0:
        return (float(value),) * count
    values = tuple(float(v) for v in value)
    if len(values) != count:
        raise InputError(f"{len(values)} values {values} for {count} bands")
    return values


def _nodata(arr) -> float | None:
    """The stored value marking nodata: rio.nodata, else the _FillValue/nodata attribute."""
    value = None
    if hasattr(arr, "rio"):
        value = arr.rio.nodata
    if value is None:
        value = arr.attrs.get("_FillValue", arr.attrs.get("nodata"))
    return None if value is None else float(value)


def _as_bands(arr):
    """``arr`` as (band, y, x), Dask-backed; InputError when it is not a raster array."""
    import xarray as xr

    if not isinstance(arr, xr.DataArray):
        raise InputError(f"the input must be an xarray.DataArray (band, y, x), got "
                         f"{type(arr).__name__}")
    if arr.ndim == 2 and set(arr.dims) == set(DIMS[1:]):
        arr = arr.expand_dims("band")
    if set(arr.dims) != set(DIMS):
        raise InputError(f"the input's dimensions are {arr.dims}; a raster DataArray has "
                         f"{DIMS} (rioxarray.open_rasterio, stackstac and odc-stac give them)")
    arr = arr.transpose(*DIMS)
    if arr.chunks is None:
        arr = arr.chunk()
    if np.dtype(arr.dtype).kind == "c":
        raise InputError(errors.complex_input(arr.name or "the input", 1, str(arr.dtype)))
    return arr


def _samples(data, plan_nodata, scales, offsets, height, width) -> list[np.ndarray]:
    """The windows raster_io.sample_blocks reads, from the Dask array ``data`` (C, y, x):
    values with scale/offset applied, NaN where invalid."""
    import dask

    windows = raster_io.sample_windows(height, width)
    blocks = dask.compute(*[data[:, r:r + h, c:c + w] for r, c, h, w in windows])
    out = []
    for block in blocks:
        values = np.asarray(block, dtype=np.float32).copy()
        invalid = raster_io.invalid_pixels(values, plan_nodata)
        raster_io.apply_scale_offset(values, scales, offsets)
        values[:, invalid] = np.nan
        out.append(values)
    return out


def _client_model(model, descriptions, count, bands, say):
    """The model the workers will run, opened here on the CPU for its metadata."""
    def loader(path, device, threads):
        return MODELS.load(path, METADATA_DEVICE, 1)

    if model is None:
        s2o, choice = embedded_model(descriptions, count, bands, METADATA_DEVICE, 1, loader)
        say(f"model: the embedded {layout_name(s2o.meta.input_bands)} model, picked because "
            f"{choice}")
        return s2o
    return loader(model, None, None)


def translate_dataarray(
    arr,
    model=None,
    *,
    bands: Sequence[int] | None = None,
    input_scale: str = DEFAULT_INPUT_SCALE,
    tile_size: int = DEFAULT_TILE,
    batch_size: int = DEFAULT_BATCH,
    chunk: int = DEFAULT_CHUNK,
    device: str = DEFAULT_DEVICE,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
):
    """The translation of the Sentinel-1 raster ``arr`` (module docstring), lazy.

    Options as translate_raster's (``threads`` None: each Dask worker's thread count); the
    checks too, with its messages (bands, optical input, input scale, tile size). ``chunk``:
    the task size in pixels along y and x, rounded to whole tiles. Returns an
    xarray.DataArray (band 1..3 = Red, Green, Blue; the input's y and x coordinates and
    ``spatial_ref``), uint16 reflectance x 10000, nodata 0 (``rio.nodata``), attributes
    ``long_name`` and the engine's S2O_* tags; compute it, or write it with
    :func:`write_translation` (or ``.rio.to_raster``).
    """
    require()
    import dask.array as da
    import rioxarray  # noqa: F401  (the .rio accessor)
    import xarray as xr

    say = log if log is not None else (lambda message: None)
    input_scale = check_scale_name(input_scale)
    check_device(device)
    batch_size = errors.whole_number(batch_size, "batch size")
    chunk = errors.whole_number(chunk, "chunk")
    arr = _as_bands(arr)
    count, height, width = arr.shape
    descriptions = _descriptions(arr)
    dtype = np.dtype(arr.dtype).name
    refuse_optical(SimpleNamespace(descriptions=descriptions, dtypes=[dtype] * count,
                                   colorinterp=[]))
    s2o = _client_model(model, descriptions, count, bands, say)
    meta = s2o.meta
    say(f"model {meta.name} {meta.version} ({s2o.path.name}), {meta.product}")
    tile = validate_tile_size(tile_size, meta.size_multiple, meta.halo)
    chosen = choose_bands(descriptions, count, bands, meta.input_bands)
    for note in polarisation_notes(descriptions, chosen, meta.input_bands):
        say(f"note: {note}")
    index = [b - 1 for b in chosen]
    nodata = (_nodata(arr),) * len(chosen)
    scales = tuple(_per_band(arr.attrs.get("scale_factor"), count, 1.0)[i] for i in index)
    offsets = tuple(_per_band(arr.attrs.get("add_offset"), count, 0.0)[i] for i in index)
    data = arr.data[index]
    stats = ValueStats.from_blocks(_samples(data, nodata, scales, offsets, height, width))
    decision = decide_input_scale(stats, input_scale, [descriptions[i] for i in index])
    say(f"input scale: {decision.scale} ({decision.reason})")
    if stats.n and stats.minimum == stats.maximum:
        say(errors.constant_input(stats.minimum))
    m, hp = meta.size_multiple, read_halo(meta.halo, meta.size_multiple)
    rows = grid_chunks(height, tile, m, meta.halo, chunk)
    cols = grid_chunks(width, tile, m, meta.halo, chunk)
    say(f"{width} x {height} px in {len(rows) * len(cols)} chunk(s) of tiles of {tile} px "
        f"(+{hp} px halo)")
    plan = _Plan(
        model_path=str(s2o.path), device=device, threads=threads, height=height, width=width,
        tile=tile, size_multiple=m, halo=meta.halo, scale=decision.scale,
        db_range=tuple(map(tuple, meta.input_db_range)),
        value_range=tuple(meta.output_value_range), dn_range=tuple(meta.output_dn_range),
        nodata=nodata, scales=scales, offsets=offsets, batch_size=batch_size)
    data = data.rechunk({0: -1, 1: rows, 2: cols})
    out = da.map_overlap(
        _translate_chunk, data, depth={0: 0, 1: hp, 2: hp}, boundary="none", trim=False,
        chunks=((3,), rows, cols), dtype=np.uint16, meta=np.empty((0, 0, 0), np.uint16),
        plan=plan, token="s2o-translate",
    )
    coords = {k: v for k, v in arr.coords.items() if "band" not in v.dims}
    coords["band"] = [1, 2, 3]
    result = xr.DataArray(out, dims=DIMS, coords=coords, name="s2o_optical",
                          attrs={"long_name": raster_io.RGB_DESCRIPTIONS, **output_tags(s2o)})
    if arr.rio.crs is not None:
        result = result.rio.write_crs(arr.rio.crs)
    return result.rio.write_nodata(raster_io.OUTPUT_NODATA, encoded=False)


def _translate_chunk(block: np.ndarray, plan: _Plan, block_info=None) -> np.ndarray:
    """One chunk (module docstring): ``block`` is the chunk with the overlap Dask gave it;
    returns the chunk's DN (3, rows, cols)."""
    (r0, r1), (c0, c1) = block_info[None]["array-location"][1:]
    hp = read_halo(plan.halo, plan.size_multiple)
    row0, col0 = max(0, r0 - hp), max(0, c0 - hp)  # scene position of block[:, 0, 0]
    threads = plan.threads if plan.threads is not None else worker_threads()
    model = MODELS.load(plan.model_path, plan.device, threads)
    values = np.asarray(block, dtype=np.float32).copy()
    invalid = raster_io.invalid_pixels(values, plan.nodata)
    raster_io.apply_scale_offset(values, plan.scales, plan.offsets)
    tiles = tile_grid(plan.height, plan.width, plan.tile, plan.size_multiple, plan.halo,
                      rows=range(r0, r1), cols=range(c0, c1))
    out = np.empty((3, r1 - r0, c1 - c0), np.uint16)
    for i in range(0, len(tiles), plan.batch_size):
        batch = tiles[i:i + plan.batch_size]
        inputs, valids = [], []
        for t in batch:
            ri = reflect_index(np.arange(t.read_row, t.read_row + t.read_height),
                               plan.height) - row0
            ci = reflect_index(np.arange(t.read_col, t.read_col + t.read_width),
                               plan.width) - col0
            if ri.min() < 0 or ri.max() >= block.shape[1] or ci.min() < 0 or \
                    ci.max() >= block.shape[2]:  # grid_chunks makes this impossible
                raise RuntimeError(f"tile at row {t.row}, column {t.col} reads outside its "
                                   f"chunk rows {r0}..{r1}, columns {c0}..{c1}")
            data = np.take(np.take(values, ri, axis=1), ci, axis=2)
            valid = ~np.take(np.take(invalid, ri, axis=0), ci, axis=1)
            core = valid[t.crop]
            inputs.append(network_input(data, valid, plan.scale, plan.db_range)
                          if core.any() else None)
            valids.append(core)
        active = [x for x in inputs if x is not None]
        ys = iter(model.run(np.stack(active)) if active else [])
        for t, x, core in zip(batch, inputs, valids, strict=True):
            y = None if x is None else next(ys)
            out[:, t.row - r0:t.row - r0 + t.height, t.col - c0:t.col - c0 + t.width] = \
                output_dn(y, t, core, plan.value_range, plan.dn_range)
    return out


# -- writing -------------------------------------------------------------------------------------
def _blocks(out):
    """(window, delayed block) for every chunk of the DataArray ``out``."""
    rows, cols = out.chunks[1], out.chunks[2]
    delayed = out.data.to_delayed()
    r = 0
    for i, h in enumerate(rows):
        c = 0
        for j, w in enumerate(cols):
            yield Window(c, r, w, h), delayed[0, i, j]
            c += w
        r += h


def write_translation(out, dst, *, client=None, progress: Callable[[float], None] | None = None,
                      log: Callable[[str], None] | None = None) -> Path:
    """Write the DataArray of :func:`translate_dataarray` to the GeoTIFF ``dst`` with the
    engine's writer (raster_io: the same profile, band labels and tags as translate_raster's,
    atomic: a temporary file beside ``dst``, checked and renamed when complete). Chunks are
    computed on ``client`` (default: the current distributed client, else Dask's default
    scheduler) and written here as they arrive; ``progress(percent)`` follows them."""
    require()
    import dask

    dst_path = raster_io.check_destination(dst)
    _, height, width = out.shape
    grid = SimpleNamespace(width=width, height=height, crs=out.rio.crs,
                           transform=out.rio.transform(), gcps=([], None))
    tags = {k: v for k, v in out.attrs.items() if k.startswith("S2O_")}
    if TAG_MODEL_FILE not in tags:
        raise InputError("write_translation writes what translate_dataarray returns: this "
                         "DataArray has no S2O_* attributes")
    blocks = list(_blocks(out))
    if client is None:
        try:
            from distributed import default_client

            client = default_client()
        except ValueError:
            client = None
    shape = raster_io.RasterShape(width, height, 3, "uint16")
    with raster_io.atomic_output(dst_path, shape, log=log) as tmp:
        with raster_io.create(tmp, raster_io.rgb_profile(grid)) as f:
            raster_io.label_rgb(f)
            f.update_tags(**tags)
            if progress is not None:
                progress(0.0)

            def write(window, dn, done):
                try:
                    f.write(np.asarray(dn), window=window)
                except (RasterioError, OSError) as exc:
                    raise OutputError(f"writing the output failed: {exc}") from exc
                if progress is not None:
                    progress(100.0 * done / len(blocks))

            if client is not None:
                from distributed import as_completed

                futures = {client.compute(b): w for w, b in blocks}
                try:
                    for done, future in enumerate(as_completed(futures, loop=client.loop), start=1):
                        write(futures[future], future.result(), done)
                        future.release()
                except BaseException:
                    client.cancel(list(futures))
                    raise
            else:
                step = os.cpu_count() or 1
                for k in range(0, len(blocks), step):
                    part = blocks[k:k + step]
                    for n, ((window, _), dn) in enumerate(
                            zip(part, dask.compute(*[b for _, b in part]), strict=True)):
                        write(window, dn, k + n + 1)
    return dst_path
