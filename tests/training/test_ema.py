"""--ema-decay: the moving average of G's weights is kept, resumed exactly and is what a
checkpoint loads (and so what is evaluated, averaged and exported)."""

from __future__ import annotations

import pytest
import torch

from tests.training.test_training_loop import QUICK, _rows, _train
from training.cyclegan import exported_weights, load_checkpoint, read_checkpoint
from training.train import CHECKPOINT, main

EMA = ("--ema-decay", "0.9")


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ema")
    _train(*EMA, out=out)
    return out


@pytest.mark.slow  # ema_run: a whole training run in a subprocess
def test_checkpoint_loads_the_average_not_the_last_weights(ema_run):
    checkpoint = read_checkpoint(ema_run / CHECKPOINT)
    assert checkpoint["model"]["ema"]["updates"] == 12  # one per generator step
    g = {k[4:]: v for k, v in checkpoint["model"]["generators"].items() if k.startswith("s2o.")}
    ema = checkpoint["model"]["ema"]["weights"]
    assert g.keys() == ema.keys()
    assert any(not torch.equal(g[k], ema[k]) for k in g)
    _, generator = load_checkpoint(ema_run / CHECKPOINT)
    loaded = generator.state_dict()
    assert all(torch.equal(loaded[k], ema[k]) for k in ema)
    assert exported_weights(checkpoint).keys() == ema.keys()


@pytest.mark.slow
def test_stop_and_resume_keeps_the_average_exactly(ema_run, tmp_path):
    _train(*EMA, "--max-steps", "5", out=tmp_path)
    _train("--resume", "--max-steps", "0", out=tmp_path)
    assert _rows(tmp_path) == _rows(ema_run)
    a = read_checkpoint(tmp_path / CHECKPOINT)["model"]["ema"]
    b = read_checkpoint(ema_run / CHECKPOINT)["model"]["ema"]
    assert a["updates"] == b["updates"]
    assert all(torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"])


def test_ema_decay_out_of_range_is_refused(tmp_path):
    with pytest.raises(SystemExit, match=r"ema_decay must be in \[0, 1\), got 1.0"):
        main([*QUICK, "--out-dir", str(tmp_path), "--ema-decay", "1.0"])
    assert not (tmp_path / CHECKPOINT).exists()
