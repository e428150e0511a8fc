"""The two Python halves of scripts/qgis_matrix.sh (the QGIS compatibility matrix).

    python scripts/qgis_matrix.py smoke --log TEST_LOG --out RESULT.json [--commit C]
    python scripts/qgis_matrix.py report --results DIR --targets T... [--markdown FILE]

``smoke`` runs inside one environment (the host, or a Debian root), with the venv's Python that
scripts/setup.sh made there: it installs the plugin zip into a fresh QGIS profile, runs
s2o:translate, s2o:despeckle and s2o:evaluate (without its optional report file) with
qgis_process on a real Sentinel-1 / Sentinel-2 pair, reads the versions (QGIS, Python, GDAL,
numpy) and the plugin test tier's pytest summaries from TEST_LOG, and writes one JSON result.
``report`` prints the results as a table and writes docs/COMPATIBILITY.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BIGEARTHNET = ROOT / "tests" / "data" / "bigearthnet"
ALGORITHMS = ("translate", "despeckle", "evaluate")
SUMMARY = re.compile(r"^=+ (?P<counts>.*?) in (?P<seconds>[\d.]+)s(?: \([\d:]+\))? =+$")
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")
FAILED_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+)")


def parse_test_log(text: str) -> dict:
    """Sum the pytest summary lines of a log ('=== 3 failed, 97 passed in 12.3s ===').

    Returns counts (passed, failed, errors, skipped), seconds, the number of pytest runs found,
    and the ids of failed tests. No summary line at all means the tier did not run (set-up
    failed): runs is 0.
    """
    totals = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "seconds": 0.0, "runs": 0}
    for line in text.splitlines():
        m = SUMMARY.match(line.strip())
        if not m or not COUNT.search(m["counts"]) and "no tests ran" not in m["counts"]:
            continue
        totals["runs"] += 1
        totals["seconds"] += float(m["seconds"])
        for n, kind in COUNT.findall(m["counts"]):
            key = "errors" if kind.startswith("error") else kind
            if key in totals:
                totals[key] += int(n)
    totals["seconds"] = round(totals["seconds"], 1)
    totals["failures"] = sorted({m[1] for line in text.splitlines()
                                 if (m := FAILED_LINE.match(line.strip()))})
    return totals


def qgis_versions(env: dict) -> dict:
    """QGIS, GDAL and Qt versions as qgis_process reports them (--version)."""
    from scripts.qgis_env import qgis_process_cmd

    done = subprocess.run(qgis_process_cmd("--version"), env=env, capture_output=True, text=True,
                          timeout=300)
    text = done.stdout + done.stderr
    found = {}
    patterns = {"qgis": r"^QGIS (\d+\.\d+\.\d+)", "gdal": r"GDAL(?:/OGR)? version:?\s*(\S+)",
                "qt": r"Qt version:?\s*(\S+)"}
    for key, pattern in patterns.items():
        m = re.search(pattern, text, re.MULTILINE)
        found[key] = m[1].rstrip(",") if m else None
    return found


def run_algorithm(name: str, params: dict, env: dict) -> dict:
    """One ``qgis_process --json run s2o:NAME``: ok, seconds, its results (or the error's tail)."""
    from scripts.qgis_env import qgis_process_cmd

    args = [f"--{k}={v}" for k, v in params.items()]
    t0 = time.monotonic()
    done = subprocess.run(qgis_process_cmd("--json", "run", f"s2o:{name}", *args),
                          env=env, capture_output=True, text=True, timeout=900)
    seconds = round(time.monotonic() - t0, 1)
    results = None
    start = done.stdout.find("{")
    if start >= 0:
        try:
            results = json.loads(done.stdout[start:]).get("results")
        except json.JSONDecodeError:
            results = None
    ok = done.returncode == 0 and results is not None
    out = {"ok": ok, "seconds": seconds}
    if ok:
        out["results"] = {k: v for k, v in results.items() if not isinstance(v, (dict, list))}
    else:
        out["error"] = (done.stdout + done.stderr).strip()[-1500:]
    return out


def smoke(work: Path, env: dict) -> dict:
    """Install the plugin into a fresh profile and run the three algorithms on a real pair."""
    from scripts.build_plugin import build_zip, install
    from scripts.qgis_env import qgis_env

    env = qgis_env(dict(env, QGIS_CUSTOM_CONFIG_PATH=str(work / "profile")))
    install(build_zip(work / "dist"), env)
    patch = json.loads((BIGEARTHNET / "splits.json").read_text())["test"][0]
    sar = shutil.copyfile(BIGEARTHNET / "s1" / f"{patch}.tif", work / "s1.tif")
    ref = shutil.copyfile(BIGEARTHNET / "s2" / f"{patch}.tif", work / "s2.tif")
    runs = {
        "translate": run_algorithm(
            "translate", {"INPUT": sar, "OUTPUT": work / "optical.tif"}, env),
        "despeckle": run_algorithm(
            "despeckle", {"INPUT": sar, "OUTPUT": work / "despeckled.tif"}, env),
    }
    # OUTPUT_HTML_FILE left out on purpose: an optional output must stay optional.
    runs["evaluate"] = run_algorithm(
        "evaluate", {"PREDICTION": work / "optical.tif", "REFERENCE": ref}, env)
    checks = {
        "translate": lambda r: Path(r["OUTPUT"]).is_file(),
        "despeckle": lambda r: Path(r["OUTPUT"]).is_file(),
        "evaluate": lambda r: float(r["PSNR"]) > 0 and 0 < float(r["N_PIXELS"]),
    }
    for name, check in checks.items():
        run = runs[name]
        if run["ok"] and not check(run["results"]):
            run["ok"] = False
            run["error"] = f"unexpected results: {run['results']}"
    return runs


def cmd_smoke(args) -> int:
    import numpy

    from scripts.qgis_env import qgis_env

    env = qgis_env(dict(os.environ))  # offscreen unless a display is set
    result = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": args.commit,
        "numpy": numpy.__version__,
        "python": platform.python_version(),  # the interpreter QGIS embeds, with the venv
        "torch_importable": _importable("torch"),
        "tests": parse_test_log(Path(args.log).read_text(errors="replace")),
    }
    result.update(qgis_versions(env))
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="s2o-smoke-") as tmp:
        try:
            result["smoke"] = smoke(Path(tmp), env)
        except Exception as exc:  # noqa: BLE001 - reported, not raised: the table shows it
            result["smoke"] = {name: {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                               for name in ALGORITHMS}
    result["smoke_seconds"] = round(time.monotonic() - t0, 1)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# -- report ----------------------------------------------------------------------------------------
TARGET_NAMES = {
    "host": "host",
    "bookworm": "Debian 12 root",
    "trixie": "Debian 13 root",
    "trixie-backports": "Debian 13 root + trixie-backports",
}
HEADER = ("environment", "QGIS", "Python", "GDAL", "numpy", "tests passed", "failed",
          "skipped", "test seconds", "translate", "despeckle", "evaluate", "smoke seconds")


def row(target: str, r: dict | None) -> list[str]:
    if r is None:
        return [TARGET_NAMES.get(target, target), "no result"] + [""] * (len(HEADER) - 2)
    t = r["tests"]
    ran = t["runs"] > 0
    smoke_cells = ["ok" if r["smoke"][a]["ok"] else "FAILED" for a in ALGORITHMS]
    return [
        TARGET_NAMES.get(target, target), r.get("qgis") or "?", r.get("python") or "?",
        r.get("gdal") or "?", r.get("numpy") or "?",
        str(t["passed"]) if ran else "did not run", str(t["failed"] + t["errors"]) if ran else "",
        str(t["skipped"]) if ran else "", f"{t['seconds']:.0f}" if ran else "",
        *smoke_cells, f"{r.get('smoke_seconds', 0):.0f}",
    ]


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |",
             "| " + " | ".join("---" if i < 5 else "---:" if i < 9 else "---"
                               for i in range(len(HEADER))) + " |"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def notes(target: str, r: dict) -> list[str]:
    out = [f"- **{TARGET_NAMES.get(target, target)}**: run {r['date']} on commit "
           f"`{r.get('commit') or '?'}`; Qt {r.get('qt') or '?'}; torch importable in the "
           f"venv: {'yes' if r.get('torch_importable') else 'no'}."]
    t = r["tests"]
    if t["runs"] == 0:
        out.append("  The plugin test tier did not run (set-up failed: see the log).")
    for test_id in t["failures"]:
        out.append(f"  - failed: `{test_id}`")
    for a in ALGORITHMS:
        s = r["smoke"][a]
        if not s["ok"]:
            first = s.get("error", "").strip().splitlines()[-1:] or [""]
            out.append(f"  - s2o:{a} failed: `{first[0][:200]}`")
        elif a == "evaluate":
            res = s["results"]
            out.append(f"  - s2o:evaluate without OUTPUT_HTML_FILE: PSNR "
                       f"{float(res['PSNR']):.2f} dB, SSIM {float(res['SSIM']):.4f} on "
                       f"{int(float(res['N_PIXELS']))} pixels.")
    return out


def qt6_paragraph(results: dict) -> str:
    qt6 = sorted(t for t, r in results.items() if r and (r.get("qt") or "").startswith("6."))
    if qt6:
        return f"Run on a Qt6 build of QGIS: {', '.join(qt6)}."
    return ("No Qt6 build of QGIS was run here (Debian's QGIS packages are Qt5 builds), so "
            "metadata.txt sets supportsQt6=False and qgisMaximumVersion=3.99: the plugin claims "
            "the QGIS 3 versions above and no more. The code is kept ready for Qt6 by "
            "tests/unit/test_qt6_ready.py (Qt only through qgis.PyQt, fully scoped enums, none "
            "of the enums QGIS 3.40 deprecated) and by the QGIS tests, which fail when the "
            "plugin calls API the running QGIS deprecates.")


def cmd_report(args) -> int:
    results_dir = Path(args.results)
    targets = list(args.targets)
    for extra in sorted(results_dir.glob("*.json")):  # earlier runs of other targets
        if extra.stem not in targets:
            targets.append(extra.stem)
    results = {}
    for t in targets:
        path = results_dir / f"{t}.json"
        results[t] = json.loads(path.read_text()) if path.is_file() else None
    table = markdown_table([row(t, results[t]) for t in targets])
    print(table)
    if args.markdown:
        body = [
            "# Compatibility",
            "",
            "Written by `scripts/qgis_matrix.sh` (`make qgis-matrix`); do not edit by hand. Each "
            "environment gets a fresh venv from `scripts/setup.sh` without torch (the plugin's "
            "own dependencies only), runs the plugin test tier (`make test-plugin`: engine, "
            "plugin and real-QGIS tests) and a `qgis_process` smoke run of `s2o:translate`, "
            "`s2o:despeckle` and `s2o:evaluate` (without its optional `OUTPUT_HTML_FILE`) on a "
            "real BigEarthNet Sentinel-1/Sentinel-2 pair, with the plugin zip installed into a "
            "fresh QGIS profile. The Debian roots are made with mmdebstrap from Debian's own "
            "packages.",
            "",
            table,
            "",
            "Test seconds: the pytest time of the tier (set-up not counted); smoke seconds: "
            "installing the plugin and the three runs.",
            "",
            "## QGIS 4 (Qt6)",
            "",
            qt6_paragraph(results),
            "",
            "## Runs",
            "",
        ]
        for t in targets:
            body += notes(t, results[t]) if results[t] else [f"- **{t}**: no result."]
        Path(args.markdown).write_text("\n".join(body) + "\n")
        print(f"written: {args.markdown}")
    bad = [t for t, r in results.items() if t in args.targets and (
        r is None or r["tests"]["runs"] == 0 or r["tests"]["failed"] + r["tests"]["errors"]
        or not all(r["smoke"][a]["ok"] for a in ALGORITHMS))]
    if bad:
        print(f"not passing: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("smoke")
    s.add_argument("--log", required=True, help="the plugin test tier's output")
    s.add_argument("--out", required=True)
    s.add_argument("--commit", default=None)
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--targets", nargs="+", required=True)
    r.add_argument("--markdown", default=None)
    args = parser.parse_args(argv)
    return cmd_smoke(args) if args.command == "smoke" else cmd_report(args)


if __name__ == "__main__":
    sys.exit(main())
