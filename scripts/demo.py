"""The main job (`make demo`): translate a real Sentinel-1 scene with the QGIS plugin.

    python scripts/demo.py [--model M.onnx] [--input S1.tif] [--reference S2.tif] [--out DIR]

1. builds the plugin zip and installs it into a fresh temporary QGIS profile;
2. runs the Processing algorithm s2o:translate with QGIS's command-line tool (qgis_process.bin)
   on a real Sentinel-1 GeoTIFF (default: tests/data/heldout/punjab_s1.tif, an SSL4EO-S12 scene
   in Punjab, India, that no embedded model trained on or was chosen on), with the embedded
   model that fits its bands (or --model);
3. writes the optical GeoTIFF and a side-by-side PNG (SAR | translation | Sentinel-2 reference)
   under out/demo/ and prints where they are.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from s2o_qgis_plugin.engine.model import DEFAULT_MODEL_PATH  # noqa: E402
from scripts.build_plugin import build_zip, install  # noqa: E402
from scripts.qgis_env import qgis_env, qgis_process_cmd  # noqa: E402

DATA = ROOT / "tests" / "data" / "heldout"
DEFAULT_INPUT = DATA / "punjab_s1.tif"
DEFAULT_REFERENCE = DATA / "punjab_s2.tif"
DEFAULT_OUT = ROOT / "out" / "demo"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="s2o .onnx model (default: the embedded one)")
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="Sentinel-1 GeoTIFF")
    parser.add_argument(
        "--reference",
        default=str(DEFAULT_REFERENCE),
        help="Sentinel-2 RGB GeoTIFF for the third panel ('' for none)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    if args.model is None and not DEFAULT_MODEL_PATH.is_file():
        print(
            f"The default model {DEFAULT_MODEL_PATH.relative_to(ROOT)} is not in this checkout "
            "yet.\n"
            "Pass a model exported with export/export_onnx.py:  "
            "python scripts/demo.py --model path/to/model.onnx",
            file=sys.stderr,
        )
        return 2
    if args.model is not None and not args.model.is_file():
        print(f"model file not found: {args.model}", file=sys.stderr)
        return 2

    args.out.mkdir(parents=True, exist_ok=True)
    optical = args.out / f"{args.input.stem}_optical.tif"
    png = args.out / f"{args.input.stem}_map.png"

    profile = Path(tempfile.mkdtemp(prefix="s2o-qgis-profile-"))
    # GDAL_PAM_ENABLED=NO: QGIS computes statistics when it opens the input layer; keep its
    # .aux.xml from landing beside the committed fixture.
    env = qgis_env(dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(profile), GDAL_PAM_ENABLED="NO"))
    plugin = install(build_zip(), env)
    print(f"plugin installed into a temporary QGIS profile: {plugin}")

    params = [f"--INPUT={args.input.resolve()}", f"--OUTPUT={optical.resolve()}"]
    if args.model is not None:
        params.append(f"--MODEL={args.model.resolve()}")
    cmd = qgis_process_cmd("run", "s2o:translate", *params)
    print("$ " + shlex.join(cmd))
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    if done.returncode != 0:
        print("\n".join(log[-25:]), file=sys.stderr)
        print(f"s2o:translate failed (exit {done.returncode})", file=sys.stderr)
        return done.returncode
    for line in log:
        if line.startswith(("Execution provider", "Input scale", "Despeckled", "Model", "Product")):
            print(line)
    print(f"translated in {seconds:.1f} s (qgis_process start-up included)")

    from scripts.render_map import render_map

    reference = Path(args.reference) if args.reference else None
    render_map(args.input, optical, png, reference)
    print(f"optical GeoTIFF: {optical}")
    print(f"side-by-side PNG: {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
