"""translate_raster: a Sentinel-1 raster of any size -> a Sentinel-2-like RGB GeoTIFF.

Per batch of tiles (tiling.tile_grid; all read windows share one shape):

    read window + halo (reflected beyond the scene)  ->  nodata mask (nodata value, NaN/inf,
    GDAL mask)  ->  to dB (input scale)  ->  x = 2 (clip(dB, lo, hi) - lo) / (hi - lo) - 1
    ->  nodata pixels set to x = NODATA_INPUT = 0 (mid-range, neutral backscatter: no NaN or
    extreme value reaches their neighbours, and no dark "water" band along nodata edges)
    ->  session.run  ->  DN = dlo + (clip(y, a, b) - a)(dhi - dlo)
    / (b - a), rounded, clipped to [1, 65535]  ->  crop the halo  ->  0 (nodata) where the input
    was nodata  ->  write the window.

Tiles whose written part holds no valid pixel are written as nodata without inference. Reading
and preparing the next batch and writing the previous one run in two worker threads while the
model runs, so the model's throughput sets the pace; memory stays bounded by about three batches
of read windows, whatever the scene size. Everything is checked before the first tile (input,
destination, model, bands, input scale, tile size) and the output is atomic (raster_io).

Model: without a model given, the embedded model that fits the input's bands
(radiometry.embedded_layout: VV+VH -> model.DEFAULT_MODEL_PATH, VV alone -> model.VV_MODEL_PATH;
HH/HV refused unless the bands are chosen); the log says which and why. The output's dataset
tags (TAG_* below) name the model and the Sentinel-2 product it imitates (metadata.s2_level).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rasterio.errors import RasterioError
from rasterio.windows import Window

from . import errors, raster_io, signals
from .errors import Cancelled, InputError, ModelError, OutputError, whole_number
from .input_kind import refuse_optical
from .memory import TRIM_EVERY_S, release_freed_memory
from .metadata import layout_name
from .model import DEFAULT_DEVICE, S2OModel, embedded_model_path
from .radiometry import (
    DEFAULT_INPUT_SCALE,
    NODATA_INPUT,
    OUTPUT_NODATA,
    ValueStats,
    check_scale_name,
    choose_bands,
    decide_input_scale,
    embedded_layout,
    network_to_uint16,
    polarisation_notes,
    sar_to_network,
)
from .tiling import (
    DEFAULT_BATCH,
    DEFAULT_TILE,
    Tile,
    min_tile_size,
    read_halo,
    tile_grid,
    validate_tile_size,
)

# dataset tags (GDAL metadata) of a translated GeoTIFF
TAG_MODEL = "S2O_MODEL"  # model name and version
TAG_MODEL_FILE = "S2O_MODEL_FILE"  # the model file's name
TAG_S2_LEVEL = "S2O_S2_LEVEL"  # the Sentinel-2 level imitated: "L2A" or "L1C"
TAG_PRODUCT = "S2O_PRODUCT"  # the same in words: "Sentinel-2 L2A-like (surface reflectance)"


@dataclass
class TranslateResult:
    dst: Path
    provider: str
    input_scale: str
    scale_reason: str
    bands: list[int]
    width: int
    height: int
    tiles: int
    seconds: float
    skipped_tiles: int = 0  # tiles without any valid pixel (no inference)
    model_name: str = ""
    model_path: Path | None = None
    model_choice: str = ""  # why this embedded model was chosen ("" when the caller gave one)
    s2_level: str = ""  # the Sentinel-2 level the model imitates ("L2A", "L1C")
    product: str = ""  # the same in words ("Sentinel-2 L2A-like (surface reflectance)")
    log: list[str] = field(default_factory=list)


@raster_io.bounded_gdal_cache
def translate_raster(
    src,
    dst,
    model=None,
    *,
    bands: Sequence[int] | None = None,
    input_scale: str = DEFAULT_INPUT_SCALE,
    tile_size: int = DEFAULT_TILE,
    batch_size: int = DEFAULT_BATCH,
    device: str = DEFAULT_DEVICE,
    threads: int | None = None,
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
    loader: Callable[..., S2OModel] = S2OModel.load,
) -> TranslateResult:
    """Translate the Sentinel-1 raster ``src`` into the RGB GeoTIFF ``dst``.

    ``model``: an :class:`S2OModel`, a path to an s2o ONNX file, or None for the embedded model
    that fits the input's bands (VV+VH or VV only; module docstring) (``device`` and ``threads``
    apply when the model is loaded here). ``bands``: 1-based raster bands for the model's input
    bands (default: from band descriptions, see choose_bands; with ``model`` None, one band
    chosen means the VV-only model, and choosing bands is how HH/HV rasters are run anyway).
    ``input_scale``: "auto", "linear", "db" or "amplitude". ``tile_size``: core tile edge in
    pixels (a multiple of the model's size multiple). ``batch_size``: tiles per session.run.
    ``progress(percent)`` is called with 0..100, monotonically; ``is_cancelled()`` is polled
    between batches (Cancelled is raised and nothing is left at ``dst``); ``log(message)``
    receives the model (which, why, the product it imitates), provider, bands, scale decision
    and grid. ``loader(path, device, threads)`` opens a model file (default S2OModel.load; a
    runner of many scenes passes a cache, so that a process loads each model once).

    Raises InputError, ModelError, OutputError or Cancelled with a message for the user.
    """
    started = time.perf_counter()
    messages: list[str] = []

    def say(message: str) -> None:
        messages.append(message)
        if log is not None:
            log(message)

    def check_cancel() -> None:
        signals.raise_if_received()  # a termination signal whose exception was lost (signals)
        if is_cancelled is not None and is_cancelled():
            raise Cancelled(errors.cancelled(dst))

    input_scale = check_scale_name(input_scale)
    batch_size = whole_number(batch_size, "batch size")
    with raster_io.open_raster(os.fspath(src)) as ds:
        dst_path = raster_io.check_destination(dst, raster_io.input_files(ds))
        refuse_optical(ds)
        s2o, choice = _pick_model(ds, model, bands, device, threads, loader, say)
        meta = s2o.meta
        tile = validate_tile_size(tile_size, meta.size_multiple, meta.halo)
        chosen, decision = _input_bands_and_scale(ds, meta.input_bands, bands, input_scale, say)
        grid = tile_grid(ds.height, ds.width, tile, meta.size_multiple, meta.halo)
        if ds.crs is None and not ds.gcps[0]:
            say("the input has no georeference: neither will the output")
        say(f"{ds.width} x {ds.height} px in {len(grid)} tile(s) of {tile} px "
            f"(+{read_halo(meta.halo, meta.size_multiple)} px halo), batch {batch_size}")
        check_cancel()
        pipeline = _TilePipeline(ds, s2o, chosen, decision.scale)
        shape = raster_io.RasterShape(ds.width, ds.height, 3, "uint16")
        with raster_io.atomic_output(dst_path, shape, log=say) as tmp:
            with raster_io.create(tmp, raster_io.rgb_profile(ds)) as out:
                raster_io.label_rgb(out)
                out.update_tags(**output_tags(s2o))
                raster_io.copy_gcps(ds, out)
                try:
                    skipped = pipeline.run(out, grid, batch_size, progress, check_cancel)
                except MemoryError as exc:
                    raise InputError(errors.tile_too_large(
                        tile, _smaller_tile(tile, meta.size_multiple, meta.halo), batch_size,
                    )) from exc
        result = TranslateResult(
            dst=dst_path, provider=s2o.provider, input_scale=decision.scale,
            scale_reason=decision.reason, bands=chosen, width=ds.width, height=ds.height,
            tiles=len(grid), seconds=0.0, skipped_tiles=skipped,
            model_name=f"{meta.name} {meta.version}", model_path=s2o.path,
            model_choice=choice, s2_level=meta.s2_level, product=meta.product, log=messages,
        )
    result.seconds = time.perf_counter() - started
    say(f"wrote {dst_path} in {result.seconds:.1f} s")
    return result


def _pick_model(ds, model, bands, device, threads, loader, say) -> tuple[S2OModel, str]:
    """(the model to run, why it was picked: "" for a model the caller gave) and its log line."""
    choice = ""
    if model is None:
        s2o, choice = embedded_model(ds.descriptions, ds.count, bands, device, threads, loader)
        say(f"model: the embedded {layout_name(s2o.meta.input_bands)} model, picked because "
            f"{choice}")
    else:
        s2o = model if isinstance(model, S2OModel) else loader(model, device, threads)
    meta = s2o.meta
    say(f"model {meta.name} {meta.version} ({s2o.path.name}), {meta.product}, on {s2o.provider}")
    return s2o, choice


def _input_bands_and_scale(ds, wanted, bands, input_scale, say):
    """(the raster bands for the model's input bands ``wanted``, the input-scale decision),
    checked on the raster and said in the log with every note on them."""
    chosen = choose_bands(ds.descriptions, ds.count, bands, wanted)
    names = [ds.descriptions[b - 1] or f"band {b}" for b in chosen]
    say("bands: " + ", ".join(f"{want} <- {b} ({n})"
                              for want, b, n in zip(wanted, chosen, names, strict=True)))
    for note in polarisation_notes(ds.descriptions, chosen, wanted):
        say(f"note: {note}")
    raster_io.check_real_bands(ds, chosen)
    for note in raster_io.scale_offset_notes(ds, chosen):
        say(note)
    stats = ValueStats.from_blocks(raster_io.sample_blocks(ds, chosen))
    decision = decide_input_scale(stats, input_scale, [ds.descriptions[b - 1] for b in chosen])
    say(f"input scale: {decision.scale} ({decision.reason})")
    if stats.n and stats.minimum == stats.maximum:
        say(errors.constant_input(stats.minimum))
    return chosen, decision


def _smaller_tile(tile: int, size_multiple: int, halo: int) -> int | None:
    """About half of ``tile`` that the model takes, or None when ``tile`` is the smallest."""
    low = min_tile_size(size_multiple, halo)
    half = max(tile // 2 // size_multiple * size_multiple, low)
    return half if half < tile else None


def embedded_model(descriptions, count: int, bands=None, device: str = DEFAULT_DEVICE,
                   threads: int | None = None,
                   loader: Callable[..., S2OModel] = S2OModel.load) -> tuple[S2OModel, str]:
    """The embedded model that fits a raster of ``count`` bands described ``descriptions`` (or
    the ``bands`` chosen), and why, opened with ``loader(path, device, threads)``. The raster
    is checked against that layout before the model is looked for, so a raster no embedded
    model can read is refused for what it is, not for a missing model."""
    layout, why = embedded_layout(descriptions, count, bands)
    choose_bands(descriptions, count, bands, layout)
    s2o = loader(embedded_model_path(layout, why), device, threads)
    if tuple(s2o.meta.input_bands) != layout:
        raise ModelError(
            f"the embedded model {s2o.path} takes {'+'.join(s2o.meta.input_bands)}, not "
            f"{'+'.join(layout)} as its file name says: reinstall the s2o plugin"
        )
    return s2o, why


def output_tags(model: S2OModel) -> dict:
    """The dataset tags of a translated GeoTIFF (TAG_*): which model, which Sentinel-2 product."""
    meta = model.meta
    return {TAG_MODEL: f"{meta.name} {meta.version}", TAG_MODEL_FILE: model.path.name,
            TAG_S2_LEVEL: meta.s2_level, TAG_PRODUCT: meta.product}


def network_input(data: np.ndarray, valid: np.ndarray, scale: str, db_range) -> np.ndarray:
    """The network input of one read window: ``data`` (C, h, w), the values read in ``scale``,
    mapped to [-1, 1]; pixels not ``valid`` set to NODATA_INPUT."""
    x = sar_to_network(data, scale, db_range)
    x[:, ~valid] = NODATA_INPUT
    return x


def output_dn(y: np.ndarray | None, tile: Tile, valid: np.ndarray, value_range,
              dn_range) -> np.ndarray:
    """The pixels ``tile`` writes (3, height, width) uint16 from the network's output ``y`` for
    its read window (None: no valid pixel, no inference): the halo cropped, reflectance x 10000,
    OUTPUT_NODATA where the input's crop is not ``valid``."""
    if y is None:
        return np.full((3, tile.height, tile.width), OUTPUT_NODATA, np.uint16)
    rs, cs = tile.crop
    dn = network_to_uint16(y[:, rs, cs], value_range, dn_range)  # valid pixels >= MIN_VALID_DN
    dn[:, ~valid] = OUTPUT_NODATA
    return dn


class _TilePipeline:
    """One translation as three stages over batches of tiles: prepare (read + scale), infer,
    write. Prepare and write run in one worker thread each, infer in the calling thread, so
    reading, the model and writing overlap (run() says in which order)."""

    def __init__(self, ds, model: S2OModel, bands: list[int], scale: str):
        self.ds, self.model, self.bands, self.scale = ds, model, bands, scale
        meta = model.meta
        self.db_range = meta.input_db_range
        self.value_range, self.dn_range = meta.output_value_range, meta.output_dn_range

    def prepare(self, tiles: list[Tile]) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
        """Network inputs (None for tiles without a valid pixel) and valid masks of the crops."""
        inputs, valids = [], []
        for t in tiles:
            data, valid = raster_io.read_window(self.ds, self.bands, t.read_row, t.read_col,
                                                t.read_height, t.read_width)
            core = valid[t.crop]
            if core.any():
                inputs.append(network_input(data, valid, self.scale, self.db_range))
            else:
                inputs.append(None)
            valids.append(core)
        return inputs, valids

    def infer(self, inputs: list[np.ndarray | None]) -> list[np.ndarray | None]:
        active = [x for x in inputs if x is not None]
        if not active:
            return [None] * len(inputs)
        y = iter(self.model.run(np.stack(active)))
        return [None if x is None else next(y) for x in inputs]

    def write(self, out, tiles: list[Tile], outputs, valids) -> None:
        for t, y, valid in zip(tiles, outputs, valids, strict=True):
            dn = output_dn(y, t, valid, self.value_range, self.dn_range)
            try:
                out.write(dn, window=Window(t.col, t.row, t.width, t.height))
            except (RasterioError, OSError) as exc:
                raise OutputError(f"writing the output failed: {exc}") from exc
        release_freed_memory(TRIM_EVERY_S)  # flat resident memory over any number of tiles

    def run(self, out, grid: list[Tile], batch_size: int, progress, check_cancel) -> int:
        """Write every tile of ``grid`` to ``out``; return how many had no valid pixel.

        While the model runs on batch i, the reader already prepares batch i + 1 (read-ahead)
        and the writer still writes batch i - 1 (write-behind):

            reader:  prepare(i+1)
            caller:  infer(i)  ->  wait for write(i-1)  ->  submit write(i)
            writer:  write(i-1)                              write(i)

        The order matters: (1) batch i + 1 is submitted before infer(i), or the reader would
        idle while the model runs; (2) write(i - 1) is waited for before write(i) is submitted,
        so at most one batch is queued for writing (memory stays about three batches of read
        windows: being prepared, inferred, written) and a write error surfaces at the next
        batch, not after the whole scene; (3) each stage's thread pool has one worker, because
        a rasterio dataset must not be used by two threads at once (reads share ``self.ds``,
        writes share ``out``). Leaving the ``with`` waits for both workers, so no thread still
        touches a dataset when it is closed, whatever was raised (cancel, errors)."""
        batches = [grid[i:i + batch_size] for i in range(0, len(grid), batch_size)]
        done = skipped = 0
        if progress is not None:
            progress(0.0)
        with ThreadPoolExecutor(1, "s2o-read") as reader, \
                ThreadPoolExecutor(1, "s2o-write") as writer:
            read_ahead = reader.submit(self.prepare, batches[0])
            write_behind = None  # the previous batch's write, still running
            for i, batch in enumerate(batches):
                check_cancel()
                inputs, valids = read_ahead.result()
                if i + 1 < len(batches):
                    read_ahead = reader.submit(self.prepare, batches[i + 1])  # (1)
                outputs = self.infer(inputs)
                skipped += sum(x is None for x in inputs)
                if write_behind is not None:
                    write_behind.result()  # (2): raises the previous batch's write error
                write_behind = writer.submit(self.write, out, batch, outputs, valids)
                done += len(batch)  # computed (its write follows): a percentage from tile 1 on
                if progress is not None and done < len(grid):
                    progress(100.0 * done / len(grid))
            write_behind.result()
        if progress is not None:
            progress(100.0)
        return skipped
