"""Receptive-field radius of a generator, measured by gradients.

The radius R is the largest Chebyshev distance |row - i|, |col - j| between an output pixel (i, j)
and an input pixel its value depends on. Tiles read with a halo >= R (and offsets that are
multiples of ``size_multiple``) reproduce the whole-image result exactly.

Measurement: on a float64 copy of the generator every convolution kernel is replaced by a positive
averaging kernel (1 / (in_channels k^2)) and every bias by 0. With a positive input, every ReLU is
then active and no path through the network is blocked (the input is scaled small so that the
final tanh does not saturate), so the gradient of one output pixel with
respect to the input is nonzero exactly on the architecture's receptive field: an upper bound for
any trained weights. The output pixel is taken at every phase modulo the total stride (the field of
a strided network depends on it); all kernels are square, so a pixel at phase (p, p) gives the row
extent for row phase p and the column extent for column phase p.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

# Small positive inputs: the averaging network is positively homogeneous, so its output stays far
# from tanh's saturation (where the float64 gradient would vanish) even after many residual steps.
INPUT_SCALE = 1e-4


def _averaging_copy(generator: nn.Module) -> nn.Module:
    net = copy.deepcopy(generator).double().eval().cpu()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.fill_(1.0 / fan_in)
                if module.bias is not None:
                    module.bias.zero_()
    for param in net.parameters():
        param.requires_grad_(False)
    return net


def receptive_field_radius(generator: nn.Module, start_size: int = 128) -> int:
    """The generator's receptive-field radius in input pixels (see the module docstring).

    ``generator`` needs ``in_channels`` and ``size_multiple`` attributes; its forward(x) returns
    the output image. The test image grows until the field fits well inside it.
    """
    net = _averaging_copy(generator)
    multiple = int(generator.size_multiple)
    size = start_size - start_size % multiple
    gen = torch.Generator().manual_seed(0)
    while True:
        x = INPUT_SCALE * (1.0 + torch.rand(1, generator.in_channels, size, size, generator=gen))
        x = x.double()
        x.requires_grad_(True)
        y = net(x)
        centre = (size // 2) // multiple * multiple
        radius = 0
        for phase in range(multiple):
            i = centre + phase
            (grad,) = torch.autograd.grad(y[0, :, i, i].sum(), x, retain_graph=True)
            rows, cols = torch.nonzero(grad[0].abs().sum(dim=0), as_tuple=True)
            radius = max(radius, int((rows - i).abs().max()), int((cols - i).abs().max()))
        if radius < centre - 2 * multiple:
            return radius
        size *= 2
