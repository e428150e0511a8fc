"""Losses of Eq. (8)-(9):

    L = L_GAN + l_pix L_pix + l_per L_per + l_cyc L_cyc + l_pde (L_TCD + L_PMD)

* L_GAN: least-squares GAN (LSGAN, as CycleGAN): D minimises 1/2 [(D(y) - 1)^2 + D(G(x))^2],
  G minimises (D(G(x)) - 1)^2, means over the patch scores.
* L_pix = ||y - G(x)||_1 (mean absolute error, images in [-1, 1]).
* L_per = sum_l w_l ||V_l(y) - V_l(G(x))||_1 over the VGG19 activations relu1_1, relu2_1,
  relu3_1, relu4_1, relu5_1 with w = 1/32, 1/16, 1/8, 1/4, 1 (the pix2pixHD VGG loss), images
  mapped from [-1, 1] to ImageNet-normalised RGB.
* L_corr = 1 - r, r the Pearson correlation between G(x) and y over each image's pixels,
  averaged over images and channels (not in the paper; weight 0 by default): rewards spatial
  structure that follows the reference whatever the colour level, which L1 lets blur away.
* L_cyc = ||x - F(G(x))||_1 + ||y - G(F(y))||_1.
* L_TCD = ||phi(y) - phi(G(x))||_1, L_PMD = ||phi(y) - G_PMD(x)||_1 with phi the generator's
  fixed head (training/nets/heads.py).

VGG19 weights: torchvision is not a dependency. ``VGG19Features`` rebuilds torchvision's
``vgg19().features`` layer stack with the same state-dict keys ("features.0.weight", ...), and
loads torchvision's ImageNet file ``vgg19-dcbb9e9d.pth`` from a given path or the torch hub
cache ($TORCH_HOME/hub/checkpoints/, default ~/.cache/torch/hub/checkpoints/). There is no
silent fallback to random weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

VGG19_FILE = "vgg19-dcbb9e9d.pth"
# torchvision's VGG19 ("E") feature configuration: channels, "M" = 2x2 max pooling
VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                512, 512, 512, 512, "M", 512, 512, 512, 512, "M")  # fmt: skip
# indices in `features` of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1, and their weights
PERCEPTUAL_LAYERS = (1, 6, 11, 20, 29)
PERCEPTUAL_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGWeightsNotFoundError(FileNotFoundError):
    """No VGG19 weights file: the perceptual loss cannot run."""


def lsgan_loss(scores: Tensor, real: bool) -> Tensor:
    """Mean squared distance of the discriminator's patch scores to 1 (real) or 0 (fake)."""
    target = torch.ones_like(scores) if real else torch.zeros_like(scores)
    return F.mse_loss(scores, target)


def l1(a: Tensor, b: Tensor) -> Tensor:
    return F.l1_loss(a, b)


def correlation_loss(fake: Tensor, real: Tensor, eps: float = 1e-6) -> Tensor:
    """1 - the mean over images and channels of the Pearson correlation of fake and real over
    the pixels; a flat image (no variance) counts as correlation 0."""
    a = fake.flatten(2) - fake.flatten(2).mean(dim=2, keepdim=True)
    b = real.flatten(2) - real.flatten(2).mean(dim=2, keepdim=True)
    cov = (a * b).mean(dim=2)
    r = cov / torch.sqrt(a.square().mean(dim=2) * b.square().mean(dim=2) + eps)
    return 1 - r.mean()


def pde_losses(phi: nn.Module, real: Tensor, fake: Tensor, side: Tensor) -> tuple[Tensor, Tensor]:
    """(L_TCD, L_PMD) of Eq. (9): phi(real) against phi(fake) and against the side output."""
    target = phi(real)
    return l1(phi(fake), target), l1(side, target)


class VGG19Features(nn.Sequential):
    """torchvision's ``vgg19().features``: 16 conv3x3 (+ReLU) and 5 max-pooling layers, with
    the same indices, so ``load_state_dict`` takes torchvision's "features.*" keys."""

    def __init__(self):
        layers: list[nn.Module] = []
        channels = 3
        for item in VGG19_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU()]
                channels = item
        super().__init__(*layers)


def hub_weights_path() -> Path:
    """Where torch keeps downloaded hub weights: $TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


def find_vgg_weights(path: str | os.PathLike | None) -> Path:
    """The VGG19 weights file to use: ``path`` if given, else the hub cache copy; else raise
    VGGWeightsNotFoundError naming the options that fix it."""
    candidate = Path(path) if path else hub_weights_path()
    if candidate.is_file():
        return candidate
    raise VGGWeightsNotFoundError(
        f"the perceptual loss needs ImageNet VGG19 weights (torchvision's {VGG19_FILE}); "
        f"not found at {candidate}. Pass the file with --vgg-weights PATH (config "
        f"vgg_weights), put it in the torch hub cache ({hub_weights_path().parent}), "
        f"or switch the perceptual loss off with --lambda-per 0."
    )


def load_vgg19_features(path: str | os.PathLike | None) -> VGG19Features:
    """VGG19Features with torchvision's weights from ``find_vgg_weights(path)``, frozen, eval."""
    file = find_vgg_weights(path)
    state = torch.load(file, map_location="cpu", weights_only=True)
    prefix = "features."
    features = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    net = VGG19Features()
    wanted = {k: v.shape for k, v in net.state_dict().items()}
    got = {k: v.shape for k, v in features.items()}
    if got != wanted:
        wrong = sorted(k for k in wanted.keys() | got.keys() if wanted.get(k) != got.get(k))
        raise ValueError(
            f"{file} is not a torchvision VGG19 state dict: keys {wrong[:4]} are missing, "
            f"unexpected or of another shape"
        )
    net.load_state_dict(features)
    for param in net.parameters():
        param.requires_grad_(False)
    return net.eval()


class PerceptualLoss(nn.Module):
    """L_per (see the module docstring); the VGG is frozen and stays in eval mode."""

    def __init__(self, weights_path: str | os.PathLike | None):
        super().__init__()
        vgg = load_vgg19_features(weights_path)
        self.vgg = nn.Sequential(*list(vgg.children())[: PERCEPTUAL_LAYERS[-1] + 1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> PerceptualLoss:
        return super().train(False)

    def _activations(self, image: Tensor) -> list[Tensor]:
        h = ((image + 1) / 2 - self.mean) / self.std
        out = []
        for index, layer in enumerate(self.vgg):
            h = layer(h)
            if index in PERCEPTUAL_LAYERS:
                out.append(h)
        return out

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        pairs = zip(self._activations(fake), self._activations(real), strict=True)
        return sum(
            w * l1(a, b.detach()) for w, (a, b) in zip(PERCEPTUAL_WEIGHTS, pairs, strict=True)
        )
