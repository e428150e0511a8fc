"""How well checkpoints fit their training pairs against new ones, and how much they lean on the
SAR's speckle texture: PSNR / corr on the train and val splits, and on val with the SAR input
blurred by a Gaussian (training.data.blur_valid). Last, whether the PMD module's side output
learned anything: its standard deviation over the val images beside that of its target, the
PMD maps phi(y) of the optical images ("-" for a generator without the module). Never reads
the test split.

    python scripts/fit_vs_generalise.py runs/r4/dual_short_jit1.5_s1/checkpoint_epoch050.pt ...
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch

from training.checkpoint import load_checkpoint
from training.data import blur_valid
from training.evaluate import dataset_for, score_predictions, translate


def side_spread(generator, dataset) -> str:
    """'side std / target std' of the PMD side output against phi(optical) over ``dataset``."""
    if getattr(generator, "branch", None) is None:
        return "-"
    sides, targets = [], []
    with torch.no_grad():
        for i in range(len(dataset)):
            sample = dataset[i]
            m = generator.size_multiple
            h, w = (d - d % m for d in sample["sar"].shape[-2:])  # whole strides, no padding
            _, side = generator(sample["sar"][None, :, :h, :w], return_pmd=True)
            sides.append(side.flatten())
            targets.append(generator.phi(sample["optical"][None, :, :h, :w]).flatten())
    return f"{float(torch.cat(sides).std()):.1e} / {float(torch.cat(targets).std()):.1e}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--data-root", default=str(ROOT / "data/s2o"))
    ap.add_argument("--blur-px", type=float, default=1.0)
    args = ap.parse_args(argv)
    print("| checkpoint | train PSNR / corr | val PSNR / corr | val, input blurred "
          "| val PMD side output std / target std |")
    print("| --- | --- | --- | --- | --- |")
    for path in args.checkpoints:
        cfg, generator = load_checkpoint(path)
        cells = []
        for split, sigma in (("train", 0.0), ("val", 0.0), ("val", args.blur_px)):
            ds = dataset_for(cfg, cfg.data_kind, args.data_root, split)

            def predict(sample, sigma=sigma, generator=generator):
                sar = sample["sar"]
                if sigma:
                    sar = torch.from_numpy(blur_valid(sar.numpy(), sigma))
                return translate(generator, sar)

            row = score_predictions(split, str(path), ds, predict, cfg.optical_dn_range)
            cells.append(f"{row.psnr:.2f} / {row.corr:.3f}")
        cells.append(side_spread(generator, dataset_for(cfg, cfg.data_kind, args.data_root, "val")))
        print(f"| {path.parent.name}/{path.name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
