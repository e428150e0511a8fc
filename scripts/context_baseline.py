"""How much of the optical image large-scale SAR context explains: a per-pixel ridge regression
from SAR means at several Gaussian scales (and their squares) to RGB, fitted on the train split
and scored on val with the evaluator's protocol (PSNR, SSIM, per-channel correlation), the
evaluator's floors below. Never reads the test split. The evidence behind the generator's
``--context-sigmas`` option.
``--against CHECKPOINT...`` then compares the last scale set's ridge with each checkpoint image by
image on the same validation images: the mean difference in correlation, its standard error and
on how many images the ridge is ahead (how finely the validation split resolves the two).

    python scripts/context_baseline.py --data-root data/s2o --scales 0 0,2,6 0,2,6,16 0,2,6,16,32
    python scripts/context_baseline.py --scales 0,2,6,16,32 --against runs/dual/checkpoint.pt
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from training.config import TrainConfig
from training.evaluate import (
    dataset_for,
    evaluate_checkpoint,
    floor_rows,
    score_predictions,
    standard_error,
)

STEP = 3  # fit on every third pixel in each direction (neighbours are near duplicates)


def features(sar: torch.Tensor, scales: tuple[float, ...]) -> np.ndarray:
    """(H, W, F): 1, then per band b of VV, VH, VV - VH and per scale s: mean m = b smoothed by
    a Gaussian of s px (s = 0: b itself) and m squared."""
    x = sar.numpy().astype(np.float64)
    bands = [x[0], x[1], x[0] - x[1]] if len(x) == 2 else [x[0]]
    out = [np.ones_like(x[0])]
    for b in bands:
        for s in scales:
            m = gaussian_filter(b, s, mode="reflect") if s else b
            out += [m, m * m]
    return np.stack(out, -1)


def fit(samples, scales, ridge: float) -> np.ndarray:
    xs = [features(s["sar"], scales)[::STEP, ::STEP] for s in samples]
    x = np.concatenate([f.reshape(-1, f.shape[-1]) for f in xs])
    y = np.concatenate([s["optical"].numpy()[:, ::STEP, ::STEP].reshape(3, -1).T for s in samples])
    return np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)


def paired(ridge: dict, other: dict) -> tuple[float, float, int, int]:
    """(mean, standard error, images where the ridge is ahead, images) of the per-image
    correlation differences ridge - other over the images both scored."""
    diff = np.array([ridge[i]["corr"] - other[i]["corr"] for i in ridge])
    return float(diff.mean()), standard_error(diff), int((diff > 0).sum()), len(diff)


def main(argv=None) -> list[tuple[str, float, float, float]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=str(ROOT / "data/s2o"))
    ap.add_argument("--in-bands", default="VV,VH")
    ap.add_argument("--scales", nargs="+", default=["0", "0,2", "0,2,6", "0,2,6,16",
                                                    "0,2,6,16,32"],
                    help="comma-separated Gaussian widths in px, one set per row")
    ap.add_argument("--ridge", type=float, default=1.0)
    ap.add_argument("--against", nargs="*", type=Path, default=[],
                    help="checkpoints to compare image by image with the last scale set's ridge")
    args = ap.parse_args(argv)
    cfg = TrainConfig(in_bands=args.in_bands)
    train = dataset_for(cfg, "paired", args.data_root, "train")
    val = dataset_for(cfg, "paired", args.data_root, "val")
    train_samples = [train[i] for i in range(len(train))]
    val_samples = [val[i] for i in range(len(val))]
    print(f"| SAR mean scales (px) | val PSNR (dB) | val SSIM | val corr |  ({len(train)} train, "
          f"{len(val)} val images)")
    print("| --- | --- | --- | --- |")
    rows, per_image = [], {}
    for text in args.scales:
        scales = tuple(float(v) for v in text.split(","))
        weights = fit(train_samples, scales, args.ridge)

        def predict(sample, scales=scales, weights=weights):
            f = features(sample["sar"], scales)
            y = (f.reshape(-1, f.shape[-1]) @ weights).T.reshape(3, *f.shape[:2])
            return torch.from_numpy(np.clip(y, -1.0, 1.0)).float()

        row = score_predictions(text, "ridge", val_samples, predict, cfg.optical_dn_range)
        rows.append((text, row.psnr, row.ssim, row.corr))
        per_image = row.per_image
        print(f"| {text} | {row.psnr:.2f} | {row.ssim:.3f} | {row.corr:.3f} |", flush=True)
    for floor in floor_rows(cfg, "paired", args.data_root, "val"):
        print(f"| {floor.name} | {floor.psnr:.2f} | {floor.ssim:.3f} | {floor.corr:.3f} |")
    if args.against:
        print(f"\n| checkpoint | val PSNR / corr | ridge ({args.scales[-1]}) corr minus the "
              "checkpoint's, paired: mean +- standard error | ridge ahead on |")
        print("| --- | --- | --- | --- |")
    for path in args.against:
        row = evaluate_checkpoint(path, "paired", args.data_root, "val", "cpu")
        mean, se, ahead, n = paired(per_image, row.per_image)
        print(f"| {path} | {row.psnr:.2f} / {row.corr:.3f} | {mean:+.3f} +- {se:.3f} | "
              f"{ahead} of {n} |", flush=True)
    return rows


if __name__ == "__main__":
    main()
