"""``s2o-translate-many``: translate many Sentinel-1 scenes on a Dask cluster from a shell.

Runs many.translate_many: one task per scene on a LocalCluster sized to this machine, or on the
cluster whose scheduler is given. Progress (scenes done, a tqdm bar) and one line per finished
scene go to stderr; stdout gets one line per scene, in the order given, ``written: <input> ->
<output>``, ``skipped: <input> -> <output> (<why>)`` or ``failed: <input>: <reason>``, then
``summary: N written, N skipped, N failed (...)``. Errors of the whole job are one line on
stderr, ``s2o-translate-many: error: <message>``; the exit status says which (EPILOG).
"""

from __future__ import annotations

import argparse
import signal
import sys

from ..__about__ import __version__
from ..engine.cli import (
    EXIT_CODES,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_SIGNAL_BASE,
    add_translation_options,
)
from ..engine.errors import Interrupted, S2OError, signal_name, unexpected_failure
from ..engine.signals import termination_raises
from . import OUTPUT_SUFFIX

PROG = "s2o-translate-many"
EXIT_SCENES_FAILED = 5  # the job ran; one or more scenes failed (the others were written)
EXIT_NO_DASK = 6  # dask is not installed, or the cluster cannot be started or reached

EPILOG = f"""\
exit status:
  {EXIT_OK}    every scene was written, or skipped as already complete
  2    bad arguments (no inputs, two inputs with the same output name, options)
  4    the output folder cannot be created
  {EXIT_SCENES_FAILED}    one or more scenes failed (each named on stdout with its reason); the
       others were written
  {EXIT_NO_DASK}    dask is not installed (pip install 's2o[distributed]'), or the Dask cluster
       cannot be started or reached
  130, 143, 129  interrupted (Ctrl-C, SIGTERM, SIGHUP): scenes finished were kept, none is left
       half-written; run the same command again to resume
  {EXIT_FAILURE}    unexpected failure (a bug: please report it with the message)

Each INPUT is a raster (any GDAL path) or a folder, whose .tif/.tiff files are taken. Outputs
are OUT_DIR/<input name><suffix>.tif, each written atomically by the engine as s2o-translate
does. A scene whose output is already complete (same size and georeference, every block
readable, made by the same model) is skipped, so a second run resumes the first; --overwrite
translates it again. A worker killed in the middle costs its scene only, which Dask runs again
on another worker.

Without --scheduler, a LocalCluster on this machine: --workers (default: one per CPU, at most
one per GiB of memory) worker processes of --threads-per-worker threads (default 1). With
--scheduler, the workers of that cluster, which must have s2o installed and see INPUT and
OUT_DIR under the same paths.

stdout: one line per scene in the order given ("written: IN -> OUT", "skipped: IN -> OUT (why)",
"failed: IN: reason"), then "summary: ..."; errors on stderr as "{PROG}: error: <message>".
"""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Translate many Sentinel-1 SAR rasters into Sentinel-2-like RGB GeoTIFFs\n"
                    "on a Dask cluster (one task per scene), as s2o-translate does for one.",
    )
    p.add_argument("inputs", metavar="INPUT", nargs="+",
                   help="Sentinel-1 rasters, or folders of them (their .tif files)")
    p.add_argument("--out-dir", metavar="DIR", required=True,
                   help="folder for the outputs (created when missing)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                        "(default: a LocalCluster on this machine)")
    p.add_argument("--workers", metavar="N", type=_positive,
                   help="LocalCluster workers (default: one per CPU, at most one per GiB)")
    p.add_argument("--threads-per-worker", metavar="N", type=_positive,
                   help="LocalCluster threads per worker (default 1)")
    add_translation_options(p)
    for action in p._actions:
        if action.dest == "threads":
            action.help = "CPU threads for inference per task (default: the worker's threads)"
    p.add_argument("--suffix", default=OUTPUT_SUFFIX,
                   help=f"added to each input's name for its output (default {OUTPUT_SUFFIX})")
    p.add_argument("--overwrite", action="store_true",
                   help="translate again scenes whose output is already complete")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar or messages on stderr (stdout is still written)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def scene_line(report) -> str:
    """The stdout line of one scene."""
    if report.status == "failed":
        return f"failed: {report.src}: {report.reason}"
    why = f" ({report.reason})" if report.reason else ""
    return f"{report.status}: {report.src} -> {report.dst}{why}"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on bad arguments
    from . import missing_packages, not_installed

    missing = missing_packages()
    if missing:
        _error(not_installed(missing))
        return EXIT_NO_DASK
    from .many import ClusterError, translate_many

    bar = None

    def log(message: str) -> None:
        if args.quiet:
            return
        if bar is not None:
            bar.write(f"{PROG}: {message}", file=sys.stderr)
        else:
            print(f"{PROG}: {message}", file=sys.stderr)

    counts = {"written": 0, "skipped": 0, "failed": 0}

    def progress(report, done: int, total: int) -> None:
        nonlocal bar
        counts[report.status] += 1
        if args.quiet:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="scene", file=sys.stderr, dynamic_ncols=True)
        name = report.dst if report.status != "failed" else report.src
        detail = (report.reason if report.status != "written" else
                  f"{report.width} x {report.height} px, {report.seconds:.1f} s on "
                  f"{report.worker or report.host}")
        log(f"{report.status} {name}" + (f": {detail}" if detail else ""))
        bar.set_postfix(counts, refresh=False)
        bar.update(1)

    error, code, result = None, EXIT_OK, None
    try:
        with termination_raises():  # SIGTERM, SIGHUP: like Ctrl-C
            result = translate_many(
                args.inputs, args.out_dir, args.model, scheduler=args.scheduler,
                n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                suffix=args.suffix,
                overwrite=args.overwrite, bands=args.bands, input_scale=args.input_scale,
                tile_size=args.tile, batch_size=args.batch, device=args.device,
                threads=args.threads, progress=progress, log=log,
            )
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        how = "" if signum == signal.SIGINT else f" by {signal_name(signum)}"
        error = (f"interrupted{how} after {counts['written']} scene(s) written: every output "
                 "is complete or absent; run the same command again to resume")
        code = EXIT_SIGNAL_BASE + signum
    except ClusterError as exc:
        error, code = str(exc), EXIT_NO_DASK
    except S2OError as exc:
        error = str(exc)
        code = next((c for cls, c in EXIT_CODES.items() if isinstance(exc, cls)), EXIT_FAILURE)
    except Exception as exc:  # a bug: say so, with the type
        error, code = unexpected_failure(exc), EXIT_FAILURE
    finally:
        if bar is not None:
            bar.close()
    if error is not None:
        _error(error)
        return code
    for report in result.scenes:
        print(scene_line(report))
    print(f"summary: {result.summary()}")
    return EXIT_SCENES_FAILED if result.failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
