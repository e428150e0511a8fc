"""scripts/context_baseline.py: the ridge regression on multi-scale SAR means (README, training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scripts.context_baseline import features, fit, main, paired

BEN = Path(__file__).resolve().parents[1] / "data" / "bigearthnet"


def test_features_are_the_bands_their_means_and_squares():
    sar = torch.linspace(-1, 1, 2 * 8 * 8).view(2, 8, 8)
    f = features(sar, (0.0, 2.0))
    assert f.shape == (8, 8, 1 + 3 * 2 * 2)  # 1, then VV, VH, VV - VH x (2 scales x m, m^2)
    np.testing.assert_allclose(f[..., 0], 1.0)
    np.testing.assert_allclose(f[..., 1], sar[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(f[..., 2], sar[0].numpy() ** 2, rtol=1e-5)
    np.testing.assert_allclose(f[..., 9], (sar[0] - sar[1]).numpy(), rtol=1e-5, atol=1e-7)
    assert f[..., 3].std() < f[..., 1].std()  # smoothed


def test_fit_recovers_a_linear_mapping():
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(3):
        sar = torch.from_numpy(rng.uniform(-1, 1, (2, 24, 24)).astype(np.float32))
        optical = torch.stack([0.5 * sar[0], -0.25 * sar[1] + 0.1, sar[0] - sar[1]])
        samples.append({"sar": sar, "optical": optical})
    w = fit(samples, (0.0,), ridge=1e-6)
    assert w.shape == (7, 3)
    f = features(samples[0]["sar"], (0.0,))
    predicted = (f.reshape(-1, 7) @ w).T.reshape(3, 24, 24)
    np.testing.assert_allclose(predicted, samples[0]["optical"].numpy(), atol=1e-4)


def test_one_row_per_scale_set_scored_on_val(capsys):
    rows = main(["--data-root", str(BEN), "--scales", "0", "0,4"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| SAR mean scales (px) | val PSNR (dB) | val SSIM | val corr |")
    assert [r[0] for r in rows] == ["0", "0,4"] and len(out) == 7
    assert [line.split(" | ")[0] for line in out[4:]] == [
        "| floor: mean colour", "| floor: VV as grey", "| floor: scene mean colour"]
    for _, psnr, ssim, corr in rows:
        assert 5 < psnr < 50 and -1 <= ssim <= 1 and -1 <= corr <= 1
    assert rows[0][1:] != pytest.approx(rows[1][1:])  # the context changes the fit


def test_paired_difference_its_standard_error_and_wins():
    ridge = {"a": {"corr": 0.5}, "b": {"corr": 0.1}, "c": {"corr": 0.3}}
    other = {"a": {"corr": 0.2}, "b": {"corr": 0.2}, "c": {"corr": 0.3}, "d": {"corr": 0.9}}
    mean, se, ahead, n = paired(ridge, other)  # differences 0.3, -0.1, 0
    assert (ahead, n) == (1, 3) and mean == pytest.approx(0.2 / 3)
    assert se == pytest.approx(np.std([0.3, -0.1, 0.0], ddof=1) / np.sqrt(3))


def test_against_a_checkpoint_prints_the_paired_row(tmp_path, capsys):
    from training.checkpoint import save_model_checkpoint
    from training.config import TrainConfig

    ckpt = tmp_path / "run" / "checkpoint.pt"
    save_model_checkpoint(ckpt, TrainConfig(variant="base", width=4, lambda_per=0.0))
    main(["--data-root", str(BEN), "--scales", "0,4", "--against", str(ckpt)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f"| {ckpt} | ") and last.endswith(" of 2 |")
    assert " +- " in last
