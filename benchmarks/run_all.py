"""Run every benchmark and write docs/PERFORMANCE.md (`make bench`).

    python benchmarks/run_all.py [--quick] [--out docs/PERFORMANCE.md] [--note TEXT]
                                 [--only bench_engine,bench_flops]

Each script runs in its own process, one after the other (they would disturb each other's
timings), with the same ``--cache-dir``; its markdown output goes into the report as is. The
report starts with the machine (CPU model, cores, RAM, library versions, execution providers,
date), a summary of every goal table, and the exact commands with their run time and the load
average before each (other work on the machine makes timings noisy: compare ratios measured
within one script rather than absolute figures across reports).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

SCRIPTS = ("bench_engine", "bench_ort_vs_torch", "bench_flops", "bench_memory", "bench_training",
           "bench_distributed", "gpu_check")
DEFAULT_OUT = common.ROOT / "docs" / "PERFORMANCE.md"
GOAL_HEADER = "| " + " | ".join(common.GOAL_HEADERS) + " |"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every script with --quick")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report file")
    parser.add_argument("--note", default="", help="a paragraph for the top of the report "
                                                   "(e.g. what else was running)")
    parser.add_argument("--only", help=f"comma-separated subset of {', '.join(SCRIPTS)}")
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(os.environ.get(common.CACHE_ENV, common.DEFAULT_CACHE)))
    parser.add_argument("--tmp-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, help="passed to every script (default: theirs, "
                                                    "all CPUs)")
    return parser.parse_args(argv)


def goal_rows(name: str, markdown: str) -> list[str]:
    """The rows of the goal tables in a script's output, prefixed with the script's name."""
    rows, inside = [], False
    for line in markdown.splitlines():
        if line.strip() == GOAL_HEADER:
            inside = True
        elif inside and line.startswith("|") and not line.startswith("|---"):
            rows.append(f"| {name} {line}")
        elif inside and not line.startswith("|"):
            inside = False
    return rows


def run_script(name: str, args) -> dict:
    command = [f"benchmarks/{name}.py", *(["--quick"] if args.quick else [])]
    extra = ["--cache-dir", str(args.cache_dir)]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    if args.tmp_dir is not None:
        extra += ["--tmp-dir", str(args.tmp_dir)]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *command, *extra], cwd=common.ROOT, text=True,
                          capture_output=True)
    seconds = time.perf_counter() - start
    output = done.stdout.strip()
    if done.returncode != 0:
        output += (f"\n\n**{name} failed (exit status {done.returncode})**:\n\n```\n"
                   f"{done.stderr.strip()[-3000:]}\n```")
        sys.stderr.write(done.stderr)
    return dict(name=name, command="python " + " ".join(command), seconds=seconds, load=load,
                output=output, ok=done.returncode == 0)


def report(results: list[dict], machine: list[tuple[str, str]], note: str, quick: bool) -> str:
    parts = ["# Performance", ""]
    parts.append("Written by `make bench` (`python benchmarks/run_all.py"
                 + (" --quick" if quick else "") + "`); every table below is the output of the "
                 "command named in it. Each script prints the settings it ran with; the goals are "
                 "gathered in the summary.")
    if quick:
        parts.append("\n**Quick run (tiny sizes): the numbers mean nothing.**")
    if note:
        parts += ["", f"**Note:** {note}"]
    parts += ["", "## Machine", "", common.markdown_table(("what", "value"), machine)]
    goals = [row for r in results for row in goal_rows(r["name"], r["output"])]
    parts += ["", "## Goals", "",
              "| script " + GOAL_HEADER, "|---" * (len(common.GOAL_HEADERS) + 1) + "|", *goals]
    parts += ["", "## Commands", "", common.markdown_table(
        ("command", "run time", "load average (1 min) before", "status"),
        [(f"`{r['command']}`", common.duration(r["seconds"]), common.fmt(r["load"]),
          "ok" if r["ok"] else "**failed**") for r in results])]
    for r in results:
        body = r["output"]
        parts += ["", body or f"## {r['name']}\n\n(no output)"]
    return "\n".join(parts) + "\n"


def update_report(path: Path, result: dict) -> None:
    """Put one script's run (a dict as run_script returns) into the report at ``path``: its
    section (from its "## " title to the next "## " heading), its rows of the goal summary and
    its row of the command table replaced, or appended where the report has none yet; a new
    report when there is no file. For a script run alone after `make bench`."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report([result], common.machine_info(), "", False))
        return
    lines = path.read_text().splitlines()
    body = result["output"].splitlines()
    title = body[0]
    if title in lines:
        start = lines.index(title)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        lines[start:end] = body + ([""] if end < len(lines) else [])
    else:
        lines += ["", *body]
    name = result["name"]
    command = (f"| `{result['command']}` | {common.duration(result['seconds'])} | "
               f"{common.fmt(result['load'])} | {'ok' if result['ok'] else '**failed**'} |")
    for header, new_rows, mine in (
            ("| script " + GOAL_HEADER, goal_rows(name, result["output"]),
             lambda row: row.startswith(f"| {name} |")),
            ("| command | run time | load average (1 min) before | status |", [command],
             lambda row: row.startswith(f"| `python benchmarks/{name}.py"))):
        if header not in lines:
            continue
        first = lines.index(header) + 2  # the header and its |---| line
        last = first
        while last < len(lines) and lines[last].startswith("|"):
            last += 1
        kept = [row for row in lines[first:last] if not mine(row)]
        lines[first:last] = kept + new_rows
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    names = SCRIPTS if not args.only else tuple(n.strip() for n in args.only.split(","))
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        sys.exit(f"run_all.py: unknown script(s) {unknown}; choose from {', '.join(SCRIPTS)}")
    machine = common.machine_info()
    results = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results.append(run_script(name, args))
        print(f"  {name}: {common.duration(results[-1]['seconds'])}"
              + ("" if results[-1]["ok"] else " FAILED"), file=sys.stderr, flush=True)
    machine.append(("finished (UTC)", common.utc_now()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(results, machine, args.note, args.quick))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
