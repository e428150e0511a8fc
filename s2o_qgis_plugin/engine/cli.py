"""``s2o-translate``: translate a Sentinel-1 raster to a Sentinel-2-like RGB GeoTIFF from a shell.

Runs the same engine call as the QGIS algorithm (translate.translate_raster). Progress (a tqdm
bar) and what was decided (model and why, provider, bands, input scale, tiles) go to stderr; on
success stdout gets four lines, ``provider: <onnxruntime provider>``, ``model: <path>``,
``product: <Sentinel-2 product imitated>`` and ``output: <path>``, so scripts can read them.
Errors are one line on stderr, ``s2o-translate: error: <message>``, and the exit status says
which kind (see EXIT_CODES).
"""

from __future__ import annotations

import argparse
import signal
import sys

from ..__about__ import __version__
from .errors import (
    Cancelled,
    InputError,
    Interrupted,
    ModelError,
    OutputError,
    S2OError,
    interrupted,
    unexpected_failure,
)
from .model import DEFAULT_DEVICE, DEVICES
from .radiometry import DEFAULT_INPUT_SCALE, INPUT_SCALES
from .signals import received, termination_raises
from .tiling import DEFAULT_BATCH, DEFAULT_TILE

PROG = "s2o-translate"
EXIT_OK, EXIT_FAILURE, EXIT_INPUT, EXIT_MODEL, EXIT_OUTPUT, EXIT_CANCELLED = 0, 1, 2, 3, 4, 130
EXIT_SIGNAL_BASE = 128  # interrupted by signal N: 128 + N (shells' convention; SIGINT: 130)
EXIT_CODES = {InputError: EXIT_INPUT, ModelError: EXIT_MODEL, OutputError: EXIT_OUTPUT,
              Cancelled: EXIT_CANCELLED}

EPILOG = f"""\
exit status:
  {EXIT_OK}    the output was written
  {EXIT_INPUT}    bad input raster or arguments (missing, unreadable or damaged, complex SLC,
       bands, input scale, tile size or a tile too large for the memory available)
  {EXIT_MODEL}    the model cannot be used (missing, not ONNX, not an s2o model, CUDA unusable)
  {EXIT_OUTPUT}    the output cannot be written (folder missing or read-only, a file the
       input reads, disk full, written file unreadable)
  {EXIT_CANCELLED}  interrupted (Ctrl-C); nothing was left at OUTPUT
  129, 143  hung up (SIGHUP) or terminated (SIGTERM): as Ctrl-C
  {EXIT_FAILURE}    unexpected failure (a bug: please report it with the message)

OUTPUT is written to a temporary file beside it, checked (read back whole) and renamed over it
only when complete: after an error or an interruption it holds its earlier file, or nothing. A
full disk is named as the cause. Temporary files of runs killed outright (SIGKILL) are removed
by the next run in that folder.

stdout on success: "provider: <name>", "model: <path>", "product: <Sentinel-2 product>"
and "output: <path>"; errors on stderr as "{PROG}: error: <message>".

model: without --model, the embedded model that fits the input's bands: VV+VH (bands described
VV and VH, or two undescribed bands) or VV only (one band, or bands naming VV and no VH; one
--bands number also means VV only). Rasters whose bands are described HH/HV (polar and sea-ice
modes) are refused, the models were trained on VV/VH; --bands runs them anyway (e.g. --bands 1,2
uses HH as VV and HV as VH). With --model, the model's metadata says which bands it takes.
"""


def _bands(text: str) -> list[int]:
    try:
        bands = [int(b) for b in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bands must be band numbers separated by commas, e.g. 1,2; got {text!r}"
        ) from None
    return bands


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Translate a Sentinel-1 SAR raster (VV or VV+VH) into a Sentinel-2-like\n"
                    "RGB GeoTIFF (reflectance x 10000, uint16) with an S2O-NPDE ONNX model.",
    )
    p.add_argument("input", metavar="INPUT", help="Sentinel-1 raster (any GDAL format)")
    p.add_argument("output", metavar="OUTPUT", help="GeoTIFF to write (.tif)")
    add_translation_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar, no messages")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def add_translation_options(p: argparse.ArgumentParser) -> None:
    """The options of translate_raster (--model, --tile, --device, --input-scale, --bands,
    --threads, --batch), shared with the commands that run it on many scenes."""
    p.add_argument("--model", metavar="PATH",
                   help="s2o ONNX model (default: the embedded model that fits the input's "
                        "bands, VV+VH or VV only; see below)")
    p.add_argument("--tile", metavar="N", type=int, default=DEFAULT_TILE,
                   help="tile size in pixels, a multiple of the model's size multiple "
                        f"(default {DEFAULT_TILE})")
    p.add_argument("--device", choices=DEVICES, default=DEFAULT_DEVICE,
                   help="auto: CUDA when usable, else CPU (default auto)")
    p.add_argument("--input-scale", choices=INPUT_SCALES, default=DEFAULT_INPUT_SCALE,
                   help="scale of the SAR values: sigma0 linear, dB, or amplitude "
                        "(default auto: from band descriptions and values, reported)")
    p.add_argument("--bands", metavar="LIST", type=_bands,
                   help="raster bands for the model's VV[,VH] inputs, e.g. 1,2 (default: from "
                        "band descriptions); also the override that runs HH/HV bands as VV/VH")
    p.add_argument("--threads", metavar="N", type=int,
                   help="CPU threads for inference (default: onnxruntime's choice)")
    p.add_argument("--batch", metavar="N", type=int, default=DEFAULT_BATCH,
                   help="tiles per inference call (default 1)")


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on bad arguments
    from .translate import translate_raster  # after parsing: --help stays fast

    bar = None

    def progress(percent: float) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=100, unit="%", file=sys.stderr, dynamic_ncols=True,
                       bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt}% [{elapsed}<{remaining}]")
        bar.update(percent - bar.n)

    def log(message: str) -> None:
        print(f"{PROG}: {message}", file=sys.stderr)

    error, code = None, EXIT_OK
    try:
        with termination_raises():  # SIGTERM, SIGHUP: like Ctrl-C, the temporary file goes
            result = translate_raster(
                args.input, args.output, args.model, bands=args.bands,
                input_scale=args.input_scale, tile_size=args.tile, batch_size=args.batch,
                device=args.device, threads=args.threads,
                progress=None if args.quiet else progress, log=None if args.quiet else log,
            )
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        error = interrupted(args.output, None if signum == signal.SIGINT else signum)
        code = EXIT_SIGNAL_BASE + signum
    except Exception as exc:
        signum = received()
        if signum is not None:  # a failure after a signal (signals.received) is the signal's
            error = interrupted(args.output, None if signum == signal.SIGINT else signum)
            code = EXIT_SIGNAL_BASE + signum
        elif isinstance(exc, S2OError):
            error = str(exc)
            code = next((c for cls, c in EXIT_CODES.items() if isinstance(exc, cls)),
                        EXIT_FAILURE)
        else:  # a bug: say so, with the type, and give a distinct status
            error, code = unexpected_failure(exc), EXIT_FAILURE
    finally:
        if bar is not None:
            bar.close()
    if error is not None:  # after the bar, so that it is the last line
        _error(error)
        return code
    if not args.quiet:
        print(f"provider: {result.provider}")
        print(f"model: {result.model_path}")
        print(f"product: {result.product}")
        print(f"output: {result.dst}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
