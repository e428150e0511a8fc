"""The CycleGAN framework around the S2O generator: one object owning both generators, both
discriminators, the image pools, the losses and, once set up for training, the optimisers and
the optimisation step. The checkpoint format lives in training/checkpoint.py (its functions are
re-exported here).

Networks (see training/nets/__init__.py for the variants):
  G = generators.s2o: SAR -> optical (the generator that is exported)
  F = generators.o2s: optical -> SAR (cycle variants only)
  D_opt = discriminators.optical: judges optical images (pix2pix: (SAR, optical) pairs)
  D_sar = discriminators.sar: judges SAR images (cycle variants only)

One training step (``S2OCycleGAN.train_step``, CycleGAN's ``optimize_parameters``) is
  out = generators(sar, optical)         one forward: G(x), G_PMD(x), F(G(x)), F(y), G(F(y))
  generator_loss(sar, optical, out)      Eq. (8), the discriminators frozen; G and F updated
  update_ema()                           the moving average of G (``ema_decay`` > 0)
  discriminator_loss(sar, optical, out, discriminators)   LSGAN, real vs pooled generated images

``Generators`` and ``Discriminators`` each do their whole pass in one ``forward`` so that each can
be wrapped in DistributedDataParallel as one module.
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import Tensor, nn

from training.checkpoint import (  # noqa: F401  (re-exported: scripts import them from here)
    CKPT_FORMAT,
    average_checkpoints,
    exported_weights,
    load_checkpoint,
    load_generator,
    read_checkpoint,
    save_checkpoint,
)
from training.config import TrainConfig
from training.losses import PerceptualLoss, correlation_loss, l1, lsgan_loss, pde_losses
from training.nets import (
    OPTICAL_BANDS,
    build_discriminator,
    build_generator,
    build_reverse_generator,
    variant_spec,
)

# names of the logged losses, in the loss CSV's column order
LOSS_NAMES = (
    "g_total", "gan", "pix", "per", "cyc", "pde_tcd", "pde_pmd", "d_optical", "d_sar", "corr"
)  # fmt: skip


def loss_values(logged: dict) -> dict[str, float]:
    """The losses' values as floats: the loss methods return detached tensors so that a step
    does not wait for the device; this reads them all at once, on the steps that log."""
    names = list(logged)
    device = next((v.device for v in logged.values() if isinstance(v, Tensor)), None)
    values = torch.stack(
        [torch.as_tensor(logged[n], dtype=torch.float32, device=device) for n in names]
    )
    return dict(zip(names, values.tolist(), strict=True))


def lr_factor(epoch: int, cfg: TrainConfig) -> float:
    """1 until decay_start_epoch, then linear to 0 at the end of the last epoch:
    f(e) = min(1, (epochs - e) / (epochs - decay_start_epoch))."""
    if epoch < cfg.decay_start_epoch or cfg.decay_start_epoch >= cfg.epochs:  # no decay
        return 1.0
    return max(0.0, (cfg.epochs - epoch) / (cfg.epochs - cfg.decay_start_epoch))


class Generators(nn.Module):
    """G (SAR -> optical) and, for cycle variants, F (optical -> SAR)."""

    def __init__(self, cfg: TrainConfig):
        super().__init__()
        n_sar = len(cfg.bands)
        self.s2o = build_generator(cfg.variant, n_sar, cfg.width, cfg.pmd_eps,
                                   cfg.context_sigmas)
        self.o2s = None
        if variant_spec(cfg.variant).cycle:
            self.o2s = build_reverse_generator(cfg.variant, n_sar, cfg.width, cfg.pmd_eps)

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
        n_optical = OPTICAL_BANDS + (n_sar if self.conditional else 0)
        self.optical = build_discriminator(n_optical, cfg.width)
        self.sar = build_discriminator(n_sar, cfg.width) if spec.cycle else None

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
        # set by setup_training: optimisers, lr schedulers, grad scalers (each {"g", "d"}), and
        # the modules a step runs (the networks, or their DDP wrappers after distribute())
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.amp = False
        self.runners: dict[str, nn.Module] = {"g": self.generators, "d": self.discriminators}

    @property
    def exported_generator(self) -> nn.Module:
        """The SAR -> optical generator a checkpoint of this model exports: the average if kept."""
        return self.ema if self.ema is not None else self.generators.s2o

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema <- d ema + (1 - d) G after a generator step, with the usual warm-up
        d = min(ema_decay, (1 + n) / (10 + n)) so that early weights do not linger. Buffers
        (the PMD head's fixed difference kernels) never change: the copy made at start holds."""
        if self.ema is None:
            return
        decay = min(self.cfg.ema_decay, (1 + self.ema_updates) / (10 + self.ema_updates))
        self.ema_updates += 1
        for avg, new in zip(self.ema.parameters(), self.generators.s2o.parameters(), strict=True):
            avg.lerp_(new, 1.0 - decay)

    @property
    def uses_gan(self) -> bool:
        return self.cfg.gan_weight > 0

    def to(self, device: torch.device) -> S2OCycleGAN:
        for net in (self.generators, self.discriminators, self.perceptual, self.ema):
            if net is not None:
                net.to(device)
        return self

    # -- optimisation ------------------------------------------------------------------------
    def setup_training(self, amp: bool = False) -> S2OCycleGAN:
        """Adam for the generators and for the discriminators (lr, betas of the config), their
        linear-decay schedules (lr_factor, stepped by end_epoch) and gradient scalers (``amp``:
        float16 autocast, CUDA only). Call after ``to(device)``."""
        cfg = self.cfg
        self.amp = amp
        self.optimizers = {
            "g": torch.optim.Adam(self.generators.parameters(), lr=cfg.lr, betas=cfg.betas),
            "d": torch.optim.Adam(self.discriminators.parameters(), lr=cfg.lr, betas=cfg.betas),
        }
        self.schedulers = {
            k: torch.optim.lr_scheduler.LambdaLR(opt, lambda e: lr_factor(e, cfg))
            for k, opt in self.optimizers.items()
        }
        self.scalers = {k: torch.amp.GradScaler("cuda", enabled=amp) for k in self.optimizers}
        return self

    def distribute(self) -> None:
        """Run the steps through DistributedDataParallel (one module per optimiser); the frozen
        discriminators inside the generator loss stay unwrapped."""
        from torch.nn.parallel import DistributedDataParallel

        self.runners = {
            "g": DistributedDataParallel(
                self.generators, find_unused_parameters=True, broadcast_buffers=False
            ),
            "d": DistributedDataParallel(self.discriminators, broadcast_buffers=False),
        }

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.float16) if self.amp else contextlib.nullcontext()

    def _update(self, key: str, loss: Tensor) -> None:
        """One optimiser step of ``key`` ("g" or "d") on ``loss``, through its grad scaler."""
        optimizer, scaler = self.optimizers[key], self.scalers[key]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def train_step(self, sar: Tensor, optical: Tensor) -> dict[str, Tensor | float]:
        """One optimisation step (CycleGAN's optimize_parameters): the generator pass, the
        generator update (Eq. 8, discriminators frozen), the moving average, then the
        discriminator update on real vs pooled generated images. Returns the logged losses
        (detached tensors, ``loss_values`` reads them; d_* are 0.0 without a GAN loss)."""
        with self.autocast():  # G(x), G_PMD(x) and, with a cycle, F(G(x)), F(y), G(F(y))
            out = self.runners["g"](sar, optical)
        set_requires_grad(self.discriminators, False)
        with self.autocast():
            g_loss, logs = self.generator_loss(sar, optical, out)
        self._update("g", g_loss)
        self.update_ema()
        logs.update(d_optical=0.0, d_sar=0.0)
        if self.uses_gan:
            set_requires_grad(self.discriminators, True)
            with self.autocast():
                d_loss, d_logs = self.discriminator_loss(sar, optical, out, self.runners["d"])
            self._update("d", d_loss)
            logs.update(d_logs)
        return logs

    def end_epoch(self) -> None:
        """The learning-rate schedules' step at the end of an epoch."""
        for scheduler in self.schedulers.values():
            scheduler.step()

    @property
    def lr(self) -> float:
        return self.optimizers["g"].param_groups[0]["lr"]

    def optimisation_state_dict(self) -> dict:
        """{"optimizers", "schedulers", "scalers"}: each {"g": state, "d": state}."""
        return {
            name: {k: obj.state_dict() for k, obj in group.items()}
            for name, group in (
                ("optimizers", self.optimizers),
                ("schedulers", self.schedulers),
                ("scalers", self.scalers),
            )
        }

    def load_optimisation_state_dict(self, state: dict) -> None:
        for name, group in (
            ("optimizers", self.optimizers),
            ("schedulers", self.schedulers),
            ("scalers", self.scalers),
        ):
            for k, obj in group.items():
                obj.load_state_dict(state[name][k])

    # -- losses -----------------------------------------------------------------------------
    def generator_loss(
        self, sar: Tensor, optical: Tensor, out: dict
    ) -> tuple[Tensor, dict[str, float]]:
        """Eq. (8): gan_weight L_GAN + l_pix L_pix + l_per L_per + l_cyc L_cyc + l_pde L_PDE
        (+ l_corr L_corr, not in the paper).
        Terms with weight 0 (or that the variant lacks) are skipped and logged as 0."""
        cfg, fake = self.cfg, out["fake_optical"]
        zero = fake.new_zeros(())
        terms = dict.fromkeys(("gan", "pix", "per", "cyc", "pde_tcd", "pde_pmd", "corr"), zero)
        if self.uses_gan:
            scores_opt, scores_sar = self.discriminators(fake, out.get("fake_sar"), sar)
            terms["gan"] = lsgan_loss(scores_opt, True)
            if scores_sar is not None:
                terms["gan"] = terms["gan"] + lsgan_loss(scores_sar, True)
        terms["pix"] = l1(fake, optical)
        if cfg.lambda_corr > 0:
            terms["corr"] = correlation_loss(fake, optical)
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
            + cfg.lambda_corr * terms["corr"]
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
