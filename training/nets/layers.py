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

from torch import nn

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
