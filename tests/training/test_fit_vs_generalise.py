"""scripts/fit_vs_generalise.py: the train / val / blurred-val table the README quotes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from scripts.fit_vs_generalise import main
from training.checkpoint import save_model_checkpoint
from training.config import TrainConfig
from training.evaluate import evaluate_checkpoint

torch.set_num_threads(1)
BEN = Path(__file__).resolve().parents[1] / "data" / "bigearthnet"
CELL = re.compile(r"(-?[\d.]+) / (-?[\d.]+)")


def test_one_row_per_checkpoint_with_train_val_and_blurred_val(tmp_path, capsys):
    paths = []
    for seed, variant in ((1, "base"), (2, "full")):
        torch.manual_seed(seed)
        path = tmp_path / f"run{seed}" / "checkpoint.pt"
        save_model_checkpoint(path, TrainConfig(variant=variant, width=4, lambda_per=0.0))
        paths.append(path)
    main([*map(str, paths), "--data-root", str(BEN), "--blur-px", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("| checkpoint | train PSNR / corr | val PSNR / corr | val, input blurred "
                        "| val PMD side output std / target std |")
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| run1/checkpoint.pt",
                                                            "| run2/checkpoint.pt"]
    for path, line in zip(paths, lines[2:], strict=True):
        train, val, blurred = [tuple(map(float, CELL.fullmatch(c).groups()))
                               for c in line.split(" | ")[1:4]]
        row = evaluate_checkpoint(path, "paired", str(BEN), "val", "cpu")
        assert val == pytest.approx((row.psnr, row.corr), abs=0.006)  # the evaluator's scores
        assert blurred != val and train != val  # other images, another input
        assert all(-1.0 <= c <= 1.0 for _, c in (train, val, blurred))
    # the PMD column: "-" for Base (no module); for the full model, two standard deviations,
    # the side output's (an untrained one is not flat) and that of phi of the optical targets
    assert lines[2].endswith("| - |")
    side, target = map(float, re.search(r"\| ([\d.e+-]+) / ([\d.e+-]+) \|$", lines[3]).groups())
    assert side > 0 and 0 < target < 1
