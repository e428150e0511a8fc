"""Distance to the physical limit: the generator's FLOPs, the FLOP rate onnxruntime achieves, and
the machine's float32 matrix-multiply peak.

    python benchmarks/bench_flops.py [--window 608] [--gemm 2048] [--repeats 3] [--quick]

FLOPs are counted from the ONNX graph for a 1 x C x window x window input, with shapes from
onnxruntime's symbolic shape inference (onnx's own inference cannot follow the exported graph's
computed Pad sizes):

    Conv           2 N Cout Hout Wout (Cin / groups) kh kw      (a multiply and an add per MAC)
    ConvTranspose  2 N Cin Hin Win (Cout / groups) kh kw
    MatMul / Gemm  2 M N K (batched: times the batch)

Every other op (Pad, Concat, Resize, Relu, Tanh, the PMD head's arithmetic) is counted as at most
one FLOP per output element and reported apart: it is memory traffic, not arithmetic.

    achieved GFLOP/s = graph FLOPs / seconds per session.run (all optimisations, fp32)
    peak GFLOP/s     = 2 n^3 / seconds of an n x n float32 matmul (torch.mm at the same thread
                       count, best of several; numpy's BLAS as a cross-check, used when faster
                       at all cores); the nominal peak (vector width x FMA units x clock) is
                       shown beside it
    goal: achieved >= 50 % of peak with all cores.

A per-layer profile (onnxruntime's profiler, one thread) shows where the time goes: convolutions
grouped by kernel, input channels and output resolution, and the other ops by type.
"""

from __future__ import annotations

import math
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks import common  # noqa: E402

FULL = dict(window=608, gemm=2048, repeats=3)
QUICK = dict(window=96, gemm=256, repeats=1)
GOAL = 0.50
CONV_OPS = ("Conv", "ConvTranspose")
MATMUL_OPS = ("MatMul", "Gemm")


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, help="input edge in px (default 608: the read "
                                                   "window of a 512 tile)")
    parser.add_argument("--gemm", type=int, help="matmul size n (default 2048)")
    parser.add_argument("--repeats", type=int, help="timed runs, best kept (default 3)")
    return parser.parse_args(argv)


# -- counting -------------------------------------------------------------------------------------
def graph_shapes(model_path: Path, window: int):
    """(graph, {tensor name: shape}) for a 1 x C x window x window input."""
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    model = onnx.load(str(model_path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    channels = dims[1].dim_value
    for dim, value in zip(dims, (1, channels, window, window), strict=True):
        dim.dim_value = value
    inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    shapes = {}
    graph = inferred.graph
    for info in [*graph.input, *graph.value_info, *graph.output]:
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else None
                             for d in info.type.tensor_type.shape.dim]
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
    return graph, shapes


def conv_key(kernel: int, cin: int, hout: int, window: int) -> tuple[int, int, int]:
    """A convolution's group: kernel size, input channels, output resolution (1/r)."""
    return kernel, cin, round(window / hout)


def count_flops(model_path: Path, window: int):
    """({op type: (nodes, FLOPs)}, {conv_key: (nodes, FLOPs, Cout)}, other-op elements)."""
    graph, shapes = graph_shapes(model_path, window)
    by_op: dict[str, list] = defaultdict(lambda: [0, 0])
    convs: dict[tuple, list] = defaultdict(lambda: [0, 0, 0])
    other = 0
    for node in graph.node:
        out = shapes.get(node.output[0])
        if node.op_type in CONV_OPS + MATMUL_OPS and (out is None or None in out):
            raise RuntimeError(f"no shape for {node.op_type} {node.name}: cannot count its FLOPs")
        if node.op_type == "Conv":
            w = shapes[node.input[1]]
            flops = 2 * math.prod(out) * math.prod(w[1:])
            group = convs[conv_key(w[2], shapes[node.input[0]][1], out[2], window)]
            group[0] += 1
            group[1] += flops
            group[2] = out[1]
        elif node.op_type == "ConvTranspose":  # weight (Cin, Cout / groups, kh, kw)
            flops = 2 * math.prod(shapes[node.input[0]]) * math.prod(shapes[node.input[1]][1:])
        elif node.op_type in MATMUL_OPS:
            a = shapes[node.input[0]]
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            flops = 2 * math.prod(out) * (a[-2] if trans_a else a[-1])
        else:
            if out is not None and None not in out and node.op_type != "Constant":
                other += math.prod(out)
            continue
        by_op[node.op_type][0] += 1
        by_op[node.op_type][1] += flops
    return dict(by_op), dict(convs), other


# -- timing ---------------------------------------------------------------------------------------
def gemm_gflops(n: int, threads: int, repeats: int) -> tuple[float, float]:
    """(torch.mm, numpy @) GFLOP/s of an n x n float32 matmul; torch at ``threads`` threads,
    numpy at its BLAS's own thread count."""
    import torch

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    flops = 2 * n**3
    runs = max(5, 3 * repeats)  # the peak is the best the machine gives: try often
    t_torch = common.best_time(lambda: torch.mm(ta, tb), runs)
    t_numpy = common.best_time(lambda: a @ b, runs)
    return flops / t_torch / 1e9, flops / t_numpy / 1e9


def profile(model_path: Path, window: int, repeats: int, tmp: Path):
    """Per-node kernel seconds of one session.run at one thread, averaged over ``repeats`` runs:
    ({conv_key: seconds}, {op type: seconds}, wall seconds per run)."""
    session = common.cpu_session(model_path, 1, profile_prefix=str(tmp / "ort_profile"))
    inp = session.get_inputs()[0]
    x = np.random.default_rng(0).uniform(-1, 1, (1, inp.shape[1], window, window))
    events, wall = common.profiled_nodes(session, {inp.name: x.astype(np.float32)}, repeats)
    convs: dict[tuple, float] = defaultdict(float)
    ops: dict[str, float] = defaultdict(float)
    for e in events:
        op, seconds = e["args"]["op_name"], e["dur"] * 1e-6 / repeats
        if "Conv" in op:
            xs, ws = (next(iter(d.values())) for d in e["args"]["input_type_shape"][:2])
            outs = next(iter(e["args"]["output_type_shape"][0].values()))
            convs[conv_key(ws[2], xs[1], outs[2], window)] += seconds
            ops["Conv (all kinds)"] += seconds
        else:
            ops[op] += seconds
    return dict(convs), dict(ops), wall


def nominal(threads: int) -> str:
    peak = common.nominal_peak_gflops(threads)
    return "?" if peak is None else common.fmt(peak, 0)


def report_flops(model_path: Path, window: int) -> tuple[float, dict]:
    """The FLOP table of one window (and what a written megapixel costs); (total FLOPs, the
    convolution groups of count_flops)."""
    from s2o_qgis_plugin.engine.model import S2OModel
    from s2o_qgis_plugin.engine.tiling import read_halo

    by_op, conv_groups, other = count_flops(model_path, window)
    total = sum(f for _, f in by_op.values())
    mp = window**2 / 1e6
    print("### FLOPs counted from the graph\n")
    rows = [(op, n, common.fmt(f / 1e9, 2), common.fmt(f / mp / 1e9, 2),
             common.fmt(100 * f / total, 1)) for op, (n, f) in sorted(by_op.items())]
    rows.append(("other ops (<= 1 FLOP per output element)", "-", common.fmt(other / 1e9, 3),
                 common.fmt(other / mp / 1e9, 3), f"{100 * other / total:.1f} (not counted)"))
    print(common.markdown_table(("op", "nodes", "GFLOP per window",
                                 "GFLOP per computed megapixel", "% of counted"), rows))
    meta = S2OModel.load(model_path, device="cpu", threads=1).meta
    tile = window - 2 * read_halo(meta.halo, meta.size_multiple)
    if tile > 0:
        print(f"\nA computed megapixel is one of the window (tile + halo); at tile {tile} each "
              f"written pixel costs {common.halo_overhead(tile, (window - tile) // 2):.2f} "
              f"computed pixels, i.e. {total / tile**2 / 1e3:.1f} GFLOP per written megapixel.")
    return total, conv_groups


def report_rate(model_path: Path, opt, threads_list: list[int], threads: int,
                total: float) -> dict:
    """The achieved FLOP rate against the matmul peak, per thread count: {threads: (achieved
    GFLOP/s, peak used, torch.mm GFLOP/s, numpy GFLOP/s, seconds per run)}."""
    sessions = {t: common.cpu_session(model_path, t) for t in threads_list}
    name = sessions[1].get_inputs()[0].name
    channels = sessions[1].get_inputs()[0].shape[1]
    x = np.random.default_rng(0).uniform(-1, 1, (1, channels, opt.window, opt.window)).astype(
        np.float32)
    mp = opt.window**2 / 1e6
    print("\n### Achieved rate vs float32 matmul peak\n")
    results = {}
    for t in threads_list:
        seconds = common.best_time(lambda t=t: sessions[t].run(None, {name: x}), opt.repeats)
        torch_peak, numpy_peak = gemm_gflops(opt.gemm, t, opt.repeats)
        results[t] = (total / seconds / 1e9, max(torch_peak, numpy_peak if t == threads
                                                  else 0.0), torch_peak, numpy_peak, seconds)
    print(common.markdown_table(
        ("threads", "session.run ms", "MP/s (window px)", "achieved GFLOP/s",
         "torch.mm GFLOP/s", "numpy @ GFLOP/s (its own threads)", "peak used", "achieved / peak",
         "nominal peak GFLOP/s"),
        [(t, common.fmt(1e3 * r[4], 0), common.fmt(mp / r[4], 3), common.fmt(r[0], 1),
          common.fmt(r[2], 1), common.fmt(r[3], 1), common.fmt(r[1], 1),
          f"{100 * r[0] / r[1]:.0f} %", nominal(t)) for t, r in results.items()]))
    return results


def report_profile(model_path: Path, opt, tmp_dir, conv_groups: dict, peak1: float) -> None:
    """Where the time goes: the profiled convolutions by kind and the other ops."""
    with tempfile.TemporaryDirectory(prefix="s2o-bench-flops-", dir=tmp_dir) as tmp:
        conv_time, op_time, wall = profile(model_path, opt.window, opt.repeats, Path(tmp))
    print(f"\n### Where the time goes (onnxruntime profiler, 1 thread, {opt.window} px window; "
          f"{1e3 * wall:.0f} ms per run)\n")
    rows = []
    for key in sorted(conv_groups, key=lambda k: -conv_time.get(k, 0.0)):
        n, flops, cout = conv_groups[key]
        seconds = conv_time.get(key)
        k, cin, r = key
        rows.append((f"conv {k}x{k}, {cin} -> {cout} ch, at 1/{r}", n, common.fmt(flops / 1e9, 2),
                     "?" if seconds is None else common.fmt(1e3 * seconds, 1),
                     "?" if seconds is None else common.fmt(100 * seconds / wall, 1),
                     "?" if seconds is None else common.fmt(flops / seconds / 1e9, 1),
                     "?" if seconds is None else f"{100 * flops / seconds / 1e9 / peak1:.0f} %"))
    for op, seconds in sorted(op_time.items(), key=lambda kv: -kv[1]):
        if op != "Conv (all kinds)":
            rows.append((op, "-", "-", common.fmt(1e3 * seconds, 1),
                         common.fmt(100 * seconds / wall, 1), "-", "-"))
    print(common.markdown_table(("layers", "nodes", "GFLOP", "ms", "% of run", "GFLOP/s",
                                 "% of 1-thread peak"), rows))
    conv_share = op_time.get("Conv (all kinds)", 0.0) / wall
    slowest = max(conv_groups, key=lambda k: conv_time.get(k, 0.0) / conv_groups[k][1])
    others = sorted(((op, s) for op, s in op_time.items() if op != "Conv (all kinds)"),
                    key=lambda kv: -kv[1])[:4]
    print(f"\nConvolutions take {100 * conv_share:.0f} % of a run; the rest is memory traffic, "
          "largest first: " + ", ".join(f"{op} {100 * s / wall:.1f} %" for op, s in others)
          + ". The least efficient convolutions"
          f" are {slowest[0]}x{slowest[0]} with {slowest[1]} input channels at 1/{slowest[2]} "
          f"resolution ({conv_groups[slowest][2]} output channels): few channels give the "
          "matrix kernels short dimensions, and onnxruntime pads the channels to its 8-wide "
          "blocks.\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    opt = common.sizes(args, FULL, QUICK)
    model_path, model_label = common.benchmark_model(args.cache_dir)
    threads_list = sorted({1, args.threads})
    common.print_header("FLOPs, achieved FLOP rate and the machine's matmul peak", {
        "command": "python benchmarks/bench_flops.py" + (" --quick" if args.quick else ""),
        "model": model_label, "model file": common.describe_model(model_path),
        "input": f"1 x C x {opt.window} x {opt.window}",
        "matmul": f"{opt.gemm} x {opt.gemm} float32", "threads": ", ".join(map(str, threads_list)),
        "repeats (best kept)": opt.repeats,
    })
    total, conv_groups = report_flops(model_path, opt.window)
    results = report_rate(model_path, opt, threads_list, args.threads, total)
    report_profile(model_path, opt, args.tmp_dir, conv_groups, peak1=results[1][2])
    achieved, peak = results[args.threads][:2]
    ratio = achieved / peak
    print(common.goal_table([
        (f"achieved >= {100 * GOAL:.0f} % of float32 matmul peak ({args.threads} threads)",
         f">= {100 * GOAL:.0f} %", f"{100 * ratio:.0f} % ({achieved:.1f} of {peak:.1f} GFLOP/s)",
         ratio >= GOAL),
    ]))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
