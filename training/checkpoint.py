"""The s2o training checkpoint: its format, writing, reading, resuming and the generator in it.

A checkpoint (format 1) is one ``torch.save``d dict, read with ``weights_only=True``:

  format        CKPT_FORMAT
  config        the run's TrainConfig.to_dict()
  model_spec    ModelSpec.to_dict(): what builds and describes the exported generator (variant,
                bands, width, PMD epsilon, dB and DN ranges), as nanoGPT's ``model_args``.
                Checkpoints written before it existed derive it from ``config``.
  model         S2OCycleGAN.state_dict(): generators, discriminators, pools and, with
                ``ema_decay``, {"ema": {"weights", "updates"}} (the average G exported)
  -- a training checkpoint (train.py) also holds, to resume exactly:
  optimizers, schedulers, scalers   {"g": ..., "d": ...} state dicts
  rank_pools    each rank's image pools (DDP runs; [] in one process)
  rng           Python, numpy, torch (and CUDA) RNG states
  progress      {"step", "epoch", "batch"}
  -- an average of kept copies (average_checkpoints) holds format, config, model_spec,
  model = {"generators": {"s2o.*": mean weights}} and averaged_from.

Exporting needs only :func:`load_generator`: the generator in eval mode and its ModelSpec.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from s2o_qgis_plugin.engine.atomic import replacing
from training.config import TrainConfig
from training.nets import build_generator

CKPT_FORMAT = 1


@dataclass(frozen=True)
class ModelSpec:
    """The exported generator's architecture and radiometry: all that export needs."""

    variant: str
    bands: tuple[str, ...]  # SAR input bands, in input channel order
    width: int
    pmd_eps: float
    db_ranges: tuple[tuple[float, float], ...]  # per band: dB mapped to [-1, 1]
    optical_dn_range: tuple[float, float]  # Sentinel-2 reflectance x 10000 mapped to [-1, 1]
    context_sigmas: tuple[float, ...] = ()  # multi-look context (empty in older checkpoints)

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> ModelSpec:
        return cls(
            variant=cfg.variant,
            bands=tuple(cfg.bands),
            width=int(cfg.width),
            pmd_eps=float(cfg.pmd_eps),
            db_ranges=tuple(tuple(float(v) for v in cfg.db_ranges[b]) for b in cfg.bands),
            optical_dn_range=tuple(float(v) for v in cfg.optical_dn_range),
            context_sigmas=tuple(float(v) for v in cfg.context_sigmas),
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        return cls(
            variant=str(data["variant"]),
            bands=tuple(data["bands"]),
            width=int(data["width"]),
            pmd_eps=float(data["pmd_eps"]),
            db_ranges=tuple(tuple(float(v) for v in r) for r in data["db_ranges"]),
            optical_dn_range=tuple(float(v) for v in data["optical_dn_range"]),
            context_sigmas=tuple(float(v) for v in data.get("context_sigmas", ())),
        )

    def build_generator(self) -> nn.Module:
        """A freshly initialised generator of this architecture."""
        return build_generator(self.variant, len(self.bands), self.width, self.pmd_eps,
                               self.context_sigmas)


@dataclass
class Progress:
    """Where a run is: optimisation steps done, epochs done, batches done in this epoch."""

    step: int = 0
    epoch: int = 0
    batch: int = 0

    def to_dict(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "batch": self.batch}


# -- files ------------------------------------------------------------------------------------
def save_checkpoint(path: str | os.PathLike, checkpoint: dict) -> None:
    """Write atomically (engine.atomic.replacing: a temporary file beside ``path``, renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        torch.save(checkpoint, tmp)


def read_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CKPT_FORMAT:
        raise ValueError(f"{path} is not an s2o training checkpoint (format {CKPT_FORMAT})")
    return checkpoint


def model_spec(checkpoint: dict) -> ModelSpec:
    """The checkpoint's ModelSpec: its own section, or derived from its config (older files)."""
    if "model_spec" in checkpoint:
        return ModelSpec.from_dict(checkpoint["model_spec"])
    return ModelSpec.from_config(TrainConfig.from_dict(checkpoint["config"]))


def exported_weights(checkpoint: dict) -> dict[str, Tensor]:
    """The state dict of the SAR -> optical generator a checkpoint exports: the moving average
    of its weights when the run kept one (``ema_decay``), else G's own weights."""
    model = checkpoint["model"]
    if "ema" in model:
        return dict(model["ema"]["weights"])
    prefix = "s2o."
    return {k[len(prefix) :]: v for k, v in model["generators"].items() if k.startswith(prefix)}


def generator_of(checkpoint: dict) -> tuple[nn.Module, ModelSpec]:
    """(SAR -> optical generator in eval mode, its ModelSpec) of a checkpoint already read."""
    spec = model_spec(checkpoint)
    generator = spec.build_generator()
    generator.load_state_dict(exported_weights(checkpoint))
    return generator.eval(), spec


def load_generator(path: str | os.PathLike, map_location="cpu") -> tuple[nn.Module, ModelSpec]:
    """(SAR -> optical generator in eval mode, its ModelSpec) of a checkpoint file: what export
    needs, without the training configuration."""
    return generator_of(read_checkpoint(path, map_location))


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> tuple[TrainConfig, nn.Module]:
    """(config, SAR -> optical generator in eval mode) of a checkpoint written by train.py; for
    evaluation, which also needs the run's data settings."""
    checkpoint = read_checkpoint(path, map_location)
    return TrainConfig.from_dict(checkpoint["config"]), generator_of(checkpoint)[0]


# -- writing ----------------------------------------------------------------------------------
def model_checkpoint(cfg: TrainConfig, model_state: dict) -> dict:
    """The sections every checkpoint has: format, config, model_spec, model."""
    return {
        "format": CKPT_FORMAT,
        "config": cfg.to_dict(),
        "model_spec": ModelSpec.from_config(cfg).to_dict(),
        "model": model_state,
    }


def save_model_checkpoint(path: str | os.PathLike, cfg: TrainConfig, model=None) -> Path:
    """Write a checkpoint of ``model`` (an S2OCycleGAN; default: a freshly initialised one of
    ``cfg``, weights from torch's global RNG) without training state: what load_generator,
    evaluation and export read. Tests and benchmarks make their checkpoints with it."""
    if model is None:
        from training.cyclegan import S2OCycleGAN

        model = S2OCycleGAN(cfg)
    save_checkpoint(path, model_checkpoint(cfg, model.state_dict()))
    return Path(path)


def training_checkpoint(cfg: TrainConfig, model, progress: Progress, rank_pools=()) -> dict:
    """Everything train.py needs to continue exactly: the model, its optimisation state
    (S2OCycleGAN.optimisation_state_dict), every rank's pools, the RNG states, the progress."""
    return {
        **model_checkpoint(cfg, model.state_dict()),
        "rank_pools": list(rank_pools),
        **model.optimisation_state_dict(),
        "rng": rng_state(),
        "progress": progress.to_dict(),
    }


def resume_training(checkpoint: dict, model, rank: int = 0, world: int = 1) -> Progress:
    """Restore a training checkpoint into ``model`` (its optimisers set up) and the global RNGs;
    this rank's own pools when the checkpoint has one per rank. Returns the progress."""
    model.load_state_dict(checkpoint["model"])
    if world > 1 and len(checkpoint.get("rank_pools", [])) == world:
        pools = checkpoint["rank_pools"][rank]
        model.pool_optical.load_state_dict(pools["optical"])
        model.pool_sar.load_state_dict(pools["sar"])
    model.load_optimisation_state_dict(checkpoint)
    set_rng_state(checkpoint["rng"])
    return Progress(**{k: checkpoint["progress"][k] for k in ("step", "epoch", "batch")})


def average_checkpoints(paths, out: str | os.PathLike) -> Path:
    """Write a checkpoint whose generators' weights are the mean of those of ``paths`` (kept
    copies of one run; the generators have no normalisation statistics, so a weight average is
    a network of the same kind, as in stochastic weight averaging). It holds what
    load_checkpoint and the exporter read: format, the last copy's config and model spec, the
    generators."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("average_checkpoints needs at least one checkpoint")
    checkpoints = [read_checkpoint(p) for p in paths]
    states = [exported_weights(c) for c in checkpoints]
    if any(s.keys() != states[0].keys() for s in states):
        raise ValueError(f"{paths} do not hold the same generators: cannot average them")
    mean = {
        k: (
            torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype)
            if v.is_floating_point()
            else v
        )
        for k, v in states[0].items()
    }
    last = checkpoints[-1]
    save_checkpoint(
        out,
        {
            "format": CKPT_FORMAT,
            "config": last["config"],
            "model_spec": model_spec(last).to_dict(),
            "model": {"generators": {f"s2o.{k}": v for k, v in mean.items()}},
            "averaged_from": [p.name for p in paths],
        },
    )
    return Path(out)


# -- random number generators ------------------------------------------------------------------
def rng_state() -> dict:
    """Python, numpy and torch RNG states, in types torch.load(weights_only=True) accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, keys.tolist(), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
