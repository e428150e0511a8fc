"""Many scenes on a Dask cluster (s2o-translate-many): scenes per minute and megapixels per second
with 1 and 2 workers in one run, the scheduler's overhead per task, and what 100 workers would do
with a year of Sentinel-1 over a country, on paper.

    python benchmarks/bench_distributed.py [--workers 1,2] [--scenes 4] [--size 1024]
                                           [--rounds 3] [--tile 512] [--quick] [--no-doc]

Scenes: ``--scenes`` rasters of ``size x size`` px made of real Sentinel-1 (the project's test
scenes, Punjab, Hefei and the Austrian mosaic, extended by mirror reflection; dB, VV+VH). Each
worker count gets its own LocalCluster (processes of one thread, as s2o-translate-many starts
them), warmed up (every worker has loaded the model) before timing; the configurations take turns
round by round, so that other work on the machine weighs on all alike, and the speed-up is the
median of the paired rounds. Each round writes every scene again into a fresh folder
(many.translate_many, overwrite).

Overhead: no-op tasks (``int``) submitted in bulk (the scheduler's throughput) and one at a time
(a round trip), and for the scene jobs the time the workers were not inside a task:
(wall x workers - sum of task times) / scenes.

Written: the markdown is printed; unless --quick or --no-doc, it also replaces this script's
section (and its rows of the goal and command tables) in docs/PERFORMANCE.md (run_all.py's
format), so it can be run alone after `make bench`.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

FULL = dict(workers="1,2", scenes=4, size=1024, rounds=3, tile=512, noop=400)
QUICK = dict(workers="1,2", scenes=2, size=192, rounds=1, tile=128, noop=20)
SOURCES = ("tests/data/heldout/punjab_s1.tif", "tests/data/heldout/hefei_s1.tif",
           "tests/data/bigearthnet/s1_mosaic.tif")
ROUND_TRIPS = 20
SPEEDUP_GOAL = 1.7  # 2 workers vs 1 on 2 idle cores: 2 at best
OVERHEAD_GOAL = 0.01  # a task's round trip through the scheduler, as a share of a scene's time
TITLE = "Many scenes on a Dask cluster (s2o-translate-many)"

# -- the paper estimate (assumptions printed with it) ---------------------------------------------
COUNTRY, COUNTRY_KM2 = "Germany", 357_600
PX_PER_KM2 = 10_000  # Sentinel-1 IW GRD(H) at 10 m
ACQUISITIONS_PER_YEAR = 180  # about every 2 days at 50 N: two satellites, ascending + descending
SCENE_MP = 420  # an IW GRDH slice, about 250 km x 170 km at 10 m (25,000 x 16,700 px)
CLUSTER_WORKERS = 100
OUTPUT_BYTES_PER_PX = 6  # 3 bands uint16, before compression


def parse_args(argv=None):
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.set_defaults(threads=1)
    parser.add_argument("--workers", help=f"worker counts to compare (default {FULL['workers']})")
    parser.add_argument("--scenes", type=int, help=f"scenes per round (default {FULL['scenes']})")
    parser.add_argument("--size", type=int, help=f"scene edge in px (default {FULL['size']})")
    parser.add_argument("--rounds", type=int, help=f"timed rounds (default {FULL['rounds']})")
    parser.add_argument("--tile", type=int, help=f"tile size (default {FULL['tile']})")
    parser.add_argument("--noop", type=int,
                        help=f"no-op tasks for the overhead (default {FULL['noop']})")
    parser.add_argument("--doc", type=Path, default=common.ROOT / "docs" / "PERFORMANCE.md",
                        help="report whose section this run replaces (default "
                             "docs/PERFORMANCE.md)")
    parser.add_argument("--no-doc", action="store_true", help="print only")
    args = parser.parse_args(argv)
    args.__dict__.update(vars(common.sizes(args, FULL, QUICK)))
    return args


def write_scenes(folder: Path, n: int, size: int) -> list[Path]:
    """``n`` scenes of ``size`` px from the real test scenes, extended by mirror reflection
    (the engine's own tiling.reflect_index), their CRS and pixel size kept."""
    import numpy as np
    import rasterio

    from s2o_qgis_plugin.engine.tiling import reflect_index

    out = []
    for i in range(n):
        with rasterio.open(common.ROOT / SOURCES[i % len(SOURCES)]) as src:
            data, profile, names = src.read(), src.profile, src.descriptions
        rows, cols = reflect_index(np.arange(size), data.shape[1]), reflect_index(
            np.arange(size), data.shape[2])
        big = data[:, rows][:, :, cols]
        profile.update(width=size, height=size, tiled=True, blockxsize=256, blockysize=256)
        path = folder / f"scene{i:03d}.tif"
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(big)
            for b, name in enumerate(names, start=1):
                dst.set_band_description(b, name)
        out.append(path)
    return out


def timed_job(client, scenes, out_dir, args, model) -> dict:
    from s2o_qgis_plugin.distributed.many import translate_many

    start = time.perf_counter()
    result = translate_many(scenes, out_dir, model, client=client, overwrite=True,
                            tile_size=args.tile, threads=args.threads)
    wall = time.perf_counter() - start
    failed = [f"{s.src}: {s.reason}" for s in result.failed]
    if failed:
        raise RuntimeError("scenes failed: " + "; ".join(failed))
    in_tasks = sum(s.seconds for s in result.scenes)
    return dict(wall=wall, mp=result.megapixels_written, in_tasks=in_tasks,
                cpu=sum(s.cpu_seconds for s in result.scenes),
                task=statistics.median(s.seconds for s in result.scenes),
                outside=(wall * result.workers - in_tasks) / len(result.scenes),
                workers=result.workers)


def noop_overhead(client, n: int) -> tuple[float, float]:
    """(seconds per no-op task submitted in bulk, seconds per task one at a time)."""
    client.gather(client.map(int, range(4), pure=False))  # warm
    start = time.perf_counter()
    client.gather(client.map(int, range(n), pure=False))
    bulk = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for i in range(ROUND_TRIPS):
        client.submit(int, i, pure=False).result()
    return bulk, (time.perf_counter() - start) / ROUND_TRIPS


def paper_estimate(mp_s_per_worker: float, efficiency: float, overhead_s: float,
                   tile: int, shared_mp_s: float) -> str:
    """A year of Sentinel-1 over COUNTRY on CLUSTER_WORKERS workers, from the measured rates."""
    total_mp = COUNTRY_KM2 * PX_PER_KM2 * ACQUISITIONS_PER_YEAR / 1e6
    scenes = total_mp / SCENE_MP
    rate = CLUSTER_WORKERS * mp_s_per_worker * efficiency
    seconds = total_mp / rate
    scene_s = SCENE_MP / mp_s_per_worker
    lines = [
        f"### On paper: a year of Sentinel-1 over {COUNTRY} on {CLUSTER_WORKERS} workers", "",
        "Assumptions:", "",
        f"- area {COUNTRY_KM2:,} km² ({COUNTRY}), Sentinel-1 IW GRD at 10 m: "
        f"{PX_PER_KM2:,} px per km², already calibrated and terrain-corrected (that "
        "pre-processing is not counted);",
        f"- {ACQUISITIONS_PER_YEAR} acquisitions of every point per year (about one every 2 days "
        "at 50° N: two satellites, ascending and descending passes, overlapping tracks; a single "
        "satellite's 12-day repeat in one direction would be about 30);",
        f"- scenes of {SCENE_MP} MP (an IW GRDH slice, about 250 x 170 km), one task each;",
        f"- a worker is one CPU core of this machine's kind to itself, running one thread, at "
        f"the rate measured above per CPU-second ({mp_s_per_worker:.3f} MP/s written, tile "
        f"{tile}), busy {100 * efficiency:.0f} % of the time (the share of its time inside "
        f"tasks measured above) on all {CLUSTER_WORKERS} workers: scenes are independent "
        "tasks, and reading inputs from and writing outputs to shared storage is assumed not "
        "to be the bottleneck;",
        f"- the scheduler's overhead per task as measured above ({overhead_s * 1e3:.1f} ms).",
        "",
        common.markdown_table(("quantity", "estimate"), [
            ("pixels to translate", f"{total_mp:,.0f} MP ({total_mp / 1e6:.2f} x 10^12 px)"),
            ("scenes (tasks)", f"{scenes:,.0f}"),
            ("one scene on one worker", common.duration(scene_s)),
            (f"cluster rate ({CLUSTER_WORKERS} workers)", f"{rate:,.1f} MP/s"),
            ("the whole year", f"{common.duration(seconds)} ({seconds / 86400:.2f} days)"),
            ("the whole year at the wall-clock rate of 1 worker here (a core shared with other "
             f"work, {shared_mp_s:.3f} MP/s)",
             common.duration(total_mp / (CLUSTER_WORKERS * shared_mp_s * efficiency))),
            ("scheduler overhead, all tasks", common.duration(scenes * overhead_s)),
            ("output before compression", f"{total_mp * 1e6 * OUTPUT_BYTES_PER_PX / 1e12:.1f} TB"),
        ]),
        "",
        f"With {scenes / CLUSTER_WORKERS:.0f} scenes per worker the last wave leaves workers idle "
        f"for at most one scene's time ({common.duration(scene_s)}), "
        f"{100 * scene_s / seconds:.0f} % of the total; the scheduler's own share is nil. A "
        "GPU worker (onnxruntime CUDA) would change the per-worker rate, not the arithmetic.",
    ]
    return "\n".join(lines)


def measure(args) -> str:
    from distributed import Client, LocalCluster

    from s2o_qgis_plugin.distributed.tasks import warm

    model, what = common.benchmark_model(args.cache_dir)
    counts = common.int_list(args.workers)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        common.print_header(TITLE, {
            "command": "python benchmarks/bench_distributed.py",
            "model": what,
            "model file": common.describe_model(model),
            "scenes": f"{args.scenes} per round, {args.size} x {args.size} px, real Sentinel-1 "
                      f"dB VV+VH ({', '.join(Path(s).name for s in SOURCES)}, mirror-extended)",
            "tile": args.tile,
            "workers": f"{', '.join(map(str, counts))} (LocalCluster processes), "
                       f"{args.threads} thread(s) each",
            "timed rounds": f"{args.rounds}, configurations in turn, after a warm-up",
        })
    print(out.getvalue(), end="", file=sys.stderr)
    rounds = {n: [] for n in counts}
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp, contextlib.ExitStack() as stack:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        scenes = write_scenes(tmp / "in", args.scenes, args.size)
        clients = {}
        for n in counts:
            cluster = stack.enter_context(LocalCluster(
                n_workers=n, threads_per_worker=args.threads, processes=True,
                dashboard_address=":0"))
            clients[n] = stack.enter_context(Client(cluster, set_as_default=False))
            clients[n].wait_for_workers(n)
            clients[n].run(warm, str(model), "auto", args.threads)  # each worker loads it
        for r in range(args.rounds):
            for n in counts:
                rounds[n].append(timed_job(clients[n], scenes, tmp / f"r{r}w{n}", args, model))
                print(f"round {r + 1}: {n} worker(s) {rounds[n][-1]['wall']:.1f} s",
                      file=sys.stderr, flush=True)
        biggest = max(counts)
        bulk, trip = noop_overhead(clients[biggest], args.noop)
    return report(args, counts, rounds, bulk, trip, out.getvalue())


def report(args, counts, rounds, bulk, trip, header: str) -> str:
    base = counts[0]
    rows, med = [], {}
    for n in counts:
        walls = [r["wall"] for r in rounds[n]]
        wall = statistics.median(walls)
        mp = rounds[n][0]["mp"]
        speedups = [b["wall"] / r["wall"] for b, r in zip(rounds[base], rounds[n], strict=True)]
        share = statistics.median(r["cpu"] / r["in_tasks"] for r in rounds[n])
        per_cpu = statistics.median(mp / r["cpu"] for r in rounds[n])
        med[n] = dict(wall=wall, mps=mp / wall, speedup=statistics.median(speedups),
                      per_cpu=per_cpu, share=share)
        rows.append((n, args.threads, f"{args.scenes} x {args.size} px", f"{mp:.2f}",
                     len(walls), common.fmt(wall, 1),
                     common.fmt(args.scenes / wall * 60, 1), common.fmt(mp / wall, 3),
                     common.fmt(mp / wall / n, 3),
                     f"{med[n]['speedup']:.2f} ({min(speedups):.2f}-{max(speedups):.2f})",
                     f"{100 * share:.0f} %", common.fmt(per_cpu, 3)))
    top = max(counts)
    jobs = rounds[top]
    outside = statistics.median(j["outside"] for j in jobs)
    task = statistics.median(j["task"] for j in jobs)
    scheduling = task / (task + outside)  # the share of a worker's time spent translating
    parts = [header.rstrip(), "", "### Throughput", "", common.markdown_table(
        ("workers", "threads per worker", "scenes", "MP per round", "rounds",
         "wall s (median)", "scenes per minute", "MP/s", "MP/s per worker",
         f"speed-up vs {base} worker(s) (median, range of paired rounds)",
         "CPU a worker got while in a task", "MP per CPU-second"), rows)]
    parts += ["", "### Scheduler overhead", "", common.markdown_table(
        ("measure", "tasks", "ms per task"), [
            (f"no-op task, {args.noop} submitted at once ({top} workers: the scheduler's "
             "throughput)", args.noop, common.fmt(bulk * 1e3)),
            (f"no-op task, one at a time (a round trip, {top} workers)", ROUND_TRIPS,
             common.fmt(trip * 1e3)),
            (f"scene task: workers' time outside the tasks per scene ({top} workers, median "
             "round; includes waiting for the slowest scene)", args.scenes,
             common.fmt(outside * 1e3, 0)),
            ("scene task: time inside the task (median scene)", args.scenes,
             common.fmt(task * 1e3, 0)),
        ])]
    load = os.getloadavg()
    parts += ["", f"The machine's load average at the end was {load[0]:.2f} on "
              f"{os.cpu_count()} CPUs. 'CPU a worker got while in a task' is the worker "
              "process's CPU time over the task's wall time: below 100 % other work had the "
              "core (the paired rounds weigh it alike, but with more workers than idle cores "
              "the speed-up measures the machine, not the cluster). 'MP per CPU-second' is the "
              "rate of a worker that has its core to itself, what the estimate below uses."]
    cpu_ratio = top * med[top]["share"] / (base * med[base]["share"])
    parts[-1] += (f" Here {top} workers got {cpu_ratio:.2f} x the CPU of {base} "
                  f"({top} x {100 * med[top]['share']:.0f} % against {base} x "
                  f"{100 * med[base]['share']:.0f} %) and went {med[top]['speedup']:.2f} x as "
                  f"fast: {med[top]['speedup'] / cpu_ratio:.2f} of the speed-up the CPU they "
                  "got allows.")
    parts += ["", paper_estimate(med[base]["per_cpu"], scheduling, bulk, args.tile,
                                 med[base]["mps"] / base)]
    overhead_share = trip / task if task else float("inf")
    parts += ["", common.goal_table([
        (f"{top} workers >= {SPEEDUP_GOAL} x the scenes per minute of {base} (median of "
         "paired rounds)", f">= {SPEEDUP_GOAL}",
         f"{med[top]['speedup']:.2f} (load average {load[0]:.2f} on {os.cpu_count()} CPUs)",
         med[top]["speedup"] >= SPEEDUP_GOAL),
        ("scheduler overhead per task (a no-op's round trip) < 1 % of a scene's time in its "
         "task", "< 1 %",
         f"{100 * overhead_share:.2f} % ({trip * 1e3:.1f} of {task * 1e3:.0f} ms)",
         overhead_share < OVERHEAD_GOAL),
    ])]
    return "\n".join(parts) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    started, load = time.perf_counter(), os.getloadavg()[0]
    text = measure(args)
    print(text)
    if not (args.quick or args.no_doc):
        from benchmarks import run_all

        run_all.update_report(args.doc, dict(
            name="bench_distributed", command="python benchmarks/bench_distributed.py",
            seconds=time.perf_counter() - started, load=load, output=text.strip(), ok=True))
        print(f"updated {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
