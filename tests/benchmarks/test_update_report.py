"""run_all.update_report: a script run alone replaces its own section and its rows of the goal
and command tables in an existing report (or adds them), and leaves the rest as it was."""

from __future__ import annotations

from benchmarks import run_all

REPORT = """# Performance

## Goals

| script | goal | target | measured | met |
|---|---|---|---|---|
| bench_engine | engine fast | >= 0.9 | 0.93 | yes |
| bench_distributed | 2 workers | >= 1.7 | 1.20 | **no** |

## Commands

| command | run time | load average (1 min) before | status |
|---|---|---|---|
| `python benchmarks/bench_engine.py` | 2.9 min | 0.73 | ok |
| `python benchmarks/bench_distributed.py` | 3.0 min | 4.00 | ok |

## Engine efficiency

- command: python benchmarks/bench_engine.py

| tile | MP/s |
|---|---|
| 512 | 0.8 |

## Many scenes on a Dask cluster (s2o-translate-many)

- command: python benchmarks/bench_distributed.py

old numbers

## GPU check (CUDA)

No CUDA here.
"""

NEW = """## Many scenes on a Dask cluster (s2o-translate-many)

- command: python benchmarks/bench_distributed.py

new numbers

| goal | target | measured | met |
|---|---|---|---|
| 2 workers | >= 1.7 | 1.90 | yes |
| overhead | < 1 % | 0.2 % | yes |"""


def result(output=NEW, seconds=200.0):
    return dict(name="bench_distributed", command="python benchmarks/bench_distributed.py",
                seconds=seconds, load=1.5, output=output, ok=True)


def test_a_section_and_its_rows_are_replaced_and_the_rest_kept(tmp_path):
    path = tmp_path / "PERFORMANCE.md"
    path.write_text(REPORT)
    run_all.update_report(path, result())
    text = path.read_text()
    assert "old numbers" not in text and "new numbers" in text
    assert text.count("## Many scenes on a Dask cluster") == 1
    assert text.index("new numbers") < text.index("## GPU check (CUDA)")  # in its place
    assert "| bench_engine | engine fast | >= 0.9 | 0.93 | yes |" in text
    assert "| bench_distributed | 2 workers | >= 1.7 | 1.90 | yes |" in text
    assert "| bench_distributed | overhead | < 1 % | 0.2 % | yes |" in text
    assert "1.20" not in text
    assert "| `python benchmarks/bench_distributed.py` | 3.3 min | 1.50 | ok |" in text
    assert "| `python benchmarks/bench_engine.py` | 2.9 min | 0.73 | ok |" in text
    assert "3.0 min" not in text
    assert text.split("## Engine efficiency")[1].split("## Many")[0] == \
        REPORT.split("## Engine efficiency")[1].split("## Many")[0]


def test_a_report_without_the_section_gets_it_appended(tmp_path):
    path = tmp_path / "PERFORMANCE.md"
    before = REPORT.split("## Many scenes")[0].rstrip() + "\n"
    path.write_text(before)
    run_all.update_report(path, result())
    text = path.read_text()
    engine = before[before.index("## Engine efficiency"):].rstrip()
    assert engine in text and text.index(engine) < text.index("new numbers")
    assert text.rstrip().endswith("| overhead | < 1 % | 0.2 % | yes |")


def test_no_report_yet_gives_a_whole_one(tmp_path):
    path = tmp_path / "docs" / "PERFORMANCE.md"
    run_all.update_report(path, result())
    text = path.read_text()
    assert text.startswith("# Performance") and "## Machine" in text and "new numbers" in text
    assert "| bench_distributed | 2 workers | >= 1.7 | 1.90 | yes |" in text
