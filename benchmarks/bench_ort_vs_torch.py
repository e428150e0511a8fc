"""onnxruntime against PyTorch eager on the same generator weights, windows and threads, and a
sweep of the options onnxruntime offers on CPU.

    python benchmarks/bench_ort_vs_torch.py [--tile 512] [--tiles 256,512,1024]
                                            [--threads-list 1,2] [--repeats 3] [--quick]

Model: the random-weight twin of the default model (common.fallback_checkpoint), run in PyTorch
(training.checkpoint.load_generator, eval mode, torch.inference_mode) and as exported by
export/export_onnx.py: the engine's graph (``--padding zeros``: padding inside the convolutions),
the trained graph as it is (``--padding reflect``: separate reflection pads) and fp16 with float32
input/output (``--fp16``). Both run one window of (tile + 2 h') px, the engine's padded read
window, with batch 1; torch uses torch.set_num_threads(t) and onnxruntime intra_op_num_threads =
inter_op_num_threads = t. Each figure is the fastest of ``repeats`` runs after one warm-up run.
Torch runs twice: the trained generator (reflection padding, what training and evaluation run)
and its zero-padded copy (training.nets.zero_padded, the same change the exporter makes),
so the padding's share of the speed-up is shown apart from onnxruntime's.

    speed-up = torch seconds / onnxruntime seconds
    MP/s     = tile^2 / seconds (pixels written per second, the halo counted as cost)

The goal (onnxruntime >= 1.5 x torch eager) is judged like for like: the same network on both
sides, i.e. torch running the zero-padded copy that the engine's graph is exported from, against
onnxruntime with the engine's model and session settings (zero-padded graph, all graph
optimisations, sequential execution, fp32, tile ``--tile``). The speed-up over the trained,
reflection-padded torch generator (what training and evaluation run) is reported beside it: it
includes the export's padding change, which torch could make too. Both are measured apart from the
sweep, in ``--pairs`` rounds that each run torch (trained), torch (zero-padded) and onnxruntime
once, one right after the other: each round gives ratios measured under the same machine load,
and the goal uses their median. (Bests taken minutes apart on a shared 2-core machine moved the
ratio by +-0.2 between runs.)
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks import common  # noqa: E402

FULL = dict(tile=512, tiles="256,512,1024", threads_list=None, repeats=3, pairs=9)
QUICK = dict(tile=64, tiles="64", threads_list="1", repeats=1, pairs=2)
LEVELS = ("disable", "basic", "extended", "all")
GOAL = 1.5


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--tile", type=int, help=f"tile of the option sweep (default {FULL['tile']})"
    )
    parser.add_argument("--tiles", help=f"tiles of the size sweep (default {FULL['tiles']})")
    parser.add_argument(
        "--threads-list", help="thread counts of the sweep (default: 1 and --threads)"
    )
    parser.add_argument("--repeats", type=int, help=f"timed runs (default {FULL['repeats']})")
    parser.add_argument(
        "--pairs",
        type=int,
        help=f"rounds of the goal's paired measurement (default {FULL['pairs']})",
    )
    return parser.parse_args(argv)


class Bench:
    """Timings of one window shape, cached per configuration."""

    def __init__(self, ckpt: Path, onnx: dict, read_halo: int, repeats: int):
        from training.checkpoint import load_generator
        from training.nets import zero_padded

        generator, _ = load_generator(ckpt)
        self.generators = {"reflect": generator, "zeros": zero_padded(generator)}
        self.onnx = onnx  # (precision, padding) -> path
        self.read_halo, self.repeats = read_halo, repeats
        self.rng = np.random.default_rng(0)

    def window(self, tile: int) -> np.ndarray:
        size = tile + 2 * self.read_halo
        return self.rng.uniform(-1, 1, (1, 2, size, size)).astype(np.float32)

    def torch_seconds(self, tile: int, threads: int, padding: str = "reflect") -> float:
        import torch

        torch.set_num_threads(threads)
        x = torch.from_numpy(self.window(tile))
        net = self.generators[padding]
        with torch.inference_mode():
            return common.best_time(lambda: net(x), self.repeats)

    def fp16_conv_types(self, tile: int) -> str:
        """The element types the fp16 graph's convolutions really ran in (profiled), with their
        share of the convolution time: does onnxruntime's CPU provider compute in fp16?"""
        with tempfile.TemporaryDirectory(prefix="s2o-bench-prof-") as tmp:
            session = common.cpu_session(self.onnx["fp16", "zeros"], 1, profile_prefix=f"{tmp}/p")
            name = session.get_inputs()[0].name
            events, _ = common.profiled_nodes(session, {name: self.window(tile)})
        by_type: dict[str, float] = {}
        for e in events:
            if "Conv" in e["args"]["op_name"]:
                dtype = next(iter(e["args"]["input_type_shape"][0]))
                by_type[dtype] = by_type.get(dtype, 0.0) + e["dur"]
        total = sum(by_type.values()) or 1.0
        return ", ".join(f"{t} {100 * v / total:.0f} %" for t, v in sorted(by_type.items()))

    def paired(self, tile: int, threads: int, rounds: int) -> list[dict]:
        """``rounds`` x (torch trained, torch zero-padded, onnxruntime at the engine's settings),
        run back to back on the same window after one warm-up of each: seconds per run."""
        import torch

        torch.set_num_threads(threads)
        x = self.window(tile)
        xt = torch.from_numpy(x)
        session = common.cpu_session(self.onnx["fp32", "zeros"], threads)
        name = session.get_inputs()[0].name
        runs = {
            "torch (trained)": lambda: self.generators["reflect"](xt),
            "torch (zero-padded)": lambda: self.generators["zeros"](xt),
            "onnxruntime": lambda: session.run(None, {name: x}),
        }
        out = []
        with torch.inference_mode():
            for fn in runs.values():
                fn()
            for _ in range(rounds):
                out.append({k: common.best_time(fn, 1, warmup=0) for k, fn in runs.items()})
        return out

    def ort_seconds(
        self,
        tile: int,
        threads: int,
        level: str = "all",
        parallel: bool = False,
        precision: str = "fp32",
        padding: str = "zeros",
    ) -> float:
        session = common.cpu_session(self.onnx[precision, padding], threads, level, parallel)
        name = session.get_inputs()[0].name
        x = self.window(tile)
        return common.best_time(lambda: session.run(None, {name: x}), self.repeats)


@dataclass
class Timing:
    """One configuration's time per window, and torch eager's (same tile and threads) over it."""

    runtime: str  # "onnxruntime" or "torch eager"
    padding: str  # the graph's: "zeros" or "reflect"
    optimisation: str  # onnxruntime's graph optimisation level ("-" for torch)
    execution: str  # "sequential" or "parallel" ("-" for torch)
    precision: str
    threads: int
    tile: int
    seconds: float
    vs_trained: float  # torch (trained, reflection-padded) seconds / seconds
    vs_zero_padded: float  # torch (zero-padded copy) seconds / seconds


@dataclass
class TileTiming:
    """The engine's settings at one tile size: seconds per window of each runtime."""

    tile: int
    threads: int
    torch_trained: float
    torch_zero_padded: float
    onnxruntime: float


@dataclass
class Measurements:
    read_halo: int
    tile: int  # of the option sweep and of the paired rounds
    threads: int  # the most threads measured: the size sweep's, the goal's
    options: list[Timing] = field(default_factory=list)  # onnxruntime's option sweep
    torch: list[Timing] = field(default_factory=list)  # torch eager, both paddings
    tiles: list[TileTiming] = field(default_factory=list)
    rounds: list[dict] = field(default_factory=list)  # Bench.paired
    fp16_conv_types: str = ""

    def window(self, tile: int) -> str:
        return f"{tile} ({tile + 2 * self.read_halo})"

    def ratios(self, torch_key: str) -> np.ndarray:
        return np.array([r[torch_key] / r["onnxruntime"] for r in self.rounds])


# the onnxruntime configurations of the option sweep besides the optimisation levels:
# (padding, level, parallel, precision)
OTHER_OPTIONS = (
    ("zeros", "all", True, "fp32"),
    ("zeros", "all", False, "fp16"),
    ("reflect", "all", False, "fp32"),
)


def measure(
    bench: Bench, opt, tiles: list[int], threads_list: list[int], read_halo: int
) -> Measurements:
    """Every timing of the report: the option sweep (tile opt.tile), torch eager, the tile
    sweep at the engine's settings, the paired rounds of the goal, the fp16 profile."""
    m = Measurements(read_halo, opt.tile, max(threads_list))
    torch_cache: dict[tuple[int, int, str], float] = {}

    def torch_s(tile: int, threads: int, padding: str = "reflect") -> float:
        if (tile, threads, padding) not in torch_cache:
            torch_cache[tile, threads, padding] = bench.torch_seconds(tile, threads, padding)
        return torch_cache[tile, threads, padding]

    def timing(runtime, padding, level, parallel, precision, threads, seconds) -> Timing:
        return Timing(
            runtime,
            padding,
            level,
            parallel,
            precision,
            threads,
            opt.tile,
            seconds,
            torch_s(opt.tile, threads) / seconds,
            torch_s(opt.tile, threads, "zeros") / seconds,
        )

    for threads in threads_list:
        configs = [("zeros", level, False, "fp32") for level in LEVELS] + list(OTHER_OPTIONS)
        for padding, level, parallel, precision in configs:
            s = bench.ort_seconds(opt.tile, threads, level, parallel, precision, padding)
            mode = "parallel" if parallel else "sequential"
            m.options.append(timing("onnxruntime", padding, level, mode, precision, threads, s))
    m.torch = [
        timing("torch eager", padding, "-", "-", "fp32", t, torch_s(opt.tile, t, padding))
        for t in threads_list
        for padding in ("reflect", "zeros")
    ]
    m.tiles = [
        TileTiming(
            tile,
            m.threads,
            torch_s(tile, m.threads),
            torch_s(tile, m.threads, "zeros"),
            bench.ort_seconds(tile, m.threads),
        )
        for tile in tiles
    ]
    m.rounds = bench.paired(opt.tile, m.threads, opt.pairs)
    m.fp16_conv_types = bench.fp16_conv_types(min(tiles))
    return m


SWEEP_HEADERS = (
    "runtime",
    "graph padding",
    "graph optimisation",
    "execution mode",
    "precision",
    "threads",
    "tile (window)",
    "ms / window",
    "MP/s written",
    "speed-up vs torch eager (trained, reflect)",
    "speed-up vs torch eager (zero-padded copy)",
)
TILE_HEADERS = (
    "tile",
    "window",
    "halo overhead",
    "threads",
    "torch ms (trained)",
    "torch ms (zero-padded)",
    "onnxruntime ms",
    "onnxruntime MP/s written",
    "speed-up vs trained",
    "speed-up vs zero-padded",
)
ROUND_HEADERS = (
    "round",
    "torch (trained) ms",
    "torch (zero-padded) ms",
    "onnxruntime ms",
    "speed-up vs trained",
    "speed-up vs zero-padded",
)


def ms(seconds: float) -> str:
    return common.fmt(1e3 * seconds, 0)


def sweep_row(m: Measurements, t: Timing) -> tuple:
    return (
        t.runtime,
        t.padding,
        t.optimisation,
        t.execution,
        t.precision,
        t.threads,
        m.window(t.tile),
        ms(t.seconds),
        common.fmt(t.tile**2 / t.seconds / 1e6, 3),
        common.fmt(t.vs_trained),
        common.fmt(t.vs_zero_padded),
    )


def tile_row(m: Measurements, t: TileTiming) -> tuple:
    return (
        t.tile,
        t.tile + 2 * m.read_halo,
        common.fmt(common.halo_overhead(t.tile, m.read_halo)),
        t.threads,
        ms(t.torch_trained),
        ms(t.torch_zero_padded),
        ms(t.onnxruntime),
        common.fmt(t.tile**2 / t.onnxruntime / 1e6, 3),
        common.fmt(t.torch_trained / t.onnxruntime),
        common.fmt(t.torch_zero_padded / t.onnxruntime),
    )


def round_rows(m: Measurements) -> list[tuple]:
    trained, zero = m.ratios("torch (trained)"), m.ratios("torch (zero-padded)")
    rows = [
        (i + 1, *(ms(r[k]) for k in r), common.fmt(a), common.fmt(b))
        for i, (r, a, b) in enumerate(zip(m.rounds, trained, zero, strict=True))
    ]
    medians = (ms(float(np.median([r[k] for r in m.rounds]))) for k in m.rounds[0])
    rows.append(
        (
            "median",
            *medians,
            common.fmt(float(np.median(trained))),
            common.fmt(float(np.median(zero))),
        )
    )
    return rows


def findings(m: Measurements) -> str:
    """The sentence under the tables: best option set, the graph's padding, fp16 on this CPU."""
    best = max(m.options, key=lambda t: t.vs_trained if t.threads == m.threads else 0.0)
    fp32 = [t for t in m.options if (t.padding, t.optimisation, t.execution, t.precision)
            == ("zeros", "all", "sequential", "fp32")]  # fmt: skip
    reflect = [t for t in m.options if t.padding == "reflect"]
    fp16 = [t for t in m.options if t.precision == "fp16"]
    return (
        f"Best option set at {m.threads} thread(s): {best.padding} padding, {best.optimisation} "
        f"optimisations, {best.execution} execution, {best.precision} "
        f"({common.fmt(best.vs_trained)} x torch). The graph's padding: "
        + ", ".join(
            f"{ms(b.seconds)} ms zero-padded vs {ms(a.seconds)} ms reflection-padded at "
            f"{a.threads} thread(s)"
            for a, b in zip(reflect, fp32, strict=True)
        )
        + " (onnxruntime's blocked-layout convolutions chain through a Conv with its own "
        "padding but not through a separate Pad operator). fp16 on this CPU: "
        + ", ".join(
            f"{ms(a.seconds)} ms vs {ms(b.seconds)} ms fp32 at {a.threads} thread(s)"
            for a, b in zip(fp16, fp32, strict=True)
        )
        + f". The fp16 graph's convolutions ran in: {m.fp16_conv_types} of their time "
        "(onnxruntime's CPU provider computes where it has kernels and casts around the rest): "
        "fp16 is for GPUs.\n"
    )


def report(m: Measurements) -> None:
    """The markdown tables, the findings and the goal's row."""
    print("### onnxruntime session options (torch eager at the same threads and window)\n")
    print(common.markdown_table(SWEEP_HEADERS, [sweep_row(m, t) for t in m.torch + m.options]))
    print(
        "\n### Tile size (engine settings: zero-padded graph, all optimisations, sequential, "
        "fp32)\n"
    )
    print(common.markdown_table(TILE_HEADERS, [tile_row(m, t) for t in m.tiles]))
    print(
        f"\n### Paired rounds at the engine settings (tile {m.tile}, {m.threads} thread(s); the "
        "goal's measurement)\n"
    )
    print(common.markdown_table(ROUND_HEADERS, round_rows(m)))
    print("\n" + findings(m))
    trained, zero = m.ratios("torch (trained)"), m.ratios("torch (zero-padded)")
    ratio, ratio_zero = float(np.median(trained)), float(np.median(zero))
    print(common.goal_table([
        (f"onnxruntime >= {GOAL} x torch eager, the same (zero-padded) network on both sides "
         f"(engine settings, tile {m.tile}, {m.threads} thread(s); median of {len(m.rounds)} "
         "paired rounds)", f">= {GOAL}",
         f"{ratio_zero:.2f} (rounds {zero.min():.2f}-{zero.max():.2f}); vs the trained "
         f"reflection-padded torch generator: {ratio:.2f}", ratio_zero >= GOAL),
    ]))  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(argv)
    opt = common.sizes(args, FULL, QUICK)
    threads_list = (
        common.int_list(opt.threads_list) if opt.threads_list else sorted({1, args.threads})
    )
    tiles = common.int_list(opt.tiles)
    from s2o_qgis_plugin.engine.model import S2OModel
    from s2o_qgis_plugin.engine.tiling import read_halo

    ckpt = common.fallback_checkpoint(args.cache_dir)
    onnx = {
        (precision, padding): common.fallback_onnx(args.cache_dir, precision == "fp16", padding)
        for precision, padding in (("fp32", "zeros"), ("fp32", "reflect"), ("fp16", "zeros"))
    }
    fp32 = onnx["fp32", "zeros"]
    meta = S2OModel.load(fp32, device="cpu", threads=1).meta
    hp = read_halo(meta.halo, meta.size_multiple)
    common.print_header(
        "onnxruntime vs PyTorch eager (CPU)",
        {
            "command": "python benchmarks/bench_ort_vs_torch.py"
            + (" --quick" if args.quick else ""),
            "model": "random-weight twin of the default model (S2O-NPDE 'full', width 16, VV+VH): "
            "the same weights in torch and in ONNX; " + common.describe_model(fp32),
            "window": f"tile + 2 x {hp} px halo, batch 1",
            "option sweep tile": opt.tile,
            "tile sweep": ", ".join(map(str, tiles)),
            "threads": ", ".join(map(str, threads_list)),
            "repeats (best kept, after 1 warm-up)": opt.repeats,
            "paired rounds for the goal": opt.pairs,
        },
    )
    report(measure(Bench(ckpt, onnx, hp, opt.repeats), opt, tiles, threads_list, hp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
