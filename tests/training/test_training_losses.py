"""Losses: LSGAN, PDE loss, the correlation loss, the VGG19 loader (torchvision key layout)
and its error message."""

from __future__ import annotations

import pytest
import torch

from training.config import TrainConfig
from training.cyclegan import S2OCycleGAN
from training.losses import (
    VGG19_FILE,
    PerceptualLoss,
    VGG19Features,
    VGGWeightsNotFoundError,
    correlation_loss,
    load_vgg19_features,
    lsgan_loss,
    pde_losses,
)
from training.nets.heads import PMDHead

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """Random VGG19 weights saved in torchvision's vgg19 state-dict layout."""
    torch.manual_seed(0)
    net = VGG19Features()
    state = {f"features.{k}": v for k, v in net.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)  # torchvision's file carries these too
    path = tmp_path_factory.mktemp("vgg") / VGG19_FILE
    torch.save(state, path)
    return path, net.state_dict()


def test_vgg_loader_takes_torchvision_layout(vgg_file):
    path, expected = vgg_file
    assert "features.34.weight" in torch.load(path, weights_only=True)  # last conv of VGG19
    net = load_vgg19_features(path)
    for key, value in net.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert not any(p.requires_grad for p in net.parameters())


def test_vgg_loader_finds_the_hub_cache(vgg_file, tmp_path, monkeypatch):
    path, _ = vgg_file
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / VGG19_FILE).symlink_to(path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert isinstance(load_vgg19_features(None), VGG19Features)


def test_missing_vgg_weights_fail_with_the_options_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(VGGWeightsNotFoundError) as err:
        load_vgg19_features(None)
    message = str(err.value)
    assert "--vgg-weights PATH" in message and "--lambda-per 0" in message
    assert str(tmp_path / "hub" / "checkpoints" / VGG19_FILE) in message
    with pytest.raises(VGGWeightsNotFoundError, match="nowhere.pth"):
        load_vgg19_features(tmp_path / "nowhere.pth")
    # the training model refuses to start rather than train against random VGG weights
    with pytest.raises(VGGWeightsNotFoundError, match="--lambda-per 0"):
        S2OCycleGAN(TrainConfig(width=4, lambda_per=10.0))


def test_a_non_vgg_file_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(3, 3, 3, 3)}, path)
    with pytest.raises(ValueError, match="not a torchvision VGG19"):
        load_vgg19_features(path)


def test_perceptual_loss(vgg_file):
    loss = PerceptualLoss(vgg_file[0]).train()
    assert not loss.vgg.training
    g = torch.Generator().manual_seed(0)
    real = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    fake = (torch.rand(1, 3, 32, 32, generator=g) * 2 - 1).requires_grad_(True)
    assert float(loss(real, real)) == 0.0
    value = loss(fake, real)
    assert value.item() > 0
    value.backward()
    assert fake.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.vgg.parameters())


def test_lsgan_targets():
    scores = torch.full((1, 1, 4, 4), 0.5)
    assert float(lsgan_loss(scores, True)) == 0.25
    assert float(lsgan_loss(torch.full((2, 1, 3, 3), 2.0), False)) == 4.0


def test_pde_losses_compare_phi_maps():
    head = PMDHead()
    g = torch.Generator().manual_seed(1)
    real = torch.rand(1, 3, 16, 16, generator=g)
    fake = torch.rand(1, 3, 16, 16, generator=g)
    tcd, pmd = pde_losses(head, real, real, head(real))
    assert float(tcd) == 0.0 and float(pmd) == 0.0
    tcd, pmd = pde_losses(head, real, fake, torch.zeros(1, 9, 16, 16))
    assert float(tcd) == pytest.approx(float((head(real) - head(fake)).abs().mean()))
    assert float(pmd) == pytest.approx(float(head(real).abs().mean()))


def test_correlation_loss_measures_structure_not_colour_level():
    g = torch.Generator().manual_seed(5)
    real = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    # the same picture brighter and with less contrast: perfectly correlated, loss 0
    assert correlation_loss(0.3 * real + 0.4, real).item() == pytest.approx(0.0, abs=1e-4)
    # the negative: correlation -1, loss 2
    assert correlation_loss(-real, real).item() == pytest.approx(2.0, abs=1e-4)
    # a flat image (the mean colour) has no correlation: loss 1, and its gradient is finite
    flat = torch.zeros_like(real, requires_grad=True)
    loss = correlation_loss(flat, real)
    loss.backward()
    assert loss.item() == pytest.approx(1.0, abs=1e-4)
    assert torch.isfinite(flat.grad).all()
    # per image and channel: one image negated and one kept average to r = 0
    mixed = torch.stack([real[0], -real[1]])
    assert correlation_loss(mixed, real).item() == pytest.approx(1.0, abs=1e-4)


def test_correlation_weight_enters_the_generator_loss():
    torch.manual_seed(0)
    sar, optical = torch.rand(1, 2, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    totals = {}
    for weight in (0.0, 2.0):
        torch.manual_seed(1)
        model = S2OCycleGAN(TrainConfig(variant="full", width=4, lambda_per=0.0,
                                        lambda_corr=weight))
        out = model.generators(sar, optical)
        totals[weight], logs = model.generator_loss(sar, optical, out)
    expected = 2.0 * correlation_loss(out["fake_optical"], optical)
    assert logs["corr"].item() == pytest.approx(expected.item() / 2.0, rel=1e-5)
    assert (totals[2.0] - totals[0.0]).item() == pytest.approx(expected.item(), rel=1e-4)
