"""How the network input given to nodata pixels disturbs their valid neighbours.

    python scripts/nodata_edge.py --data-root data/s2o [--model s2o_qgis_plugin/models/...onnx]

Every validation scene (never a held-out one) is translated by the embedded VV+VH model twice:
as it is, and with a nodata border of --border px on its right and bottom edges filled with one
candidate value per band. The table gives, per candidate, the mean |change| of the output (DN,
reflectance x 10000) over the --band px of valid pixels next to the right border: what a swath
edge does to the pixels beside it. Candidates: -1 (the low clip value, "open water"), 0 (the
middle of each band's dB range: radiometry.NODATA_INPUT) and the training split's median input.
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np

from s2o_qgis_plugin.engine.model import DEFAULT_MODEL_PATH, S2OModel
from s2o_qgis_plugin.engine.radiometry import NODATA_INPUT, network_to_dn
from training.data import make_dataset


def change_next_to_border(model: S2OModel, x: np.ndarray, fill: np.ndarray, border: int,
                          band: int) -> float:
    """Mean |DN change| over the ``band`` px left of a ``border`` px nodata edge filled with
    ``fill`` (one value per input band)."""
    meta = model.meta

    def dn(inp: np.ndarray) -> np.ndarray:
        return network_to_dn(model.run(inp[None])[0], meta.output_value_range,
                             meta.output_dn_range)

    cut = x.copy()
    cut[:, :, -border:] = fill[:, None, None]
    cut[:, -border:, :] = fill[:, None, None]
    near = np.s_[:, :-border, -border - band:-border]
    return float(np.abs(dn(cut)[near] - dn(x)[near]).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=ROOT / "data" / "s2o")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    ap.add_argument("--border", type=int, default=8, help="nodata border width (px)")
    ap.add_argument("--band", type=int, default=24, help="valid pixels measured beside it (px)")
    args = ap.parse_args(argv)
    model = S2OModel.load(args.model, device="cpu")
    bands = tuple(model.meta.input_bands)

    def inputs(split: str) -> list[np.ndarray]:
        data = make_dataset("paired", args.data_root, split, in_bands=bands)
        return [data[i]["sar"].numpy() for i in range(len(data))]

    median = np.median([np.median(x.reshape(len(bands), -1), axis=1) for x in inputs("train")],
                       axis=0)
    candidates = {"-1 (low clip value)": np.full(len(bands), -1.0),
                  f"{NODATA_INPUT:g} (NODATA_INPUT)": np.full(len(bands), NODATA_INPUT),
                  "training median (" + ", ".join(f"{m:.2f}" for m in median) + ")": median}
    val = inputs("val")
    print(f"model {args.model.name}; {len(val)} validation scenes; nodata border {args.border} px;"
          f" change measured over the {args.band} px beside it\n")
    print("| nodata input | mean abs change of the output (DN) |\n| --- | ---: |")
    for name, fill in candidates.items():
        fill = fill.astype(np.float32)
        change = np.mean([change_next_to_border(model, x, fill, args.border, args.band)
                          for x in val])
        print(f"| {name} | {change:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
