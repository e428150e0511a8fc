"""Generators: the S2O-NPDE family (Fig. 1 of the paper, and its ablations) and a U-Net (pix2pix).

S2O-NPDE generator, x: (B, C_in, H, W) SAR in [-1, 1], H and W multiples of ``size_multiple`` = 4:

    backbone    f  = Encoder(x)                      conv7x7 + two stride-2 conv3x3 -> 4w @ H/4
                u_1, u_2, u_3 = blocks(f)            three TCD (or residual / RK2) blocks
    PMD module  p  = Encoder'(cat(x, phi(x)))        PMD head phi, then conv + downsampling
                m_1 = Fusion_1(cat(p,   u_1))        fusion blocks: three convolutions each
                m_2 = Fusion_2(cat(m_1, u_2))
                pmd_image = Decoder'(m_2)            upsampling + prediction conv (linear),
                                                      predicts phi(y): 3 maps x 3 RGB channels
    backbone    h  = Fusion_b(cat(u_3, m_2))         fused features fed back into the backbone
                optical = tanh(Decoder(h))           upsampling + prediction conv, 3 bands RGB

The PMD head's output phi(x) = [u_x, u_y, du] per channel is concatenated with x itself, so the
first convolution of the PMD module also sees the diffused image x + du (a linear combination).
Without a branch (``branch=None``: Base, +TCD, CycleGAN) h = u_n and there is no side output.

``forward(x)`` returns the optical image; ``forward(x, return_pmd=True)`` returns
``(optical, pmd_image)`` (``pmd_image`` is None for generators without a branch).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from training.nets.blocks import BlockCascade
from training.nets.heads import HEADS
from training.nets.layers import (
    ContextLooks,
    Decoder,
    Encoder,
    FusionBlock,
    conv,
    init_generator_weights,
)


def _check_size(x: Tensor, multiple: int) -> None:
    """Refuse input sizes that are not multiples of the total stride (skipped while tracing)."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.compiler.is_exporting():
        return
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        raise ValueError(
            f"input height and width must be multiples of {multiple} (the generator's total "
            f"stride), got {h}x{w}: pad or crop the input"
        )


class S2OGenerator(nn.Module):
    """The S2O-NPDE generator and its ablations (see the module docstring).

    Args:
        in_channels: input bands (1 = VV, 2 = VV+VH; 3 for the optical->SAR reverse generator).
        out_channels: output bands (3 = RGB).
        width: base channel count w; the residual blocks work on 4 w channels at 1/4 resolution.
        block: "tcd", "residual" or "rk2" (training.nets.blocks).
        n_blocks: residual blocks in the backbone (3 in the paper, 9 for the CycleGAN baseline).
        branch: None, "pmd" (PMD neural module) or "grad" (gradient branch).
        eps: the epsilon of the head's division (Eq. (7)) / magnitude.
        context_sigmas: widths in px of the multi-look SAR context added to the encoder's output
            (layers.ContextLooks); empty: none (the paper's generator).
    """

    size_multiple = Encoder.stride

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 3,
        width: int = 32,
        block: str = "tcd",
        n_blocks: int = 3,
        branch: str | None = "pmd",
        eps: float = 1e-6,
        context_sigmas: tuple = (),
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        channels = 4 * width
        self.encoder = Encoder(in_channels, width)
        self.context = ContextLooks(in_channels, channels, tuple(context_sigmas)) \
            if context_sigmas else None
        self.blocks = BlockCascade(block, channels, n_blocks)
        self.branch = branch
        if branch is not None:
            if branch not in HEADS:
                raise ValueError(f"unknown branch {branch!r}; choose one of {sorted(HEADS)}")
            if n_blocks < 2:
                raise ValueError("a generator with a branch needs at least 2 blocks")
            self.head = HEADS[branch](eps)
            head_channels = in_channels * (1 + self.head.maps_per_channel)
            self.branch_encoder = Encoder(head_channels, width, first_kernel=3)
            self.fusion = nn.ModuleList([FusionBlock(2 * channels, channels) for _ in range(2)])
            self.side_decoder = Decoder(width, out_channels * self.head.maps_per_channel)
            self.backbone_fusion = FusionBlock(2 * channels, channels)
        self.decoder = Decoder(width, out_channels)
        init_generator_weights(self)

    def phi(self, image: Tensor) -> Tensor:
        """The head's mapping phi(image) (PMD maps), the target of the side output."""
        return self.head(image)

    def forward(self, x: Tensor, return_pmd: bool = False):
        _check_size(x, self.size_multiple)
        features = self.encoder(x)
        if self.context is not None:
            features = features + self.context(x)
        states = self.blocks(features)
        side = None
        if self.branch is None:
            h = states[-1]
        else:
            m = self.branch_encoder(torch.cat([x, self.head(x)], dim=1))
            for fusion, u in zip(self.fusion, states[: len(self.fusion)], strict=True):
                m = fusion(torch.cat([m, u], dim=1))
            h = self.backbone_fusion(torch.cat([states[-1], m], dim=1))
            if return_pmd:
                side = self.side_decoder(m)
        optical = torch.tanh(self.decoder(h))
        return (optical, side) if return_pmd else optical


class UNetGenerator(nn.Module):
    """U-Net generator of the pix2pix baseline, without normalisation (see layers.py).

    Level 0 is conv3x3 (w) at full resolution; level k (1..n_down) is a stride-2 conv3x3 and a
    conv3x3 with min(w 2^k, 8 w) channels (LeakyReLU 0.2). Each decoder level upsamples (nearest
    x2), convolves, concatenates the skip connection of its level and convolves again (ReLU).
    The last layer is conv3x3 + tanh. Total stride ``size_multiple`` = 2^n_down.
    """

    def __init__(self, in_channels: int, out_channels: int = 3, width: int = 32, n_down: int = 3):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.size_multiple = 2**n_down
        ch = [min(width * 2**k, 8 * width) for k in range(n_down + 1)]
        lrelu = nn.LeakyReLU(0.2)
        self.stem = nn.Sequential(conv(in_channels, ch[0]), lrelu)
        self.downs = nn.ModuleList(
            nn.Sequential(conv(ch[k - 1], ch[k], stride=2), lrelu, conv(ch[k], ch[k]), lrelu)
            for k in range(1, n_down + 1)
        )
        self.ups = nn.ModuleList(
            nn.Sequential(nn.Upsample(scale_factor=2), conv(ch[k], ch[k - 1]), nn.ReLU())
            for k in range(n_down, 0, -1)
        )
        self.merges = nn.ModuleList(
            nn.Sequential(conv(2 * ch[k - 1], ch[k - 1]), nn.ReLU()) for k in range(n_down, 0, -1)
        )
        self.out = conv(ch[0], out_channels)
        init_generator_weights(self)

    def forward(self, x: Tensor, return_pmd: bool = False):
        _check_size(x, self.size_multiple)
        skips = [self.stem(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        h = skips.pop()
        for up, merge in zip(self.ups, self.merges, strict=True):
            h = merge(torch.cat([up(h), skips.pop()], dim=1))
        optical = torch.tanh(self.out(h))
        return (optical, None) if return_pmd else optical
