"""training/evaluate.py: the 8-bit mapping, PSNR/SSIM, padding, floors, table and JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from training.checkpoint import save_model_checkpoint
from training.config import TrainConfig
from training.data import make_dataset
from training.evaluate import (
    FLOOR_MEAN,
    FLOOR_SCENE,
    FLOOR_VV,
    Row,
    main,
    markdown_table,
    scores,
    to_uint8_rgb,
    translate,
)
from training.nets import build_generator

torch.set_num_threads(1)
BEN = Path(__file__).resolve().parents[1] / "data" / "bigearthnet"
DN = (0.0, 3000.0)


def test_network_values_to_8bit():
    y = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 4).expand(3, 1, 4)
    assert to_uint8_rgb(y, DN)[0, :, 0].tolist() == [0.0, 128.0, 255.0, 255.0]
    # a model trained on a wider reflectance range is still scored on reflectance / 3000
    assert to_uint8_rgb(torch.zeros(3, 1, 1), (0.0, 6000.0))[0, 0, 0] == 255.0


def test_scores_match_the_psnr_formula():
    ref = torch.full((3, 16, 16), -1.0)
    pred = ref + 2 * 10 / 255  # 10 grey levels brighter everywhere
    psnr, ssim, corr = scores(pred, ref, DN)
    assert psnr == pytest.approx(10 * math.log10(255**2 / 10**2))
    assert ssim < 1.0
    assert corr == 0.0  # constant images: no linear skill
    psnr, ssim, _ = scores(ref, ref, DN)
    assert math.isinf(psnr) and ssim == 1.0


def test_correlation_sees_pattern_not_level():
    ref = torch.linspace(-1, 1, 3 * 16 * 16).view(3, 16, 16)
    _, _, same_pattern = scores(ref * 0.5 - 0.3, ref, DN)  # darker, weaker: same pattern
    _, _, inverted = scores(-ref, ref, DN)
    assert same_pattern == pytest.approx(1.0, abs=1e-3)
    assert inverted == pytest.approx(-1.0, abs=1e-3)


def test_translate_pads_to_the_stride_and_crops_back():
    gen = build_generator("full", in_channels=1, width=4).eval()
    sar = torch.rand(1, 30, 34) * 2 - 1
    out = translate(gen, sar)
    assert out.shape == (3, 30, 34)
    padded = torch.nn.functional.pad(sar[None], (0, 2, 0, 2), mode="reflect")
    with torch.no_grad():
        torch.testing.assert_close(out, gen(padded)[0, :, :30, :34])


def test_table_json_and_floors(tmp_path, capsys):
    cfg = TrainConfig(variant="base", width=4, lambda_per=0.0)
    ckpt = tmp_path / "base" / "checkpoint.pt"
    save_model_checkpoint(ckpt, cfg)
    out_json = tmp_path / "scores.json"
    rows = main([str(ckpt), "--data-root", str(BEN), "--split", "val", "--floors",
                 "--names", "random base", "--json", str(out_json)])  # fmt: skip
    table = capsys.readouterr().out
    assert [r.name for r in rows] == ["random base", FLOOR_MEAN, FLOOR_VV, FLOOR_SCENE]
    assert table.splitlines()[0].startswith("| model (val) | PSNR (dB) | SSIM | corr |")
    assert all(f"| {name} |" in table for name in ("random base", FLOOR_MEAN, FLOOR_VV))
    saved = json.loads(out_json.read_text())
    assert [r["name"] for r in saved["rows"]] == [r.name for r in rows]
    # the saved file prints the same table again, nothing scored
    assert main(["--recorded", str(out_json)]) == rows
    assert capsys.readouterr().out == table
    val = make_dataset("paired", BEN, "val", in_bands=("VV",))
    assert all(r.n_images == len(val) == len(r.per_image) for r in rows)
    # the VV floor of the first image, recomputed by hand
    sample = val[0]
    grey = sample["sar"][:1].expand(3, -1, -1)
    p8 = np.round(np.clip((grey.numpy() + 1) / 2, 0, 1) * 255)
    r8 = np.round(np.clip((sample["optical"].numpy() + 1) / 2, 0, 1) * 255)
    mse = float(np.mean((p8 - r8) ** 2))
    assert rows[2].per_image[sample["id"]]["psnr"] == pytest.approx(10 * math.log10(255**2 / mse))
    # the mean-colour floor predicts one colour: the training split's mean
    train = make_dataset("paired", BEN, "train", in_bands=("VV",))
    mean = torch.stack([train[i]["optical"].mean(dim=(1, 2)) for i in range(len(train))]).mean(0)
    psnr, _, _ = scores(mean.view(3, 1, 1).expand_as(sample["optical"]), sample["optical"], DN)
    assert rows[1].per_image[sample["id"]]["psnr"] == pytest.approx(psnr, abs=1e-6)
    # the scene floor knows each image's own colour: no constant does better on PSNR
    assert all(rows[3].per_image[i]["psnr"] >= rows[1].per_image[i]["psnr"] for i in val.ids)
    assert rows[1].corr == rows[3].corr == 0.0


def test_evaluate_needs_something_to_score():
    with pytest.raises(SystemExit):
        main(["--data-root", str(BEN)])


def test_table_gives_the_standard_errors_of_the_means():
    per_image = {"a": {"psnr": 20.0, "ssim": 0.5, "corr": 0.1},
                 "b": {"psnr": 24.0, "ssim": 0.6, "corr": 0.5},
                 "c": {"psnr": 22.0, "ssim": 0.7, "corr": 0.3}}
    rows = [Row("m", 22.0, 0.6, 3, "x", per_image, 0.3),
            Row("one", 20.0, 0.5, 1, "x", {"a": per_image["a"]}, 0.1)]
    lines = markdown_table(rows, "val").splitlines()
    assert lines[0].endswith("| images | standard error: PSNR / corr |")
    # sample standard deviations 2 dB and 0.2, over sqrt(3)
    assert lines[2] == "| m | 22.00 | 0.6000 | 0.300 | 3 | 1.15 / 0.115 |"
    assert lines[3] == "| one | 20.00 | 0.5000 | 0.100 | 1 | - |"  # one image: no spread


def test_recorded_held_out_file_prints_its_table(tmp_path, capsys):
    per_image = {"a": {"psnr": 18.0, "ssim": 0.4, "corr": 0.2},
                 "b": {"psnr": 20.0, "ssim": 0.5, "corr": 0.4}}
    record = tmp_path / "heldout_eval.json"  # as scripts/default_model.py writes it
    record.write_text(json.dumps({"rows": {"shipped": dict(
        psnr=19.0, ssim=0.45, corr=0.3, n=2, beats_mean_floor=1, per_image=per_image)}}))
    (row,) = main(["--recorded", str(record)])
    assert (row.name, row.n_images, row.per_image) == ("shipped", 2, per_image)
    assert capsys.readouterr().out.splitlines()[2] == \
        "| shipped | 19.00 | 0.4500 | 0.300 | 2 | 1.00 / 0.100 |"
    with pytest.raises(SystemExit):
        main(["runs/x/checkpoint.pt"])  # scoring needs --data-root
