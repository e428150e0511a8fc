"""The CycleGAN framework: image pools, the loss of Eq. (8), the discriminator step, the
checkpoint helpers, and a short overfit on one real BigEarthNet pair."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from training.checkpoint import save_model_checkpoint
from training.config import TrainConfig
from training.cyclegan import (
    ImagePool,
    S2OCycleGAN,
    load_checkpoint,
    loss_values,
    set_requires_grad,
)
from training.data import make_dataset

torch.set_num_threads(1)
BEN = Path(__file__).resolve().parents[1] / "data" / "bigearthnet"
NO_PER = {"lambda_per": 0.0}


def _batch(n_sar=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, n_sar, size, size, generator=g) * 2 - 1,
            torch.rand(1, 3, size, size, generator=g) * 2 - 1)  # fmt: skip


def test_image_pool_fills_then_swaps_reproducibly():
    images = [torch.full((1, 1, 2, 2), float(i)) for i in range(20)]
    a, b = ImagePool(3, seed=5), ImagePool(3, seed=5)
    outs_a = [float(a.query(im)[0, 0, 0, 0]) for im in images[:10]]
    state = a.state_dict()
    outs_b = [float(b.query(im)[0, 0, 0, 0]) for im in images[:10]]
    assert outs_a == outs_b
    assert outs_a[:3] == [0.0, 1.0, 2.0]  # filling: returns the new images
    assert any(o != i for i, o in enumerate(outs_a))  # then old images come back
    assert ImagePool(0, seed=0).query(images[7]) is images[7]
    # a restored pool continues exactly like the original
    c = ImagePool(3, seed=99)
    c.load_state_dict(state)
    assert [float(a.query(im)[0, 0, 0, 0]) for im in images[10:]] == [
        float(c.query(im)[0, 0, 0, 0]) for im in images[10:]
    ]


def test_generator_loss_is_the_weighted_sum_of_eq8():
    cfg = TrainConfig(variant="full", width=4, lambda_per=0.0, lambda_pix=3.0, lambda_cyc=5.0,
                      lambda_pde=7.0, gan_weight=2.0)  # fmt: skip
    model = S2OCycleGAN(cfg)
    sar, opt = _batch()
    out = model.generators(sar, opt)
    assert set(out) == {"fake_optical", "side", "rec_sar", "fake_sar", "rec_optical"}
    assert out["side"].shape == (1, 9, 32, 32) and out["fake_sar"].shape == (1, 2, 32, 32)
    total, logs = model.generator_loss(sar, opt, out)
    logs = loss_values(logs)
    expected = (2 * logs["gan"] + 3 * logs["pix"] + 5 * logs["cyc"]
                + 7 * (logs["pde_tcd"] + logs["pde_pmd"]))  # fmt: skip
    assert logs["g_total"] == pytest.approx(expected, rel=1e-6)
    assert all(logs[k] > 0 for k in ("gan", "pix", "cyc", "pde_tcd", "pde_pmd"))
    assert logs["per"] == 0.0
    head = model.generators.s2o.head
    assert logs["pde_pmd"] == pytest.approx((out["side"] - head(opt)).abs().mean().item())


def test_variants_without_branch_or_cycle_skip_those_terms():
    sar, opt = _batch(n_sar=1)
    model = S2OCycleGAN(TrainConfig(variant="pix2pix", width=4, in_bands="VV", **NO_PER))
    assert model.generators.o2s is None and model.discriminators.sar is None
    out = model.generators(sar, opt)
    logs = loss_values(model.generator_loss(sar, opt, out)[1])
    assert logs["cyc"] == logs["pde_tcd"] == logs["pde_pmd"] == 0.0 and logs["gan"] > 0
    d_logs = loss_values(model.discriminator_loss(sar, opt, out, model.discriminators)[1])
    assert d_logs["d_sar"] == 0.0 and d_logs["d_optical"] > 0
    # the conditional discriminator judges SAR + optical
    assert model.discriminators.optical.net[0].in_channels == 4


def test_discriminator_step_trains_only_the_discriminators():
    model = S2OCycleGAN(TrainConfig(variant="base", width=4, **NO_PER))
    sar, opt = _batch()
    out = model.generators(sar, opt)
    set_requires_grad(model.discriminators, True)
    loss, logs = model.discriminator_loss(sar, opt, out, model.discriminators)
    loss.backward()
    assert all(p.grad is None for p in model.generators.parameters())
    assert all(p.grad is not None for p in model.discriminators.parameters())
    assert len(model.pool_optical.images) == 1 and len(model.pool_sar.images) == 1
    assert logs["d_optical"] > 0 and logs["d_sar"] > 0


def test_checkpoint_round_trip(tmp_path):
    cfg = TrainConfig(variant="tcd_grad", width=4, in_bands="VV", **NO_PER)
    model = S2OCycleGAN(cfg)
    path = tmp_path / "ckpt.pt"
    save_model_checkpoint(path, cfg, model)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary left beside it
    cfg2, gen = load_checkpoint(path)
    assert cfg2 == cfg and not gen.training
    x = _batch(n_sar=1)[0]
    with torch.no_grad():
        torch.testing.assert_close(gen(x), model.generators.s2o(x), rtol=0, atol=0)


@pytest.mark.slow
def test_pixel_loss_halves_on_one_real_pair():
    """300 Adam steps of pixel loss alone on one real BigEarthNet pair (64 px centre crop)."""
    data = make_dataset("paired", BEN, "train", in_bands=("VV", "VH"), crop=64, augment=False)
    sample = data[0]
    sar, opt = sample["sar"][None], sample["optical"][None]
    torch.manual_seed(0)
    cfg = TrainConfig(variant="full", width=8, gan_weight=0.0, lambda_per=0.0, lambda_cyc=0.0,
                      lambda_pde=0.0, lambda_pix=1.0)  # fmt: skip
    model = S2OCycleGAN(cfg)
    params = list(model.generators.s2o.parameters())
    optimizer = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas)
    losses = []
    for _ in range(300):
        total, logs = model.generator_loss(sar, opt, model.generators(sar, opt))
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        losses.append(loss_values(logs)["pix"])
    print(f"pixel L1 {losses[0]:.4f} -> {losses[-1]:.4f}")
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])
