"""Seeded raster generators and QGIS helpers for the plugin's QGIS tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from tests.engine import fixtures as engine_fixtures

ROOT = Path(__file__).resolve().parents[2]
BIGEARTHNET = ROOT / "tests" / "data" / "bigearthnet"
SAR_NODATA = -9999.0


def write_raster(
    path, data, *, crs="EPSG:4326", origin=(10.0, 50.0), res=0.0001, nodata=None, descriptions=None
) -> str:
    """A GeoTIFF of ``data`` (bands, rows, cols) with a north-up transform."""
    transform = from_origin(*origin, res, res)
    return str(engine_fixtures.write_raster(path, data, crs=crs, transform=transform,
                                            nodata=nodata, descriptions=descriptions))


def sar_4326(path, *, width=67, height=45, seed=0) -> str:
    """VV/VH sigma0 in dB (described "VV", "VH"), EPSG:4326, a nodata corner block."""
    rng = np.random.default_rng(seed)
    vv = rng.normal(-12.0, 3.0, (height, width))
    vh = vv - 7.0 + rng.normal(0.0, 1.0, (height, width))
    data = np.stack([vv, vh]).astype("float32")
    data[:, :8, :10] = SAR_NODATA
    return write_raster(path, data, nodata=SAR_NODATA, descriptions=["VV", "VH"])


def rgb_4326(path, *, width=67, height=45, seed=1, nodata=0) -> str:
    """Reflectance x 10000 (uint16) with descriptions Red/Green/Blue and a nodata block."""
    rng = np.random.default_rng(seed)
    smooth = rng.integers(200, 2800, (3, height // 3 + 1, width // 3 + 1))
    data = np.repeat(np.repeat(smooth, 3, axis=1), 3, axis=2)[:, :height, :width]
    data = (data + rng.integers(0, 50, data.shape)).astype("uint16")
    data[:, -5:, -6:] = nodata
    return write_raster(path, data, nodata=nodata, descriptions=["Red", "Green", "Blue"])


def bigearthnet(kind: str, tmp_path, name: str | None = None) -> str:
    """A copy (in ``tmp_path``, so QGIS writes nothing beside the committed files) of a real
    BigEarthNet fixture: ``kind`` "s1" or "s2" and a patch id, or "s1_mosaic" / "s2_mosaic"."""
    src = BIGEARTHNET / f"{kind}.tif" if name is None else BIGEARTHNET / kind / f"{name}.tif"
    dst = Path(tmp_path) / f"{kind}_{name or 'scene'}.tif"
    shutil.copyfile(src, dst)
    return str(dst)


def patch_ids() -> list[str]:
    """The BigEarthNet fixture ids of the held-out test split (and the others after them)."""
    splits = json.loads((BIGEARTHNET / "splits.json").read_text())
    return list(splits["test"]) + list(splits["val"]) + list(splits["train"])


def grid(path) -> tuple:
    """(CRS, transform, width, height) of a raster, to compare georeferencing."""
    with rasterio.open(path) as ds:
        return ds.crs, ds.transform, ds.width, ds.height


def qgis_process_run(algorithm: str, params: dict, env: dict, timeout=300):
    """Run ``qgis_process.bin run`` with --KEY=VALUE arguments; return the CompletedProcess."""
    from scripts.qgis_env import qgis_process_cmd

    args = [f"--{k}={v}" for k, v in params.items()]
    return subprocess.run(
        qgis_process_cmd("run", algorithm, *args),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def installed_profile(tmp_path) -> dict:
    """A fresh QGIS profile with the plugin zip installed and enabled; its environment."""
    from scripts.build_plugin import build_zip, install
    from scripts.qgis_env import qgis_env

    env = qgis_env(dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(tmp_path / "qgis")))
    install(build_zip(tmp_path / "dist"), env)
    return env
