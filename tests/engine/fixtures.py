"""Seeded generators of tiny s2o-like ONNX models and Sentinel-1-like GeoTIFFs for engine tests.

The test network (built with onnx.helper, no torch) is a small encoder-decoder shaped like the
real generator: Conv3x3 -> Relu -> Conv3x3/2 -> Relu -> Conv3x3/2 -> Relu -> Resize x2 -> Conv3x3
-> Relu -> Resize x2 -> Conv3x3 -> Tanh, dynamic N, H, W; total stride 4. Its receptive-field
radius is computed from the layer list by :func:`receptive_halo` (and checked empirically in
test_engine_tiling.py), so the seam tests run against a correctly declared halo.
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import time
from pathlib import Path

import numpy as np
import onnx
import rasterio
from onnx import TensorProto, helper, numpy_helper
from rasterio.transform import from_origin

from s2o_qgis_plugin.engine import metadata as md
from s2o_qgis_plugin.engine.radiometry import DEFAULT_DB_RANGES, DEFAULT_DN_RANGE, NETWORK_RANGE

# ("conv", kernel, stride) with padding kernel // 2; ("up",) = nearest x2 (asymmetric, floor)
LAYERS = (("conv", 3, 1), ("conv", 3, 2), ("conv", 3, 2), ("up",), ("conv", 3, 1), ("up",),
          ("conv", 3, 1))
SIZE_MULTIPLE = 4
OPSET = 17


def receptive_halo(layers=LAYERS, probe: int = 64) -> int:
    """Largest distance between an output pixel and an input pixel it depends on.

    Walks an output index interval back through the layers: a conv (kernel k, stride s, pad
    k//2) maps [a, b] to [s a - k//2, s b - k//2 + k - 1]; nearest x2 upsampling maps [a, b] to
    [floor(a/2), floor(b/2)]. The maximum of p - a(p) and b(p) - p over output pixels p is the
    halo (the pattern repeats with the total stride, so a few dozen p suffice).
    """
    worst = 0
    for p in range(probe):
        a, b = p, p
        for layer in reversed(layers):
            if layer[0] == "conv":
                _, k, s = layer
                a, b = s * a - k // 2, s * b - k // 2 + k - 1
            else:
                a, b = a // 2, b // 2
        worst = max(worst, p - a, b - p)
    return worst


TEST_MODEL_HALO = receptive_halo()


def model_metadata(input_bands=("VV", "VH"), halo=TEST_MODEL_HALO, **overrides) -> md.ModelMetadata:
    meta = md.ModelMetadata(
        name="s2o-test", version="0.0.1", input_bands=list(input_bands),
        input_db_range=[list(DEFAULT_DB_RANGES[b]) for b in input_bands],
        output_value_range=list(NETWORK_RANGE), output_dn_range=list(DEFAULT_DN_RANGE),
        size_multiple=SIZE_MULTIPLE, halo=halo, description="tiny random network for engine tests",
    )
    for key, value in overrides.items():
        setattr(meta, key, value)
    return meta.validate()


def build_model(
    input_bands=("VV", "VH"),
    *,
    halo: int = TEST_MODEL_HALO,
    seed: int = 0,
    features: int = 8,
    out_channels: int = 3,
    graph_in_channels: int | None = None,
    input_rank: int = 4,
    with_metadata: bool = True,
    meta: md.ModelMetadata | None = None,
) -> onnx.ModelProto:
    """The test network as an onnx.ModelProto. ``graph_in_channels`` and ``input_rank`` let a
    test build a graph that disagrees with its metadata; ``with_metadata=False`` gives a
    foreign ONNX file."""
    rng = np.random.default_rng(seed)
    meta = meta or model_metadata(input_bands, halo)
    cin = graph_in_channels or len(input_bands)
    dims = ["N", cin, "H", "W"] if input_rank == 4 else [cin, "H", "W"]
    x_name, y_name = meta.input_name, meta.output_name
    inits, nodes = [], []
    current, channels, n = x_name, cin, 0
    if input_rank != 4:
        inits.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "axes0"))
        nodes.append(helper.make_node("Unsqueeze", [current, "axes0"], ["x4"]))
        current = "x4"
    last_conv = max(i for i, layer in enumerate(LAYERS) if layer[0] == "conv")
    inits.append(numpy_helper.from_array(np.array([], dtype=np.float32), "roi"))
    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales"))
    for i, layer in enumerate(LAYERS):
        n += 1
        if layer[0] == "up":
            out = f"up{n}"
            nodes.append(helper.make_node(
                "Resize", [current, "roi", "scales"], [out], mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
            current = out
            continue
        _, k, s = layer
        last = i == last_conv
        cout = out_channels if last else features
        w = rng.normal(0.0, math.sqrt(2.0 / (channels * k * k)), (cout, channels, k, k))
        b = rng.normal(0.0, 0.1, cout)
        inits += [numpy_helper.from_array(w.astype(np.float32), f"w{n}"),
                  numpy_helper.from_array(b.astype(np.float32), f"b{n}")]
        out = f"conv{n}"
        nodes.append(helper.make_node("Conv", [current, f"w{n}", f"b{n}"], [out],
                                      kernel_shape=[k, k], strides=[s, s], pads=[k // 2] * 4))
        act = "Tanh" if last else "Relu"
        nodes.append(helper.make_node(act, [out], [y_name if last else f"act{n}"]))
        current, channels = f"act{n}", cout
    graph = helper.make_graph(
        nodes, "s2o_test",
        [helper.make_tensor_value_info(x_name, TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info(y_name, TensorProto.FLOAT, ["N", out_channels, "H", "W"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    if with_metadata:
        md.write_to_onnx_model(model, meta)
    return model


def make_model(path, input_bands=("VV", "VH"), **kwargs) -> Path:
    """Write :func:`build_model` to ``path`` and return it."""
    path = Path(path)
    onnx.save(build_model(input_bands, **kwargs), str(path))
    return path


# -- rasters -------------------------------------------------------------------------------------
UTM_TRANSFORM = from_origin(500000.0, 5600000.0, 10.0, 10.0)
WGS84_TRANSFORM = from_origin(13.0, 48.0, 0.0001, 0.0001)
ENL = 4.4  # equivalent number of looks of Sentinel-1 IW GRD


def sar_db(height: int, width: int, n_bands: int = 2, seed: int = 0) -> np.ndarray:
    """Sentinel-1-like sigma0 in dB, (n_bands, H, W) float32: land at -8 dB with a dark "lake"
    at -20 dB and a gentle gradient, VH 6 dB below VV, gamma speckle of ENL 4.4 per band."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = -8.0 + 3.0 * xx / max(width, 1)
    lake = (yy - 0.6 * height) ** 2 + (xx - 0.3 * width) ** 2 < (0.25 * min(height, width)) ** 2
    base[lake] = -20.0
    out = []
    for b in range(n_bands):
        lin = 10 ** ((base - 6.0 * b) / 10) * rng.gamma(ENL, 1.0 / ENL, base.shape)
        out.append(10 * np.log10(lin))
    return np.stack(out).astype(np.float32)


def db_as(db: np.ndarray, scale: str) -> np.ndarray:
    """sigma0 dB values in another scale ("db", "linear" or "amplitude")."""
    if scale == "db":
        return db.astype(np.float32)
    lin = 10 ** (db.astype(np.float64) / 10)
    return (lin if scale == "linear" else np.sqrt(lin)).astype(np.float32)


def write_raster(path, data: np.ndarray, *, crs="EPSG:32633", transform=None, nodata=None,
                 descriptions=None, dtype=None) -> Path:
    """Write (C, H, W) ``data`` as a GeoTIFF."""
    path = Path(path)
    data = np.asarray(data)
    if transform is None:
        transform = WGS84_TRANSFORM if str(crs) == "EPSG:4326" else UTM_TRANSFORM
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                   dtype=dtype or data.dtype, crs=crs, transform=transform, nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(profile["dtype"]))
        for i, d in enumerate(descriptions or (), start=1):
            dst.set_band_description(i, d)
    return path


def write_sar(path, height: int, width: int, *, n_bands: int = 2, scale: str = "db", seed: int = 0,
              descriptions=None, **kwargs) -> Path:
    """A Sentinel-1-like GeoTIFF (see :func:`sar_db`) in the given scale."""
    data = db_as(sar_db(height, width, n_bands, seed), scale)
    return write_raster(path, data, descriptions=descriptions, **kwargs)


# -- a real file system that fills up ------------------------------------------------------------
@contextlib.contextmanager
def small_tmpfs(folder, size: str = "1m"):
    """Mount a tmpfs of ``size`` on ``folder`` (created) for the block: ENOSPC for real. Skips
    the test, with the reason, where mounting is not permitted (not root, no mount command, a
    container without CAP_SYS_ADMIN)."""
    import pytest

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs for the full-disk test: {exc}")
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs for the full-disk test (needs root or CAP_SYS_ADMIN): "
                    + (r.stderr.strip() or f"mount exited {r.returncode}"))
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


# -- what a run leaves beside its output (the fault tests of the CLI and of QGIS) ------------------


def temporaries(folder) -> list[str]:
    """Names of the engine's temporary files in folder (raster_io.TMP_MARK)."""
    from s2o_qgis_plugin.engine.raster_io import TMP_MARK

    return sorted(p.name for p in Path(folder).iterdir() if TMP_MARK in p.name)


def earlier_output(dst: Path, model) -> bytes:
    """A good translation at ``dst`` (a small scene), as a user's earlier result; its bytes."""
    from s2o_qgis_plugin.engine.translate import translate_raster

    src = write_sar(dst.parent / ".earlier_s1.tif", 40, 40, descriptions=["VV", "VH"], seed=7)
    translate_raster(src, dst, model, tile_size=32, device="cpu", threads=1)
    src.unlink()
    return dst.read_bytes()


def assert_left(dst: Path, earlier: bytes | None) -> None:
    """OUTPUT holds its earlier file or nothing; no temporary file beside it."""
    if earlier is None:
        assert not dst.exists()
    else:
        assert dst.read_bytes() == earlier
    assert temporaries(dst.parent) == []


def long_run_inputs(folder: Path) -> tuple[Path, Path]:
    """(model, scene) for a run that takes long enough to be signalled or killed while it writes:
    a wider test model (32 features) and a 2048 x 2048 VV/VH dB GeoTIFF."""
    big = make_model(folder / "big.onnx", features=32)
    db = np.full((2, 2048, 2048), -10.0, np.float32) + np.linspace(0, 1, 2048, dtype=np.float32)
    db[1] -= 6
    return big, write_raster(folder / "s1.tif", db, descriptions=["VV_dB", "VH_dB"])


def wait_until_writing(proc, folder: Path, seconds: float) -> None:
    """Return once the child ``proc`` has a temporary output in ``folder``; fail if it ends or
    ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while not temporaries(folder):
        assert proc.poll() is None and time.monotonic() < deadline, \
            f"never started writing: {proc.communicate()}"
        time.sleep(0.02)
