"""training/train.py end to end on the real BigEarthNet fixtures: exact resume after a stop or a
SIGKILL, a 2-process torchrun (DDP, gloo) run, and its error messages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from training.cyclegan import read_checkpoint
from training.train import CHECKPOINT, LOSS_CSV, main

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "training" / "train.py"
BEN = ROOT / "tests" / "data" / "bigearthnet"
# 3 training pairs, 32 px crops: 3 steps per epoch, 12 in all; lr decays from epoch 1; pools
# of 2 images so that pooled images come back within a few steps
QUICK = ["--data-root", str(BEN), "--width", "4", "--crop", "32", "--lambda-per", "0",
         "--epochs", "4", "--decay-start-epoch", "1", "--pool-size", "2",
         "--log-every", "1"]  # fmt: skip
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _train(*args: str, out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(TRAIN), *QUICK, "--out-dir", str(out), *args]
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300, check=True)


def _rows(out: Path) -> list[str]:
    return (out / LOSS_CSV).read_text().splitlines()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    _train("--keep-every", "2", out=out)
    return out


@pytest.mark.slow  # uninterrupted: a whole training run in a subprocess
def test_keep_every_keeps_epoch_copies_for_model_selection(uninterrupted):
    kept = sorted(p.name for p in uninterrupted.glob("checkpoint_epoch*.pt"))
    assert kept == ["checkpoint_epoch002.pt", "checkpoint_epoch004.pt"]
    last = read_checkpoint(uninterrupted / "checkpoint_epoch004.pt")
    assert last["progress"]["epoch"] == 4 and last["progress"]["step"] == 12


@pytest.mark.slow
def test_stop_and_resume_equals_uninterrupted(uninterrupted, tmp_path):
    _train("--max-steps", "4", out=tmp_path)  # stops inside epoch 2
    assert len(_rows(tmp_path)) == 1 + 4
    assert read_checkpoint(tmp_path / CHECKPOINT)["progress"] == {"step": 4, "epoch": 1, "batch": 1}
    _train("--resume", "--max-steps", "0", out=tmp_path)
    rows = _rows(tmp_path)
    assert len(rows) == 1 + 12
    assert rows == _rows(uninterrupted)
    lrs = {row.split(",")[2] for row in rows[1:]}
    assert len(lrs) > 2  # the schedule's decay is part of what resumed exactly
    a = read_checkpoint(tmp_path / CHECKPOINT)["model"]["generators"]
    b = read_checkpoint(uninterrupted / CHECKPOINT)["model"]["generators"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_sigkill_and_resume_equals_uninterrupted(uninterrupted, tmp_path):
    cmd = [sys.executable, str(TRAIN), *QUICK, "--out-dir", str(tmp_path), "--save-every", "2"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (tmp_path / CHECKPOINT).exists() and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = read_checkpoint(tmp_path / CHECKPOINT)["progress"]["step"]
    assert killed_at < 12
    _train("--resume", out=tmp_path)
    assert _rows(tmp_path) == _rows(uninterrupted)


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(TRAIN), *QUICK, "--out-dir", str(tmp_path), "--max-steps", "3"]  # fmt: skip
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "on cpu x 2" in done.stdout
    rows = _rows(tmp_path)
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    checkpoint = read_checkpoint(tmp_path / CHECKPOINT)
    assert checkpoint["progress"]["step"] == 3
    assert len(checkpoint["rank_pools"]) == 2


def test_perceptual_loss_without_vgg_weights_stops_with_advice(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    args = ["--data-root", str(BEN), "--width", "4", "--out-dir", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as exit_:
        main(args)  # lambda_per defaults to 10, as in the paper
    assert "--vgg-weights PATH" in str(exit_.value) and "--lambda-per 0" in str(exit_.value)
    assert not (tmp_path / "run" / CHECKPOINT).exists()


def test_bad_config_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="in_bands must be"):
        main(["--in-bands", "VH", "--out-dir", str(tmp_path)])


def test_lr_factor_decays_linearly_and_no_decay_when_it_starts_at_the_end():
    from training.config import TrainConfig
    from training.train import lr_factor

    cfg = TrainConfig(epochs=4, decay_start_epoch=2)
    assert [lr_factor(e, cfg) for e in range(5)] == [1.0, 1.0, 1.0, 0.5, 0.0]
    for start in (3, 5):  # decay_start_epoch >= epochs: no decay, and no division by zero
        cfg = TrainConfig(epochs=3, decay_start_epoch=start)
        assert [lr_factor(e, cfg) for e in range(4)] == [1.0] * 4


def test_pmd_panel_scales_a_side_output_and_names_a_flat_or_missing_one():
    from training.train import pmd_panel

    side = torch.zeros(9, 8, 8)
    side[:, :, 4:] = 0.02  # an edge: structure worth showing
    panel = pmd_panel(side)
    assert panel.shape == (8, 8) and panel[:, :4].max() == 0.0 and panel[:, 4:].min() == 1.0
    flat = pmd_panel(torch.full((9, 8, 8), 2.3e-5))  # what a collapsed side output looks like
    assert flat == "PMD side output flat\n(|phi| about 2.3e-05 everywhere)"
    assert pmd_panel(None) == "no PMD module"
