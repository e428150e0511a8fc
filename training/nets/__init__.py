"""Networks of S2O-NPDE and its baselines, built by small factories from explicit arguments
(variant, channels, width), as CycleGAN's ``define_G``: nothing here reads a training config.

``VARIANTS`` maps a variant name to its architecture (paper Table 2, plus the
two classic baselines of Table 1 in the same framework):

  variant    generator  blocks          branch (side output)   cycle   PDE loss
  base       S2O        3 residual      -                      yes     no
  tcd        S2O        3 TCD           -                      yes     no
  pmd        S2O        3 residual      PMD module             yes     yes
  tcd_grad   S2O        3 TCD           gradient branch        yes     yes (phi = gradient head)
  rk2_pmd    S2O        3 RK2 (Heun)    PMD module             yes     yes
  full       S2O        3 TCD           PMD module             yes     yes   (S2O-NPDE)
  pix2pix    U-Net      -               -                      no      no    (conditional D)
  cyclegan   S2O        9 residual      -                      yes     no    (ResNet generator)

The PDE loss (Eq. 9) needs a head phi and a side output, so it applies exactly to the variants
with a branch. The reverse generator (optical -> SAR, cycle variants only) is the Base
architecture (3 plain residual blocks, no branch); for ``cyclegan`` it is the same 9-block ResNet
generator as the forward one.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from training.nets.discriminator import PatchDiscriminator
from training.nets.generator import S2OGenerator, UNetGenerator
from training.nets.layers import check_context_sigmas, zero_padded
from training.nets.receptive import receptive_field_radius

__all__ = [
    "OPTICAL_BANDS",
    "VARIANTS",
    "VariantSpec",
    "build_discriminator",
    "build_generator",
    "build_reverse_generator",
    "check_context",
    "receptive_field_radius",
    "variant_spec",
    "zero_padded",
    "PatchDiscriminator",
    "S2OGenerator",
    "UNetGenerator",
]

OPTICAL_BANDS = 3


@dataclass(frozen=True)
class VariantSpec:
    generator: str  # "s2o" or "unet"
    block: str = "residual"
    n_blocks: int = 3
    branch: str | None = None
    cycle: bool = True
    reverse: str = "base"  # the variant whose architecture the optical -> SAR generator uses

    @property
    def pde_loss(self) -> bool:
        return self.branch is not None

    @property
    def conditional_discriminator(self) -> bool:
        """pix2pix judges (SAR, optical) pairs; the cycle variants judge images alone."""
        return not self.cycle


VARIANTS: dict[str, VariantSpec] = {
    "base": VariantSpec("s2o", "residual"),
    "tcd": VariantSpec("s2o", "tcd"),
    "pmd": VariantSpec("s2o", "residual", branch="pmd"),
    "tcd_grad": VariantSpec("s2o", "tcd", branch="grad"),
    "rk2_pmd": VariantSpec("s2o", "rk2", branch="pmd"),
    "full": VariantSpec("s2o", "tcd", branch="pmd"),
    "pix2pix": VariantSpec("unet", cycle=False),
    "cyclegan": VariantSpec("s2o", "residual", n_blocks=9, reverse="cyclegan"),
}


def variant_spec(name: str) -> VariantSpec:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)}") from None


def check_context(variant: str, context_sigmas) -> None:
    """Raise ValueError unless ``context_sigmas`` (layers.ContextLooks) fits ``variant``."""
    if not context_sigmas:
        return
    if variant_spec(variant).generator == "unet":
        raise ValueError("context_sigmas applies to the S2O-NPDE generators, not the U-Net "
                         f"of {variant}")
    check_context_sigmas(tuple(context_sigmas))


def _generator(spec: VariantSpec, in_ch: int, out_ch: int, width: int, eps: float,
               context_sigmas: tuple = ()) -> nn.Module:
    if spec.generator == "unet":
        return UNetGenerator(in_ch, out_ch, width)
    return S2OGenerator(in_ch, out_ch, width, spec.block, spec.n_blocks, spec.branch, eps,
                        context_sigmas)


def build_generator(variant: str, in_channels: int, width: int, pmd_eps: float = 1e-6,
                    context_sigmas: tuple = ()) -> nn.Module:
    """The SAR -> optical generator of ``variant``: (B, in_channels, H, W) -> (B, 3, H, W) in
    [-1, 1]; ``forward(x, return_pmd=True)`` gives ``(optical, pmd_image or None)``. H and W must
    be multiples of ``generator.size_multiple``. ``width`` is the base channel count w,
    ``pmd_eps`` the PMD head's epsilon (Eq. 7), ``context_sigmas`` the widths in px of the
    multi-look context (layers.ContextLooks; empty: none, as in the paper)."""
    check_context(variant, context_sigmas)
    return _generator(variant_spec(variant), in_channels, OPTICAL_BANDS, width, pmd_eps,
                      tuple(context_sigmas))


def build_reverse_generator(
    variant: str, sar_channels: int, width: int, pmd_eps: float = 1e-6
) -> nn.Module:
    """The optical -> SAR generator of the cycle (see the module docstring): (B, 3, H, W) ->
    (B, sar_channels, H, W)."""
    reverse = VARIANTS[variant_spec(variant).reverse]
    return _generator(reverse, OPTICAL_BANDS, sar_channels, width, pmd_eps)


def build_discriminator(in_channels: int, width: int) -> PatchDiscriminator:
    """PatchGAN with ndf = 2 * width (64 at width 32, the pix2pix/CycleGAN default)."""
    return PatchDiscriminator(in_channels, ndf=2 * width)
