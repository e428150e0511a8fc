"""Smoke test of the benchmark scripts: each runs with --quick (tiny sizes) in its own process,
through benchmarks/run_all.py, and prints markdown tables with the expected columns. No timing
is asserted: the numbers of a quick run mean nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("bench_engine", "bench_ort_vs_torch", "bench_flops", "bench_memory", "bench_training",
           "bench_distributed", "gpu_check")
GOAL_COLUMNS = ["goal", "target", "measured", "met"]
# the columns of each script's tables (first cells are enough to tell them apart, all are checked)
EXPECTED = {
    "bench_engine": [
        ["tile", "read window", "tiles", "halo overhead (T+2h')^2/T^2", "computed px / scene px",
         "raw session.run MP/s (fastest)", "engine MP/s (fastest)",
         "engine / raw (median of rounds)", "rounds (lowest-highest)"],
        ["stage", "tile 128"],
    ],
    "bench_ort_vs_torch": [
        ["runtime", "graph padding", "graph optimisation", "execution mode", "precision",
         "threads", "tile (window)", "ms / window", "MP/s written",
         "speed-up vs torch eager (trained, reflect)",
         "speed-up vs torch eager (zero-padded copy)"],
        ["tile", "window", "halo overhead", "threads", "torch ms (trained)",
         "torch ms (zero-padded)", "onnxruntime ms", "onnxruntime MP/s written",
         "speed-up vs trained", "speed-up vs zero-padded"],
        ["round", "torch (trained) ms", "torch (zero-padded) ms", "onnxruntime ms",
         "speed-up vs trained", "speed-up vs zero-padded"],
    ],
    "bench_flops": [
        ["op", "nodes", "GFLOP per window", "GFLOP per computed megapixel", "% of counted"],
        ["threads", "session.run ms", "MP/s (window px)", "achieved GFLOP/s", "torch.mm GFLOP/s",
         "numpy @ GFLOP/s (its own threads)", "peak used", "achieved / peak",
         "nominal peak GFLOP/s"],
        ["layers", "nodes", "GFLOP", "ms", "% of run", "GFLOP/s", "% of 1-thread peak"],
    ],
    "bench_memory": [
        ["scene", "megapixels", "input on disk MB", "model", "RSS after model load MB",
         "peak RSS MB", "peak - after load MB", "seconds", "MP/s", "output MB"],
    ],
    "bench_training": [
        ["setting", "width / size", "device", "timed steps", "s / step (median)",
         "s / step (best)", "it/s (median)", "data wait s / step (median)", "data share"],
    ],
    "bench_distributed": [
        ["workers", "threads per worker", "scenes", "MP per round", "rounds", "wall s (median)",
         "scenes per minute", "MP/s", "MP/s per worker",
         "speed-up vs 1 worker(s) (median, range of paired rounds)",
         "CPU a worker got while in a task", "MP per CPU-second"],
        ["measure", "tasks", "ms per task"],
        ["quantity", "estimate"],
    ],
}


def tables(markdown: str) -> list[tuple[list[str], list[list[str]]]]:
    """(header cells, data rows) of every markdown table in ``markdown``."""
    found, lines = [], markdown.splitlines()
    for i in range(len(lines) - 1):
        if lines[i].startswith("|") and lines[i + 1].startswith("|---") and (
                i == 0 or not lines[i - 1].startswith("|")):
            header = [c.strip() for c in lines[i].strip("|").split("|")]
            rows = []
            for line in lines[i + 2:]:
                if not line.startswith("|"):
                    break
                rows.append([c.strip() for c in line.strip("|").split("|")])
            found.append((header, rows))
    return found


def section(report: str, script: str) -> str:
    """The part of the report written by ``script`` (from its command line to the next script)."""
    start = report.index(f"- command: python benchmarks/{script}.py")
    ends = [report.find("- command: python benchmarks/", start + 1), len(report)]
    return report[start:min(e for e in ends if e > 0)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """Temporary rasters and the stand-in models' cache, shared by the tests of this module."""
    return tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="module")
def report(workdir) -> str:
    tmp = workdir
    out = tmp / "PERFORMANCE.md"
    done = subprocess.run(
        [sys.executable, "benchmarks/run_all.py", "--quick", "--threads", "1", "--out", str(out),
         "--cache-dir", str(tmp / "cache"), "--tmp-dir", str(tmp), "--note", "smoke test"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out.read_text()


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_script_prints_its_tables(report, script):
    found = tables(section(report, script))
    headers = [h for h, _ in found]
    for expected in EXPECTED[script]:
        assert expected in headers, f"{script}: no table {expected}; tables: {headers}"
        rows = found[headers.index(expected)][1]
        assert rows and all(len(r) == len(expected) for r in rows)
    goal_rows = found[headers.index(GOAL_COLUMNS)][1]
    assert goal_rows and all(r[2] and r[0] for r in goal_rows)  # each goal says what it measured


def test_report_has_machine_goals_and_commands(report):
    assert report.startswith("# Performance")
    assert "**Note:** smoke test" in report and "Quick run (tiny sizes)" in report
    found = dict((tuple(h), rows) for h, rows in tables(report))
    machine = dict(found[("what", "value")])
    assert {"CPU", "RAM", "onnxruntime", "torch", "date (UTC)"} <= set(machine)
    assert machine["CPU"] != "unknown"
    goals = found[("script", *GOAL_COLUMNS)]
    assert {r[0] for r in goals} >= set(EXPECTED)  # every benchmark contributed its goals
    commands = found[("command", "run time", "load average (1 min) before", "status")]
    assert [c[0] for c in commands] == [
        f"`python benchmarks/{s}.py --quick --threads 1`" for s in SCRIPTS]
    assert all(c[3] == "ok" for c in commands)


def test_gpu_check_without_cuda_says_so_and_dry_run_fills_its_tables(report, workdir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the no-CUDA message is not printed")
    gpu_part = report[report.index("## GPU check"):]
    assert "No CUDA here: torch" in gpu_part and "Nothing was measured" in gpu_part
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--cpu-dry-run", "--threads", "1",
         "--cache-dir", str(workdir / "cache"), "--tmp-dir", str(workdir)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    headers = [h for h, _ in tables(done.stdout)]
    assert ["model", "tile", "window", "batch", "ms / batch", "MP/s written"] in headers
    assert ["width", "px", "AMP", "timed steps", "ms / step (median)", "it/s",
            "320k iterations take", "data share"] in headers
    goal_rows = tables(done.stdout)[headers.index(GOAL_COLUMNS)][1]
    assert [r[3] for r in goal_rows] == ["n/a", "n/a"]  # a dry run claims no GPU figure
