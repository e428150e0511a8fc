"""PatchGAN discriminator (70 x 70 patches for n_layers = 3), as in pix2pix / CycleGAN.

conv4x4/2 (ndf) LReLU -> [conv4x4/2 (2^k ndf, max 8 ndf) IN LReLU] x (n_layers - 1)
-> conv4x4/1 IN LReLU -> conv4x4/1 (1 channel, raw scores for the least-squares GAN loss).

The discriminators are never exported or tiled, so InstanceNorm (per-image statistics) is fine
here. Weights start from N(0, 0.02) as in those papers.
"""

from __future__ import annotations

from torch import Tensor, nn


class PatchDiscriminator(nn.Module):
    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        channels = ndf
        for k in range(1, n_layers + 1):
            out = ndf * min(2**k, 8)
            stride = 2 if k < n_layers else 1
            layers += [
                nn.Conv2d(channels, out, 4, stride, 1),
                nn.InstanceNorm2d(out),
                nn.LeakyReLU(0.2),
            ]
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
