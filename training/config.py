"""Training configuration: one dataclass, saved into every checkpoint, with CLI overrides.

Every field is a command-line option of ``training/train.py`` (``--field-name VALUE``; booleans as
``--flag`` / ``--no-flag``; pairs as ``--betas 0.5,0.999``). Defaults follow the paper (Sec. 4.1):
Adam, lr 2e-4, betas (0.5, 0.999), batch 1, 200 epochs, linear decay to 0 from epoch 100, all loss
weights 10 (Eq. 8). ``width`` (base channel count) defaults to 32 so that the model trains on a
CPU; the 4 w = 128 channels of the residual blocks are half of CycleGAN's 256.
"""

from __future__ import annotations

import argparse
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields

from s2o_qgis_plugin.engine.metadata import DUAL_POL, INPUT_LAYOUTS
from s2o_qgis_plugin.engine.radiometry import DEFAULT_DB_RANGES, DEFAULT_DN_RANGE
from training.nets import VARIANTS, check_context

SAR_BAND_NAMES = DUAL_POL  # the order of sar_db_range's pairs


def _opt(default, doc: str):
    """A config field with its command-line help."""
    return field(default=default, metadata={"help": doc})


@dataclass
class TrainConfig:
    # -- model --------------------------------------------------------------------------------
    variant: str = _opt("full", f"architecture: {' | '.join(VARIANTS)} (training/nets)")
    in_bands: str = _opt("VV,VH", "SAR input bands: 'VV,VH' or 'VV'")
    width: int = _opt(32, "base channels w; the residual blocks use 4 w at 1/4 resolution")
    pmd_eps: float = _opt(1e-6, "epsilon of the PMD head's division, Eq. (7)")
    context_sigmas: tuple[float, ...] = _opt(
        (), "S2O-NPDE generators: Gaussian widths in px (multiples of 4, e.g. 8,16,32) of a "
        "multi-look SAR context added to the backbone at 1/4 resolution (training/nets/layers."
        "ContextLooks; empty, the default: the paper's generator)"
    )
    # -- data ---------------------------------------------------------------------------------
    data_kind: str = _opt("paired", "dataset kind: paired | sen12 | bigearthnet | sen12ms")
    data_root: str = _opt("data/ben", "dataset root folder")
    train_split: str = _opt("train", "split to train on")
    crop: int = _opt(0, "random crop size in px (0: whole samples, as in the paper)")
    augment: bool = _opt(True, "random crops and flips (drawn from seed, epoch, index)")
    rot90: bool = _opt(False, "with augment: also random quarter turns of square crops")
    sar_jitter_db: float = _opt(
        0.0, "with augment: add one random offset ~ N(0, this many dB) to every SAR band of a "
        "sample (robustness to calibration differences between sources; 0: off)"
    )
    sar_blur_px: float = _opt(
        0.0, "with augment: smooth every SAR band of a sample by a Gaussian of random width "
        "~ U(0, this many px) (robustness to speckle/resampling differences; 0: off)"
    )
    balance: bool = _opt(False, "repeat pairs so each dataset of MANIFEST.json weighs the same")
    sar_db_range: tuple[float, ...] = _opt(
        tuple(v for band in SAR_BAND_NAMES for v in DEFAULT_DB_RANGES[band]),
        "dB mapped to [-1, 1]: VV low,VV high,VH low,VH high"
    )
    optical_dn_range: tuple[float, float] = _opt(
        DEFAULT_DN_RANGE, "Sentinel-2 reflectance x 10000 mapped to [-1, 1]: low,high"
    )
    num_workers: int = _opt(0, "DataLoader worker processes")
    # -- optimisation -------------------------------------------------------------------------
    batch_size: int = _opt(1, "images per step (per process)")
    epochs: int = _opt(200, "training epochs")
    decay_start_epoch: int = _opt(100, "the lr decays linearly to 0 from this epoch to the end")
    lr: float = _opt(2e-4, "Adam learning rate of generators and discriminators")
    betas: tuple[float, float] = _opt((0.5, 0.999), "Adam betas")
    pool_size: int = _opt(50, "image pool of generated images shown to the discriminators")
    ema_decay: float = _opt(
        0.0, "keep an exponential moving average of G's weights with this decay per step "
        "(0: off); checkpoints then load, sample and export the average"
    )
    # -- losses, Eq. (8) ----------------------------------------------------------------------
    gan_weight: float = _opt(1.0, "weight of the adversarial loss (0: no discriminators)")
    lambda_pix: float = _opt(10.0, "weight of the L1 pixel loss")
    lambda_per: float = _opt(10.0, "weight of the VGG19 perceptual loss (0: off, no VGG needed)")
    lambda_cyc: float = _opt(10.0, "weight of the cycle-consistency loss")
    lambda_pde: float = _opt(10.0, "weight of the PDE loss L_TCD + L_PMD, Eq. (9)")
    lambda_corr: float = _opt(
        0.0, "weight of the correlation loss 1 - Pearson r(G(x), y) per image and channel "
        "(not in the paper; 0: off)"
    )
    vgg_weights: str = _opt("", "torchvision's vgg19-dcbb9e9d.pth (default: torch hub cache)")
    # -- run ----------------------------------------------------------------------------------
    seed: int = _opt(0, "seed of weights, data order, augmentation and image pools")
    out_dir: str = _opt("runs/s2o", "folder of checkpoint, losses and sample images")
    device: str = _opt("auto", "auto | cpu | cuda | cuda:N")
    amp: bool = _opt(False, "mixed precision (CUDA only)")
    max_steps: int = _opt(0, "stop after this many optimisation steps in all (0: no cap)")
    max_minutes: float = _opt(0.0, "stop after this many minutes of this process (0: no cap)")
    log_every: int = _opt(10, "steps between rows of the loss CSV")
    save_every: int = _opt(500, "steps between checkpoints (also saved at every epoch end)")
    keep_every: int = _opt(0, "also keep a copy checkpoint_epochNNN.pt every N epochs (0: none)")

    @property
    def bands(self) -> tuple[str, ...]:
        return tuple(b.strip() for b in self.in_bands.split(",") if b.strip())

    @property
    def db_ranges(self) -> dict[str, tuple[float, float]]:
        """{band: (low dB, high dB)} for the input bands."""
        lows, highs = self.sar_db_range[0::2], self.sar_db_range[1::2]
        pairs = dict(zip(SAR_BAND_NAMES, zip(lows, highs, strict=True), strict=True))
        return {band: pairs[band] for band in self.bands}

    def validate(self) -> TrainConfig:
        """Raise ValueError on the first inconsistent field; return self otherwise."""
        if self.variant not in VARIANTS:
            raise ValueError(
                f"unknown variant {self.variant!r}; choose one of {', '.join(VARIANTS)}"
            )
        if self.bands not in INPUT_LAYOUTS:
            raise ValueError(f"in_bands must be 'VV,VH' or 'VV', got {self.in_bands!r}")
        if len(self.sar_db_range) != 2 * len(SAR_BAND_NAMES):
            raise ValueError("sar_db_range needs 4 numbers: VV low, VV high, VH low, VH high")
        for name, (lo, hi) in [*self.db_ranges.items(), ("optical", self.optical_dn_range)]:
            if not lo < hi:
                raise ValueError(f"range of {name} must be (low, high), got ({lo}, {hi})")
        if self.decay_start_epoch < 0:
            raise ValueError("decay_start_epoch must be >= 0 (>= epochs: no decay)")
        if self.sar_jitter_db < 0:
            raise ValueError(f"sar_jitter_db must be >= 0, got {self.sar_jitter_db}")
        if self.sar_blur_px < 0:
            raise ValueError(f"sar_blur_px must be >= 0, got {self.sar_blur_px}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        check_context(self.variant, self.context_sigmas)
        if self.batch_size < 1 or self.width < 1 or self.epochs < 1:
            raise ValueError("batch_size, width and epochs must be positive")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Rebuild from ``to_dict`` (e.g. a checkpoint's); unknown keys are an error."""
        hints = typing.get_type_hints(cls)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        values = {k: tuple(v) if _is_tuple(hints[k]) else v for k, v in data.items()}
        return cls(**values)


def _is_tuple(tp) -> bool:
    return typing.get_origin(tp) is tuple


def _tuple_parser(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())  # "": the empty tuple


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field. Options default to SUPPRESS, so the parsed namespace
    holds only the options given (overrides of the defaults or of a resumed checkpoint)."""
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        tp = hints[f.name]
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        kwargs: dict = {"dest": f.name, "default": argparse.SUPPRESS}
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif _is_tuple(tp):
            kwargs.update(type=_tuple_parser, metavar="X,Y[,...]")
        else:
            kwargs["type"] = tp
        if f.name == "variant":
            kwargs["choices"] = list(VARIANTS)
        parser.add_argument(flag, help=f"{f.metadata['help']} (default: {default})", **kwargs)


def config_from_namespace(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (default: TrainConfig()) with the fields given in ``args`` replaced."""
    values = (base or TrainConfig()).to_dict()
    names = {f.name for f in fields(TrainConfig)}
    values.update({k: v for k, v in vars(args).items() if k in names})
    return TrainConfig.from_dict(values).validate()
