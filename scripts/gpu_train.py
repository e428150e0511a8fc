"""Train a shipped model's recipe on a GPU in one command with a time budget, then bring back
the checkpoint, the ONNX file and the held-out evaluation table.

    python scripts/gpu_train.py --out OUT --minutes 6            # on a GPU machine
    python scripts/gpu_train.py --out /tmp/t --max-steps 4 --device cpu   # a dry run here

Steps (everything lands in OUT, flat, so that a device tool that returns only a few files
two folders down brings it all back):
  1. `training/train.py --config CONFIG` (training/configs/s2o_dual.json by default) for
     --minutes of training, a kept checkpoint every --keep-every epochs;
  2. the kept checkpoint with the best validation score (scripts/default_model.py's rule);
  3. its ONNX export (engine-validated, parity-checked);
  4. PSNR / SSIM / corr on the held-out test split beside the three floors (eval.md, eval.json).
The data set (data/s2o by default) must be built beforehand (`training/build_data.py`): a GPU
machine that reaches no package index can not fetch the BigEarthNet wheels itself.
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from default_model import select_on_val  # noqa: I001 (a sibling script)

from export.export_onnx import export
from training import train
from training.cyclegan import load_checkpoint
from training.evaluate import evaluate_checkpoint, floor_rows, markdown_table

DEFAULT_CONFIG = ROOT / "training" / "configs" / "s2o_dual.json"


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for everything it brings back")
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    ap.add_argument("--data-root", type=Path, default=ROOT / "data" / "s2o")
    ap.add_argument("--minutes", type=float, default=6.0, help="training time budget")
    ap.add_argument("--max-steps", type=int, default=0, help="also stop after this many steps")
    ap.add_argument("--epochs", type=int, default=0, help="override the recipe's epochs (the lr "
                    "decays over the second half)")
    ap.add_argument("--keep-every", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=0, help="override the recipe's batch")
    ap.add_argument("--device", default="auto")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    run = out / "run"
    t0 = time.monotonic()

    # 1. train within the budget
    options = ["--config", str(args.config), "--data-root", str(args.data_root),
               "--out-dir", str(run), "--device", args.device,
               "--max-minutes", str(args.minutes), "--keep-every", str(args.keep_every)]
    if args.max_steps:
        options += ["--max-steps", str(args.max_steps)]
    if args.epochs:
        options += ["--epochs", str(args.epochs), "--decay-start-epoch", str(args.epochs // 2)]
    if args.batch_size:
        options += ["--batch-size", str(args.batch_size)]
    train.main(options)
    kept = sorted(run.glob("checkpoint_epoch*.pt"))
    if not kept:  # stopped before the first kept epoch: the latest checkpoint stands in
        shutil.copyfile(run / train.CHECKPOINT, run / "checkpoint_epoch000.pt")

    # 2. the validation choice, 3. the export
    best, selection = select_on_val(run, args.data_root)
    shutil.copyfile(best, out / "checkpoint.pt")
    cfg, _ = load_checkpoint(best)
    report = export(best, out / "model.onnx", name="s2o-npde-gpu", s2_level="L2A")
    print(report.text())

    # 4. held-out table beside its floors
    row = evaluate_checkpoint(best, None, str(args.data_root), "test", "cpu", name=best.name)
    rows = [row, *floor_rows(cfg, cfg.data_kind, str(args.data_root), "test")]
    table = markdown_table(rows, "held-out test")
    minutes = (time.monotonic() - t0) / 60
    (out / "eval.md").write_text(f"{table}\n\nchosen on validation: {selection['chosen']}; "
                                 f"whole command {minutes:.1f} min on {args.device}\n")
    (out / "eval.json").write_text(json.dumps(dict(
        selection=selection, minutes=minutes, config=cfg.to_dict(),
        rows={r.name: dict(psnr=r.psnr, ssim=r.ssim, corr=r.corr) for r in rows}), indent=1))
    for name in ("losses.csv", "losses.png"):
        if (run / name).exists():
            shutil.copyfile(run / name, out / name)
    print(table)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
