"""onnxruntime against PyTorch eager on the same generator weights, windows and threads, and a
sweep of the options onnxruntime offers on CPU.

    python benchmarks/bench_ort_vs_torch.py [--tile 512] [--tiles 256,512,1024]
                                            [--threads-list 1,2] [--repeats 3] [--quick]

Model: the random-weight twin of the default model (common.fallback_checkpoint), run in PyTorch
(training.cyclegan.load_checkpoint, eval mode, torch.inference_mode) and as exported by
export/export_onnx.py (fp32, and fp16 with float32 input/output, ``--fp16``). Both run one
window of (tile + 2 h') px, the engine's padded read window, with batch 1; torch uses
torch.set_num_threads(t) and onnxruntime intra_op_num_threads = inter_op_num_threads = t.
Each figure is the fastest of ``repeats`` runs after one warm-up run.

    speed-up = torch seconds / onnxruntime seconds      (goal >= 1.5 with the engine's session
                                                         settings: all graph optimisations,
                                                         sequential execution, fp32)
    MP/s     = tile^2 / seconds (pixels written per second, the halo counted as cost)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks import common  # noqa: E402

FULL = dict(tile=512, tiles="256,512,1024", threads_list=None, repeats=3)
QUICK = dict(tile=64, tiles="64", threads_list="1", repeats=1)
LEVELS = ("disable", "basic", "extended", "all")
GOAL = 1.5


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--tile", type=int, help=f"tile of the option sweep (default "
                                                 f"{FULL['tile']})")
    parser.add_argument("--tiles", help=f"tiles of the size sweep (default {FULL['tiles']})")
    parser.add_argument("--threads-list",
                        help="thread counts of the sweep (default: 1 and --threads)")
    parser.add_argument("--repeats", type=int, help=f"timed runs (default {FULL['repeats']})")
    return parser.parse_args(argv)


class Bench:
    """Timings of one window shape, cached per configuration."""

    def __init__(self, ckpt: Path, fp32: Path, fp16: Path, read_halo: int, repeats: int):
        from training.cyclegan import load_checkpoint

        _, self.generator = load_checkpoint(ckpt)
        self.onnx = {"fp32": fp32, "fp16": fp16}
        self.read_halo, self.repeats = read_halo, repeats
        self.rng = np.random.default_rng(0)

    def window(self, tile: int) -> np.ndarray:
        size = tile + 2 * self.read_halo
        return self.rng.uniform(-1, 1, (1, 2, size, size)).astype(np.float32)

    def torch_seconds(self, tile: int, threads: int) -> float:
        import torch

        torch.set_num_threads(threads)
        x = torch.from_numpy(self.window(tile))
        with torch.inference_mode():
            return common.best_time(lambda: self.generator(x), self.repeats)

    def fp16_conv_types(self, tile: int) -> str:
        """The element types the fp16 graph's convolutions really ran in (profiled), with their
        share of the convolution time: does onnxruntime's CPU provider compute in fp16?"""
        with tempfile.TemporaryDirectory(prefix="s2o-bench-prof-") as tmp:
            session = common.cpu_session(self.onnx["fp16"], 1, profile_prefix=f"{tmp}/p")
            name = session.get_inputs()[0].name
            events, _ = common.profiled_nodes(session, {name: self.window(tile)})
        by_type: dict[str, float] = {}
        for e in events:
            if "Conv" in e["args"]["op_name"]:
                dtype = next(iter(e["args"]["input_type_shape"][0]))
                by_type[dtype] = by_type.get(dtype, 0.0) + e["dur"]
        total = sum(by_type.values()) or 1.0
        return ", ".join(f"{t} {100 * v / total:.0f} %" for t, v in sorted(by_type.items()))

    def ort_seconds(self, tile: int, threads: int, level: str = "all", parallel: bool = False,
                    precision: str = "fp32") -> float:
        session = common.cpu_session(self.onnx[precision], threads, level, parallel)
        name = session.get_inputs()[0].name
        x = self.window(tile)
        return common.best_time(lambda: session.run(None, {name: x}), self.repeats)


def main(argv=None) -> int:
    args = parse_args(argv)
    opt = common.sizes(args, FULL, QUICK)
    threads_list = (common.int_list(opt.threads_list) if opt.threads_list
                    else sorted({1, args.threads}))
    tiles = common.int_list(opt.tiles)
    from s2o_qgis_plugin.engine.model import S2OModel
    from s2o_qgis_plugin.engine.tiling import read_halo

    ckpt = common.fallback_checkpoint(args.cache_dir)
    fp32 = common.fallback_onnx(args.cache_dir)
    fp16 = common.fallback_onnx(args.cache_dir, fp16=True)
    meta = S2OModel.load(fp32, device="cpu", threads=1).meta
    hp = read_halo(meta.halo, meta.size_multiple)
    common.print_header("onnxruntime vs PyTorch eager (CPU)", {
        "command": "python benchmarks/bench_ort_vs_torch.py" + (" --quick" if args.quick else ""),
        "model": "random-weight twin of the default model (S2O-NPDE 'full', width 16, VV+VH): "
                 "the same weights in torch and in ONNX; " + common.describe_model(fp32),
        "window": f"tile + 2 x {hp} px halo, batch 1",
        "option sweep tile": opt.tile, "tile sweep": ", ".join(map(str, tiles)),
        "threads": ", ".join(map(str, threads_list)), "repeats (best kept, after 1 warm-up)":
        opt.repeats,
    })
    bench = Bench(ckpt, fp32, fp16, hp, opt.repeats)
    torch_cache: dict[tuple[int, int], float] = {}

    def torch_s(tile: int, threads: int) -> float:
        if (tile, threads) not in torch_cache:
            torch_cache[(tile, threads)] = bench.torch_seconds(tile, threads)
        return torch_cache[(tile, threads)]

    def row(tile, threads, seconds, label):
        return (*label, threads, f"{tile} ({tile + 2 * hp})", common.fmt(1e3 * seconds, 0),
                common.fmt(tile**2 / seconds / 1e6, 3),
                common.fmt(torch_s(tile, threads) / seconds))

    sweep = []
    for threads in threads_list:
        for level in LEVELS:
            s = bench.ort_seconds(opt.tile, threads, level)
            sweep.append(row(opt.tile, threads, s, (level, "sequential", "fp32")))
        s = bench.ort_seconds(opt.tile, threads, "all", parallel=True)
        sweep.append(row(opt.tile, threads, s, ("all", "parallel", "fp32")))
        s = bench.ort_seconds(opt.tile, threads, "all", precision="fp16")
        sweep.append(row(opt.tile, threads, s, ("all", "sequential", "fp16")))
    top = max(threads_list)
    engine_setting = {tile: bench.ort_seconds(tile, top) for tile in tiles}
    size_rows = [(tile, tile + 2 * hp, common.fmt(common.halo_overhead(tile, hp)), top,
                  common.fmt(1e3 * torch_s(tile, top), 0), common.fmt(1e3 * s, 0),
                  common.fmt(tile**2 / s / 1e6, 3), common.fmt(torch_s(tile, top) / s))
                 for tile, s in engine_setting.items()]

    headers = ("graph optimisation", "execution mode", "precision", "threads", "tile (window)",
               "ms / window", "MP/s written", "speed-up vs torch eager")
    print("### onnxruntime session options (torch eager at the same threads and window)\n")
    torch_rows = [("torch eager", "-", "fp32", t, f"{opt.tile} ({opt.tile + 2 * hp})",
                   common.fmt(1e3 * torch_s(opt.tile, t), 0),
                   common.fmt(opt.tile**2 / torch_s(opt.tile, t) / 1e6, 3), "1.00")
                  for t in threads_list]
    print(common.markdown_table(headers, torch_rows + sweep))
    print("\n### Tile size (all optimisations, sequential, fp32)\n")
    print(common.markdown_table(
        ("tile", "window", "halo overhead", "threads", "torch ms", "onnxruntime ms",
         "onnxruntime MP/s written", "speed-up"), size_rows))
    tile_ref = opt.tile if opt.tile in engine_setting else tiles[0]
    ratio = torch_s(tile_ref, top) / engine_setting[tile_ref]
    best = max(sweep, key=lambda r: float(r[-1]) if r[3] == top else 0.0)
    fp16_rows = [r for r in sweep if r[2] == "fp16"]
    fp32_all = [r for r in sweep if r[:3] == ("all", "sequential", "fp32")]
    print(f"\nBest option set at {top} thread(s): {best[0]} optimisations, {best[1]} execution, "
          f"{best[2]} ({best[-1]} x torch). fp16 on this CPU: "
          + ", ".join(f"{a[5]} ms vs {b[5]} ms fp32 at {a[3]} thread(s)"
                      for a, b in zip(fp16_rows, fp32_all, strict=True))
          + f". The fp16 graph's convolutions ran in: {bench.fp16_conv_types(min(tiles))} of "
            "their time (onnxruntime's CPU provider computes where it has kernels and casts "
            "around the rest): fp16 is for GPUs.\n")
    print(common.goal_table([
        (f"onnxruntime >= {GOAL} x torch eager (engine settings, tile {tile_ref}, "
         f"{top} thread(s))", f">= {GOAL}", f"{ratio:.2f}" + "".join(
             f" ({r[3]} thread(s), tile {opt.tile}: {r[-1]})" for r in fp32_all if r[3] != top),
         ratio >= GOAL),
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
