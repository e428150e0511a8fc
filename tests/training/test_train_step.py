"""S2OCycleGAN.train_step (the optimisation step on the model) and training/checkpoint.py (model
section, training state, resume), in process: real networks and optimisers on small tensors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.checkpoint import (
    CKPT_FORMAT,
    ModelSpec,
    Progress,
    load_checkpoint,
    load_generator,
    read_checkpoint,
    resume_training,
    save_checkpoint,
    training_checkpoint,
)
from training.config import TrainConfig
from training.cyclegan import LOSS_NAMES, S2OCycleGAN, loss_values

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(width=4, lambda_per=0.0, pool_size=2, seed=3)


def _batches(n: int, n_sar: int = 2, size: int = 32):
    g = torch.Generator().manual_seed(11)
    return [(torch.rand(1, n_sar, size, size, generator=g) * 2 - 1,
             torch.rand(1, 3, size, size, generator=g) * 2 - 1) for _ in range(n)]  # fmt: skip


def _model(cfg: TrainConfig, seed: int = 0) -> S2OCycleGAN:
    torch.manual_seed(seed)
    return S2OCycleGAN(cfg).setup_training()


def _weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_step_updates_g_then_the_average_then_d():
    cfg = TrainConfig(variant="full", ema_decay=0.9, **SMALL)
    model = _model(cfg)
    g0, d0 = _weights(model.generators.s2o), _weights(model.discriminators)
    (sar, optical), = _batches(1)  # fmt: skip
    logs = model.train_step(sar, optical)
    values = loss_values(logs)
    assert set(values) == set(LOSS_NAMES)
    # every term of 'full' is on; the perceptual and correlation losses are off (weight 0)
    assert all(v > 0 for k, v in values.items() if k not in ("per", "corr"))
    assert values["per"] == values["corr"] == 0
    g1, d1 = _weights(model.generators.s2o), _weights(model.discriminators)
    assert any(not torch.equal(g0[k], g1[k]) for k in g0)
    assert any(not torch.equal(d0[k], d1[k]) for k in d0)
    # the first average: decay min(0.9, 1/10) = 0.1 of the old weights, 0.9 of the new ones
    assert model.ema_updates == 1
    for k, avg in model.ema.state_dict().items():
        if avg.is_floating_point() and k in dict(model.generators.s2o.named_parameters()):
            torch.testing.assert_close(avg, 0.1 * g0[k] + 0.9 * g1[k])
    assert all(p.requires_grad for p in model.discriminators.parameters())
    assert model.lr == cfg.lr
    model.end_epoch()  # the schedule: no decay before decay_start_epoch
    assert model.lr == cfg.lr


def test_without_a_gan_loss_the_discriminators_stay_as_they_were():
    cfg = TrainConfig(variant="base", gan_weight=0.0, **SMALL)
    model = _model(cfg)
    d0 = _weights(model.discriminators)
    logs = loss_values(model.train_step(*_batches(1)[0]))
    assert logs["d_optical"] == logs["d_sar"] == logs["gan"] == 0.0 and logs["pix"] > 0
    assert all(torch.equal(d0[k], v) for k, v in model.discriminators.state_dict().items())
    assert model.pool_optical.images == []  # no discriminator step drew from the pools


@pytest.mark.filterwarnings(r"ignore:Detected call of `lr_scheduler.step\(\)`")
def test_linear_decay_of_the_schedules():
    cfg = TrainConfig(variant="base", epochs=4, decay_start_epoch=2, **SMALL)
    model = _model(cfg)
    lrs = []
    for _ in range(4):
        model.end_epoch()
        lrs.append(model.lr)
    assert lrs == pytest.approx([cfg.lr, cfg.lr, 0.5 * cfg.lr, 0.0])
    assert model.optimizers["d"].param_groups[0]["lr"] == 0.0


@pytest.mark.parametrize("variant", ["full", "pix2pix"])
def test_training_checkpoint_resumes_bit_exactly(tmp_path, variant):
    """Stop after one step, write the training checkpoint, resume it into a model initialised
    differently: the next steps give the same losses and the same weights, average, pools and
    optimiser state as the run that went on."""
    cfg = TrainConfig(variant=variant, ema_decay=0.5, **SMALL)
    batches = _batches(4)
    a = _model(cfg, seed=0)
    a.train_step(*batches[0])
    save_checkpoint(tmp_path / "ckpt.pt", training_checkpoint(cfg, a, Progress(1, 0, 1)))
    logs_a = [loss_values(a.train_step(*b)) for b in batches[1:]]

    checkpoint = read_checkpoint(tmp_path / "ckpt.pt")  # weights_only: the format's own types
    assert checkpoint["format"] == CKPT_FORMAT and checkpoint["rank_pools"] == []
    b = _model(cfg, seed=1)
    progress = resume_training(checkpoint, b)
    assert progress == Progress(step=1, epoch=0, batch=1)
    logs_b = [loss_values(b.train_step(*x)) for x in batches[1:]]
    assert logs_a == logs_b
    state_a, state_b = a.state_dict(), b.state_dict()
    for part in ("generators", "discriminators"):
        assert all(torch.equal(state_a[part][k], state_b[part][k]) for k in state_a[part])
    assert state_a["ema"]["updates"] == state_b["ema"]["updates"] == 4
    assert all(
        torch.equal(v, state_b["ema"]["weights"][k]) for k, v in state_a["ema"]["weights"].items()
    )
    pools = [m.pool_optical.images for m in (a, b)]
    assert len(pools[0]) == len(pools[1]) and all(map(torch.equal, *pools))
    opt_a, opt_b = (m.optimizers["g"].state_dict()["state"] for m in (a, b))
    assert all(torch.equal(opt_a[i]["exp_avg"], opt_b[i]["exp_avg"]) for i in opt_a)


def test_old_checkpoints_derive_the_model_section_from_their_config(tmp_path):
    """Files written before the model section (runs/r3, runs/r4: format 1, config and model,
    with or without the moving average) load as before, with the same spec new files carry."""
    cfg = TrainConfig(variant="tcd_grad", in_bands="VV", ema_decay=0.9, **SMALL)
    model = _model(cfg)
    model.train_step(*_batches(1, n_sar=1)[0])
    new = training_checkpoint(cfg, model, Progress(1, 0, 1))
    old = {k: v for k, v in new.items() if k != "model_spec"}
    save_checkpoint(tmp_path / "old.pt", old)
    generator, spec = load_generator(tmp_path / "old.pt")
    assert spec == ModelSpec.from_dict(new["model_spec"])
    assert (spec.variant, spec.bands, spec.width) == ("tcd_grad", ("VV",), 4)
    assert spec.db_ranges == (tuple(cfg.db_ranges["VV"]),)
    assert spec.optical_dn_range == tuple(cfg.optical_dn_range)
    ema = model.ema.state_dict()  # the average is what loads
    assert all(torch.equal(generator.state_dict()[k], ema[k]) for k in ema)
    cfg_back, _ = load_checkpoint(tmp_path / "old.pt")
    assert cfg_back == cfg


def test_spec_alone_builds_the_generator_export_needs(tmp_path):
    """A checkpoint's model section is enough to load its generator: no config needed."""
    cfg = TrainConfig(variant="rk2_pmd", **SMALL)
    model = _model(cfg)
    checkpoint = training_checkpoint(cfg, model, Progress())
    del checkpoint["config"]
    save_checkpoint(tmp_path / "spec_only.pt", checkpoint)
    generator, spec = load_generator(tmp_path / "spec_only.pt")
    x = _batches(1)[0][0]
    with torch.no_grad():
        torch.testing.assert_close(generator(x), model.generators.s2o.eval()(x), rtol=0, atol=0)
    assert spec.to_dict()["bands"] == ("VV", "VH") and not generator.training


def test_the_networks_do_not_import_the_training_config():
    code = (
        "import sys, training.nets as n; n.build_generator('full', 2, 4); "
        "print('training.config' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"
