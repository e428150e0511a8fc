"""The CycleGAN framework around the S2O generator: one object owning both generators, both
discriminators, the image pools and the losses, plus the checkpoint format.

Networks (see training/nets/__init__.py for the variants):
  G = generators.s2o: SAR -> optical (the generator that is exported)
  F = generators.o2s: optical -> SAR (cycle variants only)
  D_opt = discriminators.optical: judges optical images (pix2pix: (SAR, optical) pairs)
  D_sar = discriminators.sar: judges SAR images (cycle variants only)

One training step (training/train.py) is
  out = generators(sar, optical)         one forward: G(x), G_PMD(x), F(G(x)), F(y), G(F(y))
  generator_loss(sar, optical, out)      Eq. (8), the discriminators frozen
  discriminator_loss(sar, optical, out, discriminators)   LSGAN, real vs pooled generated images

``Generators`` and ``Discriminators`` each do their whole pass in one ``forward`` so that each can
be wrapped in DistributedDataParallel as one module.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import torch
from torch import Tensor, nn

from training.config import TrainConfig
from training.losses import PerceptualLoss, l1, lsgan_loss, pde_losses
from training.nets import (
    OPTICAL_BANDS,
    build_discriminator,
    build_generator,
    build_reverse_generator,
    variant_spec,
)

# names of the logged losses, in the loss CSV's column order
LOSS_NAMES = ("g_total", "gan", "pix", "per", "cyc", "pde_tcd", "pde_pmd", "d_optical", "d_sar")


def loss_values(logged: dict) -> dict[str, float]:
    """The losses' values as floats: the loss methods return detached tensors so that a step
    does not wait for the device; this reads them all at once, on the steps that log."""
    names = list(logged)
    device = next((v.device for v in logged.values() if isinstance(v, Tensor)), None)
    values = torch.stack([torch.as_tensor(logged[n], dtype=torch.float32, device=device)
                          for n in names])
    return dict(zip(names, values.tolist(), strict=True))

# checkpoint format
CKPT_FORMAT = 1


class Generators(nn.Module):
    """G (SAR -> optical) and, for cycle variants, F (optical -> SAR)."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        self.s2o = build_generator(cfg)
        self.o2s = build_reverse_generator(cfg) if variant_spec(cfg.variant).cycle else None

    def forward(self, sar: Tensor, optical: Tensor) -> dict[str, Tensor | None]:
        """{"fake_optical": G(x), "side": G_PMD(x) or None} and, with a cycle,
        {"rec_sar": F(G(x)), "fake_sar": F(y), "rec_optical": G(F(y))}."""
        fake_optical, side = self.s2o(sar, return_pmd=True)
        out = {"fake_optical": fake_optical, "side": side}
        if self.o2s is not None:
            out["rec_sar"] = self.o2s(fake_optical)
            out["fake_sar"] = self.o2s(optical)
            out["rec_optical"] = self.s2o(out["fake_sar"])
        return out


class Discriminators(nn.Module):
    """D_opt and, for cycle variants, D_sar. pix2pix's D_opt is conditional: it judges the SAR
    image concatenated with the optical one."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        spec = variant_spec(cfg.variant)
        n_sar = len(cfg.bands)
        self.conditional = spec.conditional_discriminator
        self.optical = build_discriminator(OPTICAL_BANDS + (n_sar if self.conditional else 0), cfg)
        self.sar = build_discriminator(n_sar, cfg) if spec.cycle else None

    def forward(
        self, optical: Tensor, sar_images: Tensor | None, condition: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """Patch scores (D_opt(optical), D_sar(sar_images) or None); ``condition`` is the SAR
        input the optical images belong to (used by a conditional D_opt only)."""
        if self.conditional:
            optical = torch.cat([condition, optical], dim=1)
        scores_sar = self.sar(sar_images) if self.sar is not None else None
        return self.optical(optical), scores_sar


class ImagePool:
    """History of generated images shown to a discriminator (Shrivastava et al., as CycleGAN):
    until the pool holds ``size`` images each new image is stored and returned; then with
    probability 1/2 a random stored image is returned and replaced by the new one, else the new
    image is returned. Its random draws come from its own generator, saved in checkpoints."""

    def __init__(self, size: int, seed: int):
        self.size = size
        self.images: list[Tensor] = []
        self.rng = torch.Generator().manual_seed(seed)

    def query(self, images: Tensor) -> Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(1, generator=self.rng).item() < 0.5:
                k = int(torch.randint(len(self.images), (1,), generator=self.rng))
                out.append(self.images[k].to(image.device))
                self.images[k] = image
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        return {"images": [im.cpu() for im in self.images], "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.images = list(state["images"])
        self.rng.set_state(state["rng"])


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for param in module.parameters():
        param.requires_grad_(flag)


class S2OCycleGAN:
    """The four networks, two pools and the loss terms of one training configuration."""

    def __init__(self, cfg: TrainConfig, seed_offset: int = 0):
        self.cfg = cfg
        self.spec = variant_spec(cfg.variant)
        self.generators = Generators(cfg)
        self.discriminators = Discriminators(cfg)
        # built only when used: loading VGG fails loudly without its weights file
        self.perceptual = PerceptualLoss(cfg.vgg_weights) if cfg.lambda_per > 0 else None
        pool_size = cfg.pool_size if self.spec.cycle else 0
        self.pool_optical = ImagePool(pool_size, cfg.seed + 1000 + seed_offset)
        self.pool_sar = ImagePool(pool_size, cfg.seed + 2000 + seed_offset)
        # the moving average of G's weights (cfg.ema_decay > 0): what is sampled and exported
        self.ema = None
        if cfg.ema_decay > 0:
            self.ema = copy.deepcopy(self.generators.s2o).requires_grad_(False).eval()
        self.ema_updates = 0

    @property
    def exported_generator(self) -> nn.Module:
        """The SAR -> optical generator a checkpoint of this model exports: the average if kept."""
        return self.ema if self.ema is not None else self.generators.s2o

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema <- d ema + (1 - d) G after a generator step, with the usual warm-up
        d = min(ema_decay, (1 + n) / (10 + n)) so that early weights do not linger."""
        if self.ema is None:
            return
        decay = min(self.cfg.ema_decay, (1 + self.ema_updates) / (10 + self.ema_updates))
        self.ema_updates += 1
        for avg, new in zip(self.ema.parameters(), self.generators.s2o.parameters(), strict=True):
            avg.lerp_(new, 1.0 - decay)
        for avg, new in zip(self.ema.buffers(), self.generators.s2o.buffers(), strict=True):
            avg.copy_(new)

    @property
    def uses_gan(self) -> bool:
        return self.cfg.gan_weight > 0

    def to(self, device: torch.device) -> S2OCycleGAN:
        for net in (self.generators, self.discriminators, self.perceptual, self.ema):
            if net is not None:
                net.to(device)
        return self

    # -- losses -----------------------------------------------------------------------------
    def generator_loss(
        self, sar: Tensor, optical: Tensor, out: dict
    ) -> tuple[Tensor, dict[str, float]]:
        """Eq. (8): gan_weight L_GAN + l_pix L_pix + l_per L_per + l_cyc L_cyc + l_pde L_PDE.
        Terms with weight 0 (or that the variant lacks) are skipped and logged as 0."""
        cfg, fake = self.cfg, out["fake_optical"]
        zero = fake.new_zeros(())
        terms = dict.fromkeys(("gan", "pix", "per", "cyc", "pde_tcd", "pde_pmd"), zero)
        if self.uses_gan:
            scores_opt, scores_sar = self.discriminators(fake, out.get("fake_sar"), sar)
            terms["gan"] = lsgan_loss(scores_opt, True)
            if scores_sar is not None:
                terms["gan"] = terms["gan"] + lsgan_loss(scores_sar, True)
        terms["pix"] = l1(fake, optical)
        if self.perceptual is not None:
            terms["per"] = self.perceptual(fake, optical)
        if self.spec.cycle and cfg.lambda_cyc > 0:
            terms["cyc"] = l1(out["rec_sar"], sar) + l1(out["rec_optical"], optical)
        if self.spec.pde_loss and cfg.lambda_pde > 0:
            phi = self.generators.s2o.head
            terms["pde_tcd"], terms["pde_pmd"] = pde_losses(phi, optical, fake, out["side"])
        total = (
            cfg.gan_weight * terms["gan"]
            + cfg.lambda_pix * terms["pix"]
            + cfg.lambda_per * terms["per"]
            + cfg.lambda_cyc * terms["cyc"]
            + cfg.lambda_pde * (terms["pde_tcd"] + terms["pde_pmd"])
        )
        logged = {name: value.detach() for name, value in terms.items()}
        logged["g_total"] = total.detach()
        return total, logged

    def discriminator_loss(
        self, sar: Tensor, optical: Tensor, out: dict, discriminators: nn.Module
    ) -> tuple[Tensor, dict[str, float]]:
        """LSGAN: 1/2 [(D(real) - 1)^2 + D(fake)^2] per domain, fakes drawn through the pools.
        ``discriminators`` is ``self.discriminators`` or its DDP wrapper; real and generated
        images go through it in one batch (InstanceNorm keeps samples independent)."""
        fake_opt = self.pool_optical.query(out["fake_optical"].detach())
        opt_batch = torch.cat([optical, fake_opt])
        sar_batch = None
        if self.spec.cycle:
            sar_batch = torch.cat([sar, self.pool_sar.query(out["fake_sar"].detach())])
        scores_opt, scores_sar = discriminators(opt_batch, sar_batch, torch.cat([sar, sar]))
        real, fake = scores_opt.chunk(2)
        d_opt = 0.5 * (lsgan_loss(real, True) + lsgan_loss(fake, False))
        d_sar = torch.zeros_like(d_opt)
        if scores_sar is not None:
            real, fake = scores_sar.chunk(2)
            d_sar = 0.5 * (lsgan_loss(real, True) + lsgan_loss(fake, False))
        return d_opt + d_sar, {"d_optical": d_opt.detach(), "d_sar": d_sar.detach()}

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {
            "generators": self.generators.state_dict(),
            "discriminators": self.discriminators.state_dict(),
            "pools": {"optical": self.pool_optical.state_dict(), "sar": self.pool_sar.state_dict()},
        }
        if self.ema is not None:
            state["ema"] = {"weights": self.ema.state_dict(), "updates": self.ema_updates}
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generators.load_state_dict(state["generators"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"]["weights"])
            self.ema_updates = state["ema"]["updates"]
        self.discriminators.load_state_dict(state["discriminators"])
        self.pool_optical.load_state_dict(state["pools"]["optical"])
        self.pool_sar.load_state_dict(state["pools"]["sar"])


# -- checkpoints ----------------------------------------------------------------------------
def save_checkpoint(path: str | os.PathLike, checkpoint: dict) -> None:
    """Write atomically: to a temporary file beside ``path``, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if checkpoint.get("format") != CKPT_FORMAT:
        raise ValueError(f"{path} is not an s2o training checkpoint (format {CKPT_FORMAT})")
    return checkpoint


def exported_weights(checkpoint: dict) -> dict[str, Tensor]:
    """The state dict of the SAR -> optical generator a checkpoint exports: the moving average
    of its weights when the run kept one (``ema_decay``), else G's own weights."""
    model = checkpoint["model"]
    if "ema" in model:
        return dict(model["ema"]["weights"])
    prefix = "s2o."
    return {k[len(prefix) :]: v for k, v in model["generators"].items() if k.startswith(prefix)}


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> tuple[TrainConfig, nn.Module]:
    """(config, SAR -> optical generator in eval mode) of a checkpoint written by train.py."""
    checkpoint = read_checkpoint(path, map_location)
    cfg = TrainConfig.from_dict(checkpoint["config"])
    generator = build_generator(cfg)
    generator.load_state_dict(exported_weights(checkpoint))
    return cfg, generator.eval()


def average_checkpoints(paths, out: str | os.PathLike) -> Path:
    """Write a checkpoint whose generators' weights are the mean of those of ``paths`` (kept
    copies of one run; the generators have no normalisation statistics, so a weight average is
    a network of the same kind, as in stochastic weight averaging). It holds what
    load_checkpoint and the exporter read: format, the last copy's config, the generators."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("average_checkpoints needs at least one checkpoint")
    states = [exported_weights(read_checkpoint(p)) for p in paths]
    if any(s.keys() != states[0].keys() for s in states):
        raise ValueError(f"{paths} do not hold the same generators: cannot average them")
    mean = {k: (torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype)
                if v.is_floating_point() else v) for k, v in states[0].items()}
    last = read_checkpoint(paths[-1])
    save_checkpoint(out, {"format": CKPT_FORMAT, "config": last["config"],
                          "model": {"generators": {f"s2o.{k}": v for k, v in mean.items()}},
                          "averaged_from": [p.name for p in paths]})
    return Path(out)
