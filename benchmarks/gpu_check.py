"""GPU check, one prepared script: onnxruntime CUDA throughput of the default model (fp32 and fp16)
and training iterations per second at 256 px, against the GPU goals.

    python benchmarks/gpu_check.py [--quick]          # on a machine with an NVIDIA GPU
    python benchmarks/gpu_check.py --cpu-dry-run      # the same code on CPU, tiny sizes

Goals: inference >= 50 MP/s (pixels written per second, halo counted as cost) on an H100;
training 320k iterations within 4 hours = 22.2 it/s at 256 px, batch 1 ("full" variant).

1. Inference, CUDAExecutionProvider: the benchmarked model (default model, else its random-weight
   twin) in fp32 and the twin exported with --fp16; one batch of windows of tile + 2 h' px per
   session.run (numpy in and out, so host-device copies count, as in the engine), tiles and
   batch sizes swept, fastest of ``repeats`` runs after warm-up runs (cuDNN picks its algorithms
   in the first runs). Then translate_raster end to end (device "cuda") on a synthetic scene.
2. Training: training/train.py's real loop (bench_training.timed_run) on CUDA at 256 px, width
   32 and width 16, with and without --amp.

Without CUDA (torch without CUDA, onnxruntime without its CUDA provider, or no usable GPU) it
prints why and exits with status 0, measuring nothing; ``--cpu-dry-run`` runs every step on CPU
with tiny sizes to check the script itself (its numbers mean nothing).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks import common  # noqa: E402

FULL = dict(tiles="512,1024,2048", batches="1,4,8", repeats=5, scene=8192, engine_tile=1024,
            engine_batch=4, steps=40)
QUICK = dict(tiles="512", batches="1,4", repeats=3, scene=2048, engine_tile=512, engine_batch=4,
             steps=12)
DRY = dict(tiles="64", batches="1,2", repeats=1, scene=256, engine_tile=64, engine_batch=2,
           steps=4)
MAX_PIXELS = 2 * 2048**2 * 4  # skip tile x batch combinations larger than this (GPU memory)
INFER_GOAL = 50.0  # MP/s
TRAIN_GOAL = 320_000 / (4 * 3600)  # it/s
CUDA = "CUDAExecutionProvider"


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--cpu-dry-run", action="store_true",
                        help="run everything on CPU with tiny sizes (checks the script only)")
    parser.add_argument("--tiles", help=f"tile sizes (default {FULL['tiles']})")
    parser.add_argument("--batches", help=f"batch sizes (default {FULL['batches']})")
    parser.add_argument("--repeats", type=int, help=f"timed runs (default {FULL['repeats']})")
    parser.add_argument("--scene", type=int, help=f"engine scene edge (default {FULL['scene']})")
    parser.add_argument("--engine-tile", type=int, help="engine tile (default 1024)")
    parser.add_argument("--engine-batch", type=int, help="engine batch size (default 4)")
    parser.add_argument("--steps", type=int, help=f"training steps (default {FULL['steps']})")
    return parser.parse_args(argv)


def cuda_status() -> str | None:
    """None when torch and onnxruntime both reach a GPU, else the reason they do not."""
    import onnxruntime as ort

    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device"
    if CUDA not in ort.get_available_providers():
        return (f"onnxruntime {ort.__version__} has no CUDA provider (install onnxruntime-gpu); "
                f"providers: {', '.join(ort.get_available_providers())}")
    return None


def session(path: Path, device: str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    providers = [CUDA, common.CPU] if device == "cuda" else [common.CPU]
    s = ort.InferenceSession(str(path), options, providers=providers)
    if device == "cuda" and s.get_providers()[0] != CUDA:
        raise RuntimeError(f"onnxruntime could not start CUDA for {path}: {s.get_providers()}")
    return s


def inference_rows(models: dict[str, Path], tiles, batches, read_halo: int, repeats: int,
                   device: str):
    rows, best = [], {}
    rng = np.random.default_rng(0)
    for label, path in models.items():
        s = session(path, device)
        name = s.get_inputs()[0].name
        channels = s.get_inputs()[0].shape[1]
        for tile in tiles:
            window = tile + 2 * read_halo
            for batch in batches:
                if batch * window**2 * channels > MAX_PIXELS:
                    continue
                x = rng.uniform(-1, 1, (batch, channels, window, window)).astype(np.float32)
                seconds = common.best_time(lambda s=s, x=x, n=name: s.run(None, {n: x}), repeats,
                                           warmup=3)
                rate = batch * tile**2 / seconds / 1e6
                best[label] = max(best.get(label, 0.0), rate)
                rows.append((label, tile, window, batch, common.fmt(1e3 * seconds, 1),
                             common.fmt(rate, 1)))
    return rows, best


def engine_row(model: Path, scene: int, tile: int, batch: int, device: str, tmp: Path):
    from s2o_qgis_plugin.engine import S2OModel, translate_raster

    s2o = S2OModel.load(model, device=device)
    src = common.write_sar_raster(tmp / "scene.tif", scene)
    translate_raster(src, tmp / "warm.tif", s2o, tile_size=tile, batch_size=batch)
    start = time.perf_counter()
    result = translate_raster(src, tmp / "rgb.tif", s2o, tile_size=tile, batch_size=batch)
    seconds = time.perf_counter() - start
    return (f"{scene} x {scene}", tile, batch, result.provider, common.fmt(seconds, 2),
            common.fmt(scene**2 / seconds / 1e6, 1))


def training_rows(steps: int, size: int, device: str, tmp: Path):
    from benchmarks.bench_training import synthetic_pairs, timed_run

    root = synthetic_pairs(tmp / "pairs", steps + 2, size)
    rows, rates = [], {}
    for width in (32, 16):
        for amp in ([False, True] if device == "cuda" else [False]):
            options = ["--width", str(width), "--data-root", str(root), "--device", device,
                       *(["--amp"] if amp else [])]
            f = timed_run(options, steps, tmp / f"run_{width}_{amp}")
            rate = 1 / f["per_step"]
            rates[(width, amp)] = rate
            rows.append((width, size, "yes" if amp else "no", f["steps"],
                         common.fmt(1e3 * f["per_step"], 1), common.fmt(rate, 1),
                         common.duration(320_000 / rate), f"{100 * f['share']:.1f} %"))
    return rows, rates


def main(argv=None) -> int:
    args = parse_args(argv)
    reason = cuda_status()
    device = "cpu" if args.cpu_dry_run else "cuda"
    title = "GPU check (CUDA)" if not args.cpu_dry_run else "GPU check script, CPU dry run"
    if reason is not None and not args.cpu_dry_run:
        print(f"## {title}\n\nNo CUDA here: {reason}. Nothing was measured; run this script on "
              "a machine with an NVIDIA GPU, onnxruntime-gpu and a CUDA build of torch.")
        return 0
    args.quick = args.quick or args.cpu_dry_run
    opt = common.sizes(args, FULL, DRY if args.cpu_dry_run else QUICK)
    import torch

    from s2o_qgis_plugin.engine.model import S2OModel
    from s2o_qgis_plugin.engine.tiling import read_halo

    model_path, model_label = common.benchmark_model(args.cache_dir)
    models = {"benchmarked model fp32": model_path,
              "random twin fp16": common.fallback_onnx(args.cache_dir, fp16=True)}
    meta = S2OModel.load(model_path, device="cpu", threads=1).meta
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "none (CPU dry run)"
    common.print_header(title, {
        "command": "python benchmarks/gpu_check.py" + (" --cpu-dry-run" if args.cpu_dry_run
                                                       else " --quick" if args.quick else ""),
        "note": "CPU dry run: checks the script, the numbers mean nothing" if args.cpu_dry_run
                else "numbers from this GPU",
        "GPU": gpu, "model": model_label, "model file": common.describe_model(model_path),
        "tiles": opt.tiles, "batches": opt.batches, "repeats (best kept)": opt.repeats,
        "training": f"{opt.steps} steps at 256 px" if not args.cpu_dry_run else
                    f"{opt.steps} steps at 64 px",
    })
    hp = read_halo(meta.halo, meta.size_multiple)
    rows, best = inference_rows(models, common.int_list(opt.tiles), common.int_list(opt.batches),
                                hp, opt.repeats, device)
    print("### onnxruntime session.run\n")
    print(common.markdown_table(("model", "tile", "window", "batch", "ms / batch",
                                 "MP/s written"), rows))
    with tempfile.TemporaryDirectory(prefix="s2o-gpu-check-", dir=args.tmp_dir) as tmp_name:
        tmp = Path(tmp_name)
        print("\n### translate_raster end to end\n")
        print(common.markdown_table(("scene", "tile", "batch", "provider", "seconds", "MP/s"),
                                    [engine_row(model_path, opt.scene, opt.engine_tile,
                                                opt.engine_batch, device, tmp)]))
        size = 64 if args.cpu_dry_run else 256
        train_rows, rates = training_rows(opt.steps, size, device, tmp)
    print("\n### Training (training/train.py, variant full, batch 1, lambda_per 0)\n")
    print(common.markdown_table(("width", "px", "AMP", "timed steps", "ms / step (median)",
                                 "it/s", "320k iterations take", "data share"), train_rows))
    fp32 = best["benchmarked model fp32"]
    train_best = max(rates.values())
    print()
    print(common.goal_table([
        (f"inference >= {INFER_GOAL:.0f} MP/s on an H100 (fp32; fp16 "
         f"{best['random twin fp16']:.1f} MP/s)", f">= {INFER_GOAL:.0f} MP/s",
         f"{fp32:.1f} MP/s on {gpu}", None if args.cpu_dry_run else fp32 >= INFER_GOAL),
        (f"training >= {TRAIN_GOAL:.1f} it/s at 256 px (320k iterations in 4 h; best of "
         "width 32/16 with/without AMP)", f">= {TRAIN_GOAL:.1f} it/s",
         f"{train_best:.1f} it/s on {gpu}", None if args.cpu_dry_run else
         train_best >= TRAIN_GOAL),
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
