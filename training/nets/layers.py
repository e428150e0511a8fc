"""Small building blocks shared by the generators.

Padding: every convolution of the generators pads by reflection (``PAD_MODE``), the same rule
everywhere, so a pixel far from the image border never sees padding and the network is exactly
translation-equivariant there (for shifts that are multiples of its total stride).

For inference by tiles the padding mode does not matter: a tile read with a halo of at least the
receptive-field radius never lets padding reach the pixels that are kept. :func:`zero_padded`
makes the copy the exporter writes, whose convolutions pad with zeros inside the convolution
(no separate pad operator: faster in onnxruntime) and which computes exactly the same kept pixels.

Normalisation: the generators use NO normalisation layers. The exported generator runs tile by
tile over whole scenes; InstanceNorm (or GroupNorm/LayerNorm) would normalise every tile with its
own statistics and give every tile a different colour, and BatchNorm with the paper's batch size 1
trains with per-image statistics that differ from the frozen running statistics used at inference.
Without normalisation, train and eval modes compute the same function and tiling is exact.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PAD_MODE = "reflect"


def conv(in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1) -> nn.Conv2d:
    """A ``kernel`` x ``kernel`` convolution with 'same' reflection padding (``kernel`` odd)."""
    return nn.Conv2d(
        in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, padding_mode=PAD_MODE
    )


def conv_relu(in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1):
    return nn.Sequential(conv(in_channels, out_channels, kernel, stride), nn.ReLU())


def zero_padded(net: nn.Module) -> nn.Module:
    """A copy of ``net`` whose every convolution (and fixed-kernel head) pads with zeros.

    Pixels at least the receptive-field radius away from the input's border are unchanged; only
    that border band differs from the reflection-padded original.
    """
    net = copy.deepcopy(net)
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            module.padding_mode = "zeros"
        if hasattr(module, "pad_mode"):
            module.pad_mode = "constant"
    return net


def init_generator_weights(net: nn.Module) -> None:
    """He (Kaiming) normal initialisation for every convolution, zero biases.

    Without normalisation layers the scale of the initial weights sets the scale of the
    activations; He initialisation keeps it roughly constant through the ReLU layers.
    """
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)


class Encoder(nn.Sequential):
    """Convolution then downsampling: conv7x7 (width) -> two stride-2 conv3x3 (2w, 4w).

    The total stride is 4 (``Encoder.stride``); the output has ``4 * width`` channels.
    """

    stride = 4

    def __init__(self, in_channels: int, width: int, first_kernel: int = 7):
        super().__init__(
            conv_relu(in_channels, width, first_kernel),
            conv_relu(width, 2 * width, 3, stride=2),
            conv_relu(2 * width, 4 * width, 3, stride=2),
        )


class Decoder(nn.Sequential):
    """Upsampling and a prediction convolution: two (nearest x2 upsample, conv3x3, ReLU) stages
    (4w -> 2w -> w channels) and a linear conv7x7 prediction layer to ``out_channels``.

    Nearest upsampling followed by a convolution (instead of a transposed convolution) avoids
    checkerboard artefacts and keeps the exported graph to Resize + Conv.
    """

    def __init__(self, width: int, out_channels: int, last_kernel: int = 7):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            conv_relu(4 * width, 2 * width),
            nn.Upsample(scale_factor=2, mode="nearest"),
            conv_relu(2 * width, width),
            conv(width, out_channels, last_kernel),
        )


class FusionBlock(nn.Sequential):
    """Three convolutions fusing concatenated features: conv1x1 (reduce) then two conv3x3,
    each followed by ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            conv_relu(in_channels, out_channels, 1),
            conv_relu(out_channels, out_channels),
            conv_relu(out_channels, out_channels),
        )


def check_context_sigmas(sigmas_px: tuple) -> None:
    """Raise ValueError unless every width is a positive multiple of the encoder's stride (the
    context is computed at 1/4 resolution) and there is at least one."""
    stride = Encoder.stride
    if not sigmas_px or any(int(s) != s or s <= 0 or s % stride for s in sigmas_px):
        raise ValueError(f"context_sigmas must be positive multiples of {stride} px, got "
                         f"{', '.join(f'{s:g}' for s in sigmas_px) or 'none'}")


class ContextLooks(nn.Module):
    """Multi-look context of the SAR input, added to the backbone's features at 1/4 resolution.

    The input is averaged over 4 x 4 px (a 16-look multilook, stride 4 = ``Encoder.stride``, so
    tiling stays exact) and smoothed by separable Gaussians of the given widths (full-resolution
    px, multiples of 4; each truncated at 2 sigma); the looks and their smoothed copies are mapped
    by a 1x1 convolution to the backbone's ``4 * width`` channels. This gives every pixel the mean
    backscatter of its neighbourhood out to 2 x the widest sigma: the large-scale context (water,
    town, forest, field blocks) that the paper's generator, with a receptive-field radius of about
    47 px, cannot see. The Gaussians are fixed (buffers), not learned. Border padding replicates
    the edge (reflection needs more pixels than a small tile has at 1/4 resolution); the exported
    copy pads with zeros (``pad_mode``, :func:`zero_padded`), which the engine's halo keeps away
    from the pixels it keeps.
    """

    def __init__(self, in_channels: int, out_channels: int, sigmas_px: tuple[int, ...]):
        super().__init__()
        check_context_sigmas(sigmas_px)
        stride = Encoder.stride
        sigmas = [s / stride for s in sigmas_px]  # in 1/4-resolution pixels
        self.radius = math.ceil(2 * max(sigmas))
        offsets = torch.arange(-self.radius, self.radius + 1, dtype=torch.float64)
        taps = []
        for sigma in sigmas:
            g = torch.exp(-0.5 * (offsets / sigma) ** 2)
            g[offsets.abs() > math.ceil(2 * sigma)] = 0.0
            taps.append(g / g.sum())
        kernel = torch.stack(taps).float()  # (n_sigmas, 2 radius + 1)
        self.n_sigmas = len(sigmas)
        self.register_buffer("kernel", kernel.repeat(in_channels, 1)[:, None, None, :])
        self.pool = nn.AvgPool2d(stride)
        self.project = conv(in_channels * (1 + len(sigmas)), out_channels, 1)
        self.pad_mode = "replicate"

    def forward(self, x: Tensor) -> Tensor:
        looks = self.pool(x)
        spread = looks.repeat_interleave(self.n_sigmas, dim=1)  # each band once per sigma
        groups, r = spread.shape[1], self.radius
        rows = self.kernel  # (groups, 1, 1, k): along x, then the same taps along y
        if self.pad_mode == "constant":
            smooth = F.conv2d(spread, rows, padding=(0, r), groups=groups)
            smooth = F.conv2d(smooth, rows.transpose(2, 3), padding=(r, 0), groups=groups)
        else:
            smooth = F.conv2d(F.pad(spread, (r, r, 0, 0), mode=self.pad_mode), rows,
                              groups=groups)
            smooth = F.conv2d(F.pad(smooth, (0, 0, r, r), mode=self.pad_mode),
                              rows.transpose(2, 3), groups=groups)
        return self.project(torch.cat([looks, smooth], dim=1))
