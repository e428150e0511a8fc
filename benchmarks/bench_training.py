"""Training speed: seconds per optimisation step and the share of it spent waiting for data.

    python benchmarks/bench_training.py [--steps 10] [--paper-steps 5] [--quick]

Runs the real loop, ``training/train.py``'s ``main`` with ``--max-steps``, and times it from the
outside: its DataLoader is replaced by a subclass that records when each ``next()`` starts and
how long it takes, so

    iteration i   = start of next() i+1 - start of next() i        (data + G and D updates)
    data share    = sum of next() times / sum of iterations        (goal < 5 %)

over the iterations after the first (warm-up); the table gives their median and best.
Two settings, both the "full" variant, batch 1, Adam, all losses of Eq. (8) but the perceptual
one (lambda_per 0: torchvision's VGG19 weights cannot be downloaded here):

- paper settings: width 32 (the config's default; the paper does not state its width), 256 x 256
  px pairs (synthetic GeoTIFF pairs in the "paired" layout, written to a temporary folder);
- default model settings (as the embedded model was trained, see its card): width 16, random
  64 x 64 px crops (``--crop 64``) of the 120 x 120 px BigEarthNet patches from data/ben (built by
  ``python training/build_data.py --out data/ben``; synthetic 120 px pairs when it is missing).

On CUDA both run with and without mixed precision (``--amp``); without CUDA those rows are
skipped (benchmarks/gpu_check.py is the GPU script).
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks import common  # noqa: E402
from s2o_qgis_plugin.engine.metadata import OUTPUT_BANDS  # noqa: E402

FULL = dict(steps=20, paper_steps=5, paper_size=256)
QUICK = dict(steps=3, paper_steps=3, paper_size=32)
DEFAULT_CROP = 64  # the embedded model's training crops (MODEL_CARD.md)
BEN = common.ROOT / "data" / "ben"
GOAL = 0.05
BASE_OPTIONS = ["--variant", "full", "--lambda-per", "0", "--batch-size", "1",
                "--save-every", "0", "--log-every", "1000", "--num-workers", "0"]


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="steps of the default-model setting "
                                                  f"(default {FULL['steps']})")
    parser.add_argument("--paper-steps", type=int, help="steps of the paper setting "
                                                        f"(default {FULL['paper_steps']})")
    parser.add_argument("--paper-size", type=int, help="pair size of the paper setting "
                                                       f"(default {FULL['paper_size']})")
    parser.add_argument("--data-root", type=Path, default=BEN,
                        help="BigEarthNet pairs for the default-model setting")
    return parser.parse_args(argv)


def synthetic_pairs(root: Path, n: int, size: int, seed: int = 0) -> Path:
    """``n`` SAR/optical pairs of ``size`` px in the "paired" layout (root/s1, root/s2,
    splits.json with every pair in train)."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    (root / "s1").mkdir(parents=True)
    (root / "s2").mkdir()
    ids = [f"pair_{i:03d}" for i in range(n)]
    for pid in ids:
        sar = (np.array([-10.0, -16.0])[:, None, None]
               + 10 * np.log10(rng.gamma(common.ENL, 1 / common.ENL, (2, size, size))))
        optical = rng.integers(200, 2500, (3, size, size))
        for sub, data, dtype, names in (("s1", sar, "float32", common.SAR_BANDS),
                                        ("s2", optical, "uint16", OUTPUT_BANDS)):
            with rasterio.open(root / sub / f"{pid}.tif", "w", driver="GTiff", width=size,
                               height=size, count=len(data), dtype=dtype, crs="EPSG:32633",
                               transform=from_origin(500000.0, 5600000.0, 10.0, 10.0)) as dst:
                dst.write(data.astype(dtype))
                for b, name in enumerate(names, start=1):
                    dst.set_band_description(b, name)
    (root / "splits.json").write_text(json.dumps({"train": ids, "val": [], "test": []}))
    return root


def timed_run(options: list[str], steps: int, out_dir: Path) -> dict:
    """train.py's main for ``steps`` steps with a timing DataLoader; the step figures."""
    from torch.utils.data import DataLoader

    import training.train as train

    starts: list[float] = []
    waits: list[float] = []

    class TimedLoader(DataLoader):
        def __iter__(self):
            iterator = super().__iter__()
            while True:
                start = time.perf_counter()
                try:
                    batch = next(iterator)
                except StopIteration:
                    return
                starts.append(start)
                waits.append(time.perf_counter() - start)
                yield batch

    original = train.DataLoader
    train.DataLoader = TimedLoader
    try:
        with contextlib.redirect_stdout(sys.stderr):
            train.main([*BASE_OPTIONS, *options, "--max-steps", str(steps),
                        "--out-dir", str(out_dir)])
    finally:
        train.DataLoader = original
    iterations = np.diff(starts)[1:]  # drop the first (warm-up) iteration
    data = np.array(waits[1:len(iterations) + 1])
    return dict(steps=len(iterations), per_step=float(np.median(iterations)),
                best=float(iterations.min()), data=float(np.median(data)),
                share=float(data.sum() / iterations.sum()))


def main(argv=None) -> int:
    args = parse_args(argv)
    opt = common.sizes(args, FULL, QUICK)
    import torch

    torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    real_data = args.data_root.is_dir() and not args.quick
    default_size = QUICK["paper_size"] if args.quick else 120
    crop = min(DEFAULT_CROP, default_size)
    default_data = (f"random {crop} px crops of the 120 px BigEarthNet patches from "
                    f"{args.data_root}" if real_data else
                    f"{default_size} px synthetic pairs"
                    + ("" if args.quick else f" ({args.data_root} is missing)"))
    common.print_header("Training speed (training/train.py, real loop)", {
        "command": "python benchmarks/bench_training.py" + (" --quick" if args.quick else ""),
        "variant": "full (S2O-NPDE), batch 1, lambda_per 0 (no VGG19 weights here)",
        "paper settings": f"width 32, {opt.paper_size} px synthetic pairs, "
                          f"{opt.paper_steps} steps",
        "default model settings": f"width 16, {default_data}, {opt.steps} steps",
        "torch threads": args.threads, "DataLoader workers": "0 (and 1 in its own row)",
        "devices": "cpu" + (", cuda (with and without --amp)" if cuda else " (no CUDA here)"),
    })
    runs = []
    with tempfile.TemporaryDirectory(prefix="s2o-bench-train-", dir=args.tmp_dir) as tmp_name:
        tmp = Path(tmp_name)
        paper_root = synthetic_pairs(tmp / "paper", opt.paper_steps + 2, opt.paper_size)
        default_root = (args.data_root if real_data
                        else synthetic_pairs(tmp / "ben", opt.steps + 2, default_size, seed=1))
        settings = [
            ("paper settings", f"32 / {opt.paper_size} px", opt.paper_steps,
             ["--width", "32", "--data-root", str(paper_root)]),
            ("default model", f"16 / {crop} px crops", opt.steps,
             ["--width", "16", "--crop", str(crop), "--data-root", str(default_root)]),
            ("default model, --num-workers 1", f"16 / {crop} px crops", opt.steps,
             ["--width", "16", "--crop", str(crop), "--data-root", str(default_root),
              "--num-workers", "1"]),
        ]
        devices = [("cpu", [])] + ([("cuda", []), ("cuda + AMP", ["--amp"])] if cuda else [])
        for name, shape, steps, options in settings:
            for device, extra in devices:
                dev = ["--device", "cpu" if device == "cpu" else "cuda"]
                figures = timed_run([*options, *dev, *extra], steps,
                                    tmp / f"run_{len(runs)}")
                runs.append((name, shape, device, figures))
    print(common.markdown_table(
        ("setting", "width / size", "device", "timed steps", "s / step (median)",
         "s / step (best)", "it/s (median)", "data wait s / step (median)", "data share"),
        [(n, shape, dev, f["steps"], common.fmt(f["per_step"], 3), common.fmt(f["best"], 3),
          common.fmt(1 / f["per_step"], 2), common.fmt(f["data"], 4),
          f"{100 * f['share']:.1f} %") for n, shape, dev, f in runs]))
    if not cuda:
        print("\nNo CUDA device here: the GPU rows (with and without mixed precision) are "
              "skipped; run `python benchmarks/gpu_check.py` on a GPU machine.")
    print("\nThe goal is judged on the settings as they are (samples read in the training "
          "process, --num-workers 0); the '--num-workers 1' row reads them in one DataLoader "
          "worker process, overlapping with the step.")
    worst = max((r for r in runs if "num-workers" not in r[0]), key=lambda r: r[3]["share"])
    print()
    print(common.goal_table([
        (f"data wait < {100 * GOAL:.0f} % of a step (worst setting: {worst[0]}, {worst[2]})",
         f"< {100 * GOAL:.0f} %", f"{100 * worst[3]['share']:.1f} %", worst[3]["share"] < GOAL),
        ("mixed precision speed-up on CUDA", "measured", "no CUDA here", None) if not cuda else
        ("mixed precision speed-up on CUDA (paper settings)", "measured",
         f"{runs[1][3]['per_step'] / runs[2][3]['per_step']:.2f} x", None),
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
