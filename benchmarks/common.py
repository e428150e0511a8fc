"""Shared pieces of the benchmark scripts: options, the model to benchmark, synthetic rasters,
machine facts, timing and markdown tables.

The model benchmarked is the embedded default model (s2o_qgis_plugin/models/s2o_npde_default.onnx)
when it exists; otherwise (and wherever a PyTorch twin is needed) a model of the same
architecture with random weights: TrainConfig(variant="full", width=16, in_bands="VV,VH",
lambda_per=0) -> training checkpoint -> export/export_onnx.py, cached in ``--cache-dir``
(default benchmarks/.cache, or $S2O_BENCH_CACHE). Speed and memory do not depend on the weights.

Every script prints markdown: a title, the settings it ran with, its tables, and a goal table
with the columns :data:`GOAL_HEADERS` that run_all.py gathers into a summary.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from s2o_qgis_plugin.engine.metadata import DUAL_POL  # noqa: E402

CACHE_ENV = "S2O_BENCH_CACHE"
DEFAULT_CACHE = ROOT / "benchmarks" / ".cache"
GOAL_HEADERS = ("goal", "target", "measured", "met")
# the architecture of the default model (the models/ card): S2O-NPDE "full", width 16, VV+VH
DEFAULT_ARCH = dict(variant="full", width=16, in_bands="VV,VH", lambda_per=0.0)
FALLBACK_SEED = 0
SAR_BANDS = DUAL_POL
ENL = 4.4  # equivalent number of looks of Sentinel-1 IW GRD (speckle of the synthetic rasters)
CPU = "CPUExecutionProvider"


# -- options ------------------------------------------------------------------------------------
def base_parser(description: str) -> argparse.ArgumentParser:
    """--quick, --threads, --cache-dir and --tmp-dir, shared by every script."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes for a smoke test (seconds; the numbers mean nothing)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="intra-op threads of onnxruntime and torch (default: all CPUs)")
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE)),
                        help=f"where the stand-in model is built (default: ${CACHE_ENV} or "
                             "benchmarks/.cache)")
    parser.add_argument("--tmp-dir", type=Path, default=None,
                        help="folder for temporary rasters (default: the system's, /tmp)")
    return parser


def sizes(args: argparse.Namespace, full: dict, quick: dict) -> SimpleNamespace:
    """The size options: what the command line gave, else ``quick`` (with --quick) or ``full``.
    Size options are declared with default None so that an explicit value always wins."""
    chosen = quick if args.quick else full
    return SimpleNamespace(**{k: getattr(args, k) if getattr(args, k) is not None else v
                              for k, v in chosen.items()})


def int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def print_header(title: str, settings: dict) -> None:
    print(f"## {title}\n")
    for key, value in settings.items():
        print(f"- {key}: {value}")
    print(f"- load average (1 min) at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print()


# -- tables -------------------------------------------------------------------------------------
def markdown_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub markdown table; cells are printed with str()."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def goal_table(rows: Sequence[tuple[str, str, str, bool | None]]) -> str:
    """(goal, target, measured, met) rows; met None prints "n/a" (not measurable here)."""
    mark = {True: "yes", False: "**no**", None: "n/a"}
    return markdown_table(GOAL_HEADERS, [(g, t, m, mark[ok]) for g, t, m, ok in rows])


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def duration(seconds: float) -> str:
    """"42 s", "7.5 min" or "3.2 h"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# -- timing -------------------------------------------------------------------------------------
def best_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """The fastest of ``repeats`` timed calls after ``warmup`` untimed ones (seconds): the
    least disturbed measurement on a shared machine."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def halo_overhead(tile: int, read_halo: int) -> float:
    """Pixels computed per pixel written for an inner tile: (T + 2 h')^2 / T^2."""
    return (tile + 2 * read_halo) ** 2 / tile**2


# -- the model ----------------------------------------------------------------------------------
def _architecture_key() -> str:
    """Short hash of the generator's source and the architecture, so a cached stand-in model is
    rebuilt when the network code changes."""
    digest = hashlib.sha1(repr(sorted(DEFAULT_ARCH.items())).encode())
    for src in [*sorted((ROOT / "training" / "nets").glob("*.py")), ROOT / "export/export_onnx.py"]:
        digest.update(src.read_bytes())
    return digest.hexdigest()[:10]


def fallback_checkpoint(cache_dir: Path) -> Path:
    """A training checkpoint of the default architecture with random weights (seed 0)."""
    import torch

    from training.checkpoint import save_model_checkpoint
    from training.config import TrainConfig

    path = Path(cache_dir) / f"s2o_full_w16_random_{_architecture_key()}.pt"
    if not path.exists():
        cfg = TrainConfig(**DEFAULT_ARCH).validate()
        torch.manual_seed(FALLBACK_SEED)
        save_model_checkpoint(path, cfg)
    return path


def fallback_onnx(cache_dir: Path, fp16: bool = False, padding: str = "zeros") -> Path:
    """The checkpoint of :func:`fallback_checkpoint` exported by export/export_onnx.py (fp32, or
    fp16 weights and activations with float32 input/output; ``padding`` as its --padding)."""
    ckpt = fallback_checkpoint(cache_dir)
    suffix = ("_fp16" if fp16 else "") + ("" if padding == "zeros" else f"_{padding}")
    path = ckpt.with_name(ckpt.stem + suffix + ".onnx")
    if not path.exists():
        from export.export_onnx import export

        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            report = export(ckpt, path, fp16=fp16, padding=padding, name="s2o-npde-bench",
                            version="random-weights")
        if not report.ok:
            path.unlink(missing_ok=True)
            raise RuntimeError(f"the stand-in model failed its parity check:\n{report.text()}")
    return path


def benchmark_model(cache_dir: Path) -> tuple[Path, str]:
    """(ONNX path, what it is): the embedded default model, else the random-weight stand-in."""
    from s2o_qgis_plugin.engine.model import DEFAULT_MODEL_PATH

    if DEFAULT_MODEL_PATH.is_file():
        return DEFAULT_MODEL_PATH, f"embedded default model {DEFAULT_MODEL_PATH.relative_to(ROOT)}"
    return fallback_onnx(cache_dir), (
        "stand-in for the default model (not yet in s2o_qgis_plugin/models/): S2O-NPDE 'full', "
        "width 16, VV+VH, random weights, exported by export/export_onnx.py (speed does not "
        "depend on the weights)")


def describe_model(path: Path) -> str:
    from s2o_qgis_plugin.engine.model import S2OModel

    meta = S2OModel.load(path, device="cpu", threads=1).meta
    return (f"{meta.name} {meta.version} ({meta.architecture}), input {'+'.join(meta.input_bands)},"
            f" halo {meta.halo} px, size multiple {meta.size_multiple}, "
            f"{Path(path).stat().st_size / 1e6:.2f} MB")


def cpu_session(path: Path, threads: int, level: str = "all", parallel: bool = False,
                profile_prefix: str | None = None):
    """An onnxruntime CPU session with ``threads`` intra-op threads and the given graph
    optimisation level ("disable", "basic", "extended", "all") and execution mode."""
    import onnxruntime as ort

    levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = threads
    options.graph_optimization_level = levels[level]
    options.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if parallel
                              else ort.ExecutionMode.ORT_SEQUENTIAL)
    options.log_severity_level = 3
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), options, providers=[CPU])


def profiled_nodes(session, feed: dict, runs: int = 1) -> tuple[list[dict], float]:
    """Profile ``runs`` runs after one warm-up run of a session made with ``profile_prefix``:
    (onnxruntime's per-node kernel events of the timed runs, wall seconds per timed run). Each
    event has ``dur`` (microseconds) and ``args`` (op_name, input_type_shape, ...). The profile
    file is removed."""
    import json

    for _ in range(1 + runs):
        session.run(None, feed)
    path = Path(session.end_profiling())
    try:
        events = json.loads(path.read_text())
    finally:
        path.unlink(missing_ok=True)
    timed = sorted((e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"),
                   key=lambda e: e["ts"])[1:]
    first = timed[0]["ts"] if timed else 0
    nodes = [e for e in events if e.get("cat") == "Node" and e["ts"] >= first
             and e["name"].endswith("_kernel_time")]
    return nodes, sum(e["dur"] for e in timed) * 1e-6 / max(1, len(timed))


# -- synthetic Sentinel-1 rasters ---------------------------------------------------------------
def _speckled_blocks(block: int, n: int, seed: int) -> np.ndarray:
    """``n`` blocks (n, 2, block, block) of sigma0 in dB: VV around -10 dB, VH 6 dB below, gamma
    speckle of ENL 4.4, quantised to 1/16 dB (exact in float32, so the blocks compress)."""
    rng = np.random.default_rng(seed)
    base = np.array([-10.0, -16.0])[None, :, None, None]
    speckle = 10 * np.log10(rng.gamma(ENL, 1.0 / ENL, (n, 2, block, block)))
    return (np.round((base + speckle) * 16) / 16).astype(np.float32)


def write_sar_raster(path: Path, size: int, *, block: int = 512, compress: bool = False,
                     seed: int = 0) -> Path:
    """A ``size x size`` two-band float32 dB GeoTIFF (bands described "VV", "VH", UTM 10 m),
    internally tiled ``block`` px, written block by block from a pool of four speckled blocks
    (memory stays at a few blocks whatever the size). ``compress``: ZSTD (DEFLATE without it)
    with the floating-point predictor, for scenes that would otherwise fill the disk."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    from s2o_qgis_plugin.engine.raster_io import compression_options

    pool = _speckled_blocks(block, 4, seed)
    profile = dict(driver="GTiff", width=size, height=size, count=2, dtype="float32",
                   crs="EPSG:32633", transform=from_origin(500000.0, 5600000.0, 10.0, 10.0),
                   tiled=True, blockxsize=block, blockysize=block, bigtiff="IF_SAFER")
    if compress:
        profile.update({k: v for k, v in compression_options().items() if k == "compress"},
                       predictor=3, num_threads="ALL_CPUS")
    with rasterio.open(path, "w", **profile) as dst:
        for i, row in enumerate(range(0, size, block)):
            for j, col in enumerate(range(0, size, block)):
                h, w = min(block, size - row), min(block, size - col)
                dst.write(pool[(3 * i + j) % len(pool), :, :h, :w], window=Window(col, row, w, h))
        for b, name in enumerate(SAR_BANDS, start=1):
            dst.set_band_description(b, name)
    return Path(path)


# -- the machine ----------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _physical_cores() -> int | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores, phys = set(), None
    for line in text.splitlines():
        if line.startswith("physical id"):
            phys = line.split(":")[1].strip()
        elif line.startswith("core id"):
            cores.add((phys, line.split(":")[1].strip()))
    return len(cores) or None


def nominal_peak_gflops(cores: int) -> float | None:
    """Nominal float32 peak of ``cores`` cores: FLOP per cycle from the vector flags (AVX-512 64,
    AVX2 + FMA 32, AVX 16, else 8; two FMA units assumed) x the clock /proc/cpuinfo reports
    (the nominal one in a VM; turbo can exceed it)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    words = set(text.split())
    mhz = next((float(line.split(":")[1]) for line in text.splitlines()
                if line.startswith("cpu MHz")), None)
    if mhz is None:
        return None
    per_cycle = (64 if "avx512f" in words else 32 if {"avx2", "fma"} <= words
                 else 16 if "avx" in words else 8)
    return per_cycle * mhz * 1e6 * cores / 1e9


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> list[tuple[str, str]]:
    """(what, value) facts about this machine and the libraries, for the report."""
    import onnxruntime as ort
    import rasterio

    ram = _ram_gib()
    try:
        import torch

        torch_text = f"{torch.__version__} (CUDA available: {torch.cuda.is_available()})"
    except ImportError:
        torch_text = "not installed"
    flags = ""
    with contextlib.suppress(OSError):
        words = Path("/proc/cpuinfo").read_text().split()
        flags = " ".join(f for f in ("avx", "avx2", "fma", "avx512f", "amx_tile") if f in words)
    return [
        ("date (UTC)", utc_now()),
        ("CPU", f"{_cpu_model()} ({flags})" if flags else _cpu_model()),
        ("logical CPUs / physical cores", f"{os.cpu_count()} / {_physical_cores() or '?'}"),
        ("RAM", f"{ram:.1f} GiB" if ram else "unknown"),
        ("load average (1, 5, 15 min)", ", ".join(f"{v:.2f}" for v in os.getloadavg())),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("numpy", np.__version__),
        ("onnxruntime", f"{ort.__version__} ({_onnxruntime_package()}); available providers: "
                        f"{', '.join(ort.get_available_providers())}"),
        ("torch", torch_text),
        ("rasterio / GDAL", f"{rasterio.__version__} / {rasterio.__gdal_version__}"),
    ]


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def gdal_cache_mb() -> float:
    """GDAL's block cache size in this process (MB)."""
    from osgeo import gdal

    return gdal.GetCacheMax() / 1e6


def _onnxruntime_package() -> str:
    for name in ("onnxruntime-gpu", "onnxruntime"):
        if _version(name) != "not installed":
            return name
    return "?"
