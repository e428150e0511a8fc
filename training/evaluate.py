"""PSNR and SSIM of trained generators on a data split, as a markdown table (and JSON).

    python training/evaluate.py runs/full/checkpoint.pt runs/base/checkpoint.pt \\
        --data-root data/ben --split test --floors --json results.json
    python training/evaluate.py --recorded docs/heldout_eval.json   # a saved evaluation's table

Scores are computed per image and averaged over the split, on 8-bit true-colour images made
the way the plugin's evaluation makes them (s2o_qgis_plugin/engine/evaluate.py):

    dn = network_to_dn(y, (-1, 1), optical_dn_range)   reflectance x 10000
    v8 = round(clip(dn / 3000, 0, 1) * 255)
    PSNR = skimage.metrics.peak_signal_noise_ratio(ref8, pred8, data_range=255)
    SSIM = skimage.metrics.structural_similarity(ref8, pred8, data_range=255, channel_axis=-1)

for the prediction and for the reference optical image of the dataset alike. Whole images are
translated; sizes that are not multiples of the generator's stride are reflect-padded and the
output cropped back.

Beside PSNR and SSIM, ``corr`` is the mean per-channel Pearson correlation of prediction and
reference (s2o_qgis_plugin/engine/evaluate.channel_correlation): the skill beyond the colour
level. A constant image scores 0 there, however good its PSNR.

Floors (``--floors``): rows any model must beat,
  * "floor: mean colour": every pixel the mean RGB of the training split;
  * "floor: VV as grey": the VV band, scaled to [-1, 1], as a grey image;
  * "floor: scene mean colour": every pixel the image's own mean RGB (the reference's): the
    best any constant image could do on that image; it knows the answer's colour.
"""

# ruff: noqa: E402  (imports follow the sys.path set-up for plain-script runs)
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script: python training/evaluate.py
    sys.path.insert(0, str(ROOT))

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from s2o_qgis_plugin.engine.evaluate import (
    DATA_RANGE,
    DEFAULT_STRETCH,
    channel_correlation,
    to_8bit,
)
from s2o_qgis_plugin.engine.metadata import VV_ONLY
from s2o_qgis_plugin.engine.radiometry import network_to_dn
from training.config import TrainConfig
from training.cyclegan import load_checkpoint
from training.data import make_dataset

NETWORK_RANGE = (-1.0, 1.0)
FLOOR_MEAN = "floor: mean colour"
FLOOR_VV = "floor: VV as grey"
FLOOR_SCENE = "floor: scene mean colour"


@dataclass
class Row:
    name: str
    psnr: float
    ssim: float
    n_images: int
    source: str = ""  # checkpoint path, or how a floor is made
    per_image: dict = field(default_factory=dict)  # id -> {"psnr", "ssim", "corr"}
    corr: float = 0.0


def to_uint8_rgb(y: torch.Tensor, dn_range) -> np.ndarray:
    """(3, H, W) network output in [-1, 1] -> (H, W, 3) 8-bit values (float64, exact)."""
    dn = network_to_dn(y.detach().float().cpu().numpy(), NETWORK_RANGE, dn_range)
    return to_8bit(dn, DEFAULT_STRETCH).transpose(1, 2, 0)


def scores(pred: torch.Tensor, ref: torch.Tensor, dn_range) -> tuple[float, float, float]:
    """(PSNR in dB, SSIM, corr) of one (3, H, W) prediction against its reference, both in
    [-1, 1]."""
    p8, r8 = to_uint8_rgb(pred, dn_range), to_uint8_rgb(ref, dn_range)
    with np.errstate(divide="ignore"):  # identical images: PSNR = inf, reported as such
        psnr = peak_signal_noise_ratio(r8, p8, data_range=DATA_RANGE)
    ssim = structural_similarity(r8, p8, data_range=DATA_RANGE, channel_axis=-1)
    return float(psnr), float(ssim), channel_correlation(r8, p8)


def translate(generator: torch.nn.Module, sar: torch.Tensor) -> torch.Tensor:
    """Generator output for a (C, H, W) image of any size: reflect-pad to the stride, crop back."""
    m = generator.size_multiple
    h, w = sar.shape[-2:]
    pad_h, pad_w = -h % m, -w % m
    x = F.pad(sar[None], (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else sar[None]
    with torch.no_grad():
        return generator(x)[0, :, :h, :w]


def score_predictions(name: str, source: str, dataset, predict: Callable, dn_range) -> Row:
    """Average PSNR/SSIM/corr of ``predict(sample) -> (3, H, W)`` over the dataset."""
    per_image = {}
    for i in range(len(dataset)):
        sample = dataset[i]
        psnr, ssim, corr = scores(predict(sample), sample["optical"], dn_range)
        per_image[sample["id"]] = {"psnr": psnr, "ssim": ssim, "corr": corr}
    values = list(per_image.values())
    return Row(
        name,
        float(np.mean([v["psnr"] for v in values])),
        float(np.mean([v["ssim"] for v in values])),
        len(values),
        source,
        per_image,
        float(np.mean([v["corr"] for v in values])),
    )


def dataset_for(cfg: TrainConfig, data_kind: str, data_root: str, split: str, bands=None):
    return make_dataset(
        data_kind,
        data_root,
        split,
        in_bands=bands or cfg.bands,
        crop=None,
        augment=False,
        sar_db_range=cfg.sar_db_range,
        optical_dn_range=cfg.optical_dn_range,
    )


def evaluate_checkpoint(path, data_kind, data_root, split, device, name=None) -> Row:
    cfg, generator = load_checkpoint(path)
    generator.to(device)
    dataset = dataset_for(cfg, data_kind or cfg.data_kind, data_root, split)
    return score_predictions(
        name or f"{Path(path).parent.name}/{Path(path).stem} ({cfg.variant})",
        str(path),
        dataset,
        lambda s: translate(generator, s["sar"].to(device)).cpu(),
        cfg.optical_dn_range,
    )


def floor_rows(cfg: TrainConfig, data_kind: str, data_root: str, split: str) -> list[Row]:
    """The three floors (see the module docstring)."""
    train = dataset_for(cfg, data_kind, data_root, "train", bands=VV_ONLY)
    sums, count = torch.zeros(3, dtype=torch.float64), 0
    for i in range(len(train)):
        optical = train[i]["optical"].double()
        sums += optical.sum(dim=(1, 2))
        count += optical[0].numel()
    mean = (sums / count).float()
    test = dataset_for(cfg, data_kind, data_root, split, bands=VV_ONLY)
    mean_row = score_predictions(
        FLOOR_MEAN,
        f"mean RGB of the {len(train)} training images",
        test,
        lambda s: mean.view(3, 1, 1).expand_as(s["optical"]),
        cfg.optical_dn_range,
    )
    grey_row = score_predictions(
        FLOOR_VV,
        "VV band in [-1, 1] as R = G = B",
        test,
        lambda s: s["sar"][:1].expand(3, -1, -1),
        cfg.optical_dn_range,
    )
    scene_row = score_predictions(
        FLOOR_SCENE,
        "each image's own mean RGB",
        test,
        lambda s: s["optical"].mean(dim=(1, 2), keepdim=True).expand_as(s["optical"]),
        cfg.optical_dn_range,
    )
    return [mean_row, grey_row, scene_row]


def standard_error(values) -> float:
    """Standard error of the mean of per-image ``values`` (sample standard deviation / sqrt(n)):
    how far the mean could move with other images of the same kind; NaN for fewer than two
    values or an infinite one."""
    values = np.asarray(list(values), dtype=float)
    if len(values) < 2 or not np.isfinite(values).all():
        return float("nan")
    return float(values.std(ddof=1) / np.sqrt(len(values)))


def markdown_table(rows: list[Row], split: str) -> str:
    """One line per model or floor; the last column gives the standard errors of the PSNR and
    corr means (per-image scores vary widely, so differences smaller than about twice these are
    not resolved by the images at hand)."""
    lines = [f"| model ({split}) | PSNR (dB) | SSIM | corr | images "
             "| standard error: PSNR / corr |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        psnr = "inf" if math.isinf(r.psnr) else f"{r.psnr:.2f}"
        se = [standard_error(v[m] for v in r.per_image.values()) for m in ("psnr", "corr")]
        se_text = "-" if any(math.isnan(v) for v in se) else f"{se[0]:.2f} / {se[1]:.3f}"
        lines.append(f"| {r.name} | {psnr} | {r.ssim:.4f} | {r.corr:.3f} | {r.n_images} | "
                     f"{se_text} |")
    return "\n".join(lines)


def per_image_table(rows: list[Row], metric: str = "psnr") -> str:
    """One line per image, one column per row (model or floor): ``metric`` of each."""
    ids = list(rows[0].per_image)
    lines = ["| image | " + " | ".join(r.name for r in rows) + " |",
             "| --- |" + " ---: |" * len(rows)]
    for i in ids:
        values = " | ".join(f"{r.per_image[i][metric]:.3f}" for r in rows)
        lines.append(f"| {i} | {values} |")
    return "\n".join(lines)


def recorded_rows(path: Path) -> tuple[list[Row], str]:
    """(rows, split) of a saved evaluation: this script's --json file or the held-out record
    scripts/default_model.py writes (docs/heldout_eval.json: rows by name), per-image scores
    included, so that its table can be printed again (with the standard errors)."""
    data = json.loads(Path(path).read_text())
    rows = data["rows"]
    if isinstance(rows, dict):  # default_model.py: {name: {psnr, ssim, corr, n, per_image}}
        return [Row(name, r["psnr"], r["ssim"], r["n"], "", r["per_image"], r["corr"])
                for name, r in rows.items()], "held-out test"
    return [Row(**r) for r in rows], data["split"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="*", help="checkpoints written by train.py")
    parser.add_argument("--data-root", help="dataset root (e.g. data/ben)")
    parser.add_argument("--recorded", type=Path,
                        help="print the table of a saved evaluation (--json file or "
                             "docs/heldout_eval.json) instead of scoring anything")
    parser.add_argument("--data-kind", help="dataset kind (default: each checkpoint's)")
    parser.add_argument("--split", default="test", help="split to score (default: test)")
    parser.add_argument("--names", nargs="+", help="table names of the checkpoints, in order")
    parser.add_argument("--floors", action="store_true", help="add the two floor rows")
    parser.add_argument("--json", type=Path, help="also write the rows (and per-image scores)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default: cpu)")
    args = parser.parse_args(argv)
    if args.recorded is not None:
        return args
    if args.data_root is None:
        parser.error("--data-root is required to score checkpoints or floors")
    if not args.checkpoints and not args.floors:
        parser.error("give at least one checkpoint, or --floors")
    if args.names and len(args.names) != len(args.checkpoints):
        parser.error("--names needs one name per checkpoint")
    return args


def main(argv=None) -> list[Row]:
    args = parse_args(argv)
    if args.recorded is not None:
        rows, split = recorded_rows(args.recorded)
        print(markdown_table(rows, split))
        return rows
    device = torch.device(args.device)
    names = args.names or [None] * len(args.checkpoints)
    rows = [
        evaluate_checkpoint(path, args.data_kind, args.data_root, args.split, device, name)
        for path, name in zip(args.checkpoints, names, strict=True)
    ]
    if args.floors:
        cfg = load_checkpoint(args.checkpoints[0])[0] if args.checkpoints else TrainConfig()
        kind = args.data_kind or cfg.data_kind
        rows += floor_rows(cfg, kind, args.data_root, args.split)
    print(markdown_table(rows, args.split))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "split": args.split,
            "data_root": args.data_root,
            "rows": [asdict(r) for r in rows],
        }
        args.json.write_text(json.dumps(payload, indent=1))
    return rows


if __name__ == "__main__":
    main()
