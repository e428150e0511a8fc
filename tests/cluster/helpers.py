"""Real Sentinel-1 scenes of tests/data for the cluster tests, and what they check with."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import rasterio

from s2o_qgis_plugin.engine.raster_io import TMP_MARK
from s2o_qgis_plugin.engine.translate import translate_raster

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
PUNJAB = DATA / "heldout" / "punjab_s1.tif"  # 264 x 264, EPSG:4326, nodata NaN (held out)
HEFEI = DATA / "heldout" / "hefei_s1.tif"  # 256 x 256, EPSG:32650, no nodata
MOSAIC = DATA / "bigearthnet" / "s1_mosaic.tif"  # 240 x 360, EPSG:32633, nodata NaN
PATCHES = sorted((DATA / "bigearthnet" / "s1").glob("*.tif"))  # 120 x 120 BigEarthNet patches
N_WORKERS = 2


def truncated_copy(src: Path, dst: Path, n_bytes: int = 20_000) -> Path:
    """A GeoTIFF cut short, as an interrupted download leaves it."""
    dst.write_bytes(src.read_bytes()[:n_bytes])
    return dst


def scene_folder(folder: Path, scenes, broken: str | None = "broken.tif") -> Path:
    """``folder`` holding copies of ``scenes`` and, unless None, a truncated GeoTIFF."""
    folder.mkdir(parents=True, exist_ok=True)
    for s in scenes:
        shutil.copy(s, folder / s.name)
    if broken:
        truncated_copy(HEFEI, folder / broken)
    return folder


def enlarged(src: Path, dst: Path, rows: int = 2, cols: int = 2) -> Path:
    """A larger scene of real values: ``src`` and its mirror image side by side ``cols`` times,
    that row and its mirror image ``rows`` times; the same CRS, origin and pixel size."""
    with rasterio.open(src) as s:
        data, profile, names = s.read(), s.profile, s.descriptions
    row = np.concatenate([data, data[:, :, ::-1]] * cols, axis=2)
    big = np.concatenate([row, row[:, ::-1]] * rows, axis=1)
    profile.update(height=big.shape[1], width=big.shape[2], tiled=True, blockxsize=256,
                   blockysize=256)
    with rasterio.open(dst, "w", **profile) as d:
        d.write(big)
        for i, name in enumerate(names, start=1):
            d.set_band_description(i, name)
    return dst


def engine_output(src: Path, dst: Path, **options) -> np.ndarray:
    """What the single-machine engine writes for ``src`` (translate_raster), as an array."""
    translate_raster(src, dst, **options)
    with rasterio.open(dst) as d:
        return d.read()


def temporaries(folder: Path) -> list[Path]:
    """The engine's temporary outputs in ``folder`` (a partial file left behind)."""
    return [p for p in folder.iterdir() if TMP_MARK in p.name]
