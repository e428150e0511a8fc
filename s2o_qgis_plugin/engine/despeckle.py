"""Perona-Malik despeckling of one band of a SAR raster (the scheme: diffusion.py), streamed in
tiles into a float32 GeoTIFF.

Speckle is multiplicative, so it is additive in dB: the diffusion runs on 10 log10(sigma0)
and ``kappa`` is in dB. The output is in the input's scale (linear in, linear out). Zero or
negative linear values get the -50 dB floor of radiometry.to_db.

Tiling: one iteration widens a pixel's dependency by one pixel, so tiles read with a halo of
``iterations`` pixels (clipped at the scene's edges, which are boundaries in the whole image
too) give exactly the whole-image result (tests/engine prove bitwise equality).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.errors import RasterioError
from rasterio.windows import Window

from . import errors, raster_io
from .diffusion import (  # noqa: F401 (perona_malik and the limits: also this module's API)
    DEFAULT_ITERATIONS,
    DEFAULT_KAPPA,
    DEFAULT_TILE_SIZE,
    DEFAULT_TIME_STEP,
    check_parameters,
    perona_malik,
)
from .errors import Cancelled, InputError, OutputError
from .input_kind import refuse_optical
from .radiometry import ValueStats, check_scale_name, decide_input_scale, from_db, to_db
from .tiling import clipped_grid, validate_tile_size


@dataclass
class DespeckleResult:
    dst: Path
    band: int
    input_scale: str
    iterations: int
    kappa: float
    time_step: float
    width: int
    height: int
    tiles: int
    seconds: float


@raster_io.bounded_gdal_cache
def despeckle_raster(
    src,
    dst,
    *,
    band: int = 1,
    iterations: int = DEFAULT_ITERATIONS,
    kappa: float = DEFAULT_KAPPA,
    time_step: float = DEFAULT_TIME_STEP,
    input_scale: str = "db",
    tile_size: int = DEFAULT_TILE_SIZE,
    progress: Callable[[float], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    log: Callable[[str], None] | None = None,
) -> DespeckleResult:
    """Despeckle band ``band`` of ``src`` into a float32 single-band GeoTIFF ``dst`` on the
    same grid, in the input's scale ``input_scale`` ("db", "linear", "amplitude", or "auto" to
    decide as translate_raster does). Nodata (the band's nodata value, NaN/inf) stays nodata: the
    output's nodata is the input's, NaN when it has none. Streamed in tiles of ``tile_size``
    with a halo of ``iterations`` pixels; atomic output; ``progress``/``is_cancelled``/``log``
    as in translate_raster."""
    started = time.perf_counter()
    iterations, kappa, time_step = check_parameters(iterations, kappa, time_step)
    input_scale = check_scale_name(input_scale)
    with raster_io.open_raster(os.fspath(src)) as ds:
        dst_path = raster_io.check_destination(dst, raster_io.input_files(ds))
        refuse_optical(ds)
        if isinstance(band, bool) or not isinstance(band, (int, np.integer)) \
                or not 1 <= band <= ds.count:
            raise InputError(f"band {band!r} does not exist: the raster has bands 1..{ds.count}")
        tile = validate_tile_size(tile_size, 1, iterations)
        stats = ValueStats.from_blocks(raster_io.sample_blocks(ds, [band]))
        decision = decide_input_scale(stats, input_scale, [ds.descriptions[band - 1]])
        if log is not None:
            log(f"input scale: {decision.scale} ({decision.reason}); Perona-Malik in dB, "
                f"{iterations} iterations, kappa {kappa:g} dB, time step {time_step:g}")
        nodata = ds.nodatavals[band - 1]
        out_nodata = float("nan") if nodata is None else float(nodata)
        grid = clipped_grid(ds.height, ds.width, tile, iterations)
        shape = raster_io.RasterShape(ds.width, ds.height, 1, "float32")
        with raster_io.atomic_output(dst_path, shape, log=log) as tmp:
            with raster_io.create(tmp, raster_io.float_profile(ds, out_nodata)) as out:
                name = ds.descriptions[band - 1] or f"band {band}"
                out.set_band_description(1, f"{name} despeckled (Perona-Malik, {iterations} "
                                            f"it., kappa {kappa:g} dB)")
                raster_io.copy_gcps(ds, out)
                for i, t in enumerate(grid):
                    if is_cancelled is not None and is_cancelled():
                        raise Cancelled(errors.cancelled(dst))
                    data, valid = raster_io.read_window(ds, [band], t.read_row, t.read_col,
                                                        t.read_height, t.read_width)
                    db = perona_malik(to_db(data[0], decision.scale), iterations, kappa,
                                      time_step, valid)
                    rs, cs = t.crop
                    res = from_db(db[rs, cs], decision.scale)
                    res[~valid[rs, cs]] = out_nodata
                    try:
                        out.write(res[None], window=Window(t.col, t.row, t.width, t.height))
                    except (RasterioError, OSError) as exc:
                        raise OutputError(f"writing the output failed: {exc}") from exc
                    if progress is not None:
                        progress(100.0 * (i + 1) / len(grid))
        return DespeckleResult(dst_path, band, decision.scale, iterations, kappa, time_step,
                               ds.width, ds.height, len(grid), time.perf_counter() - started)
