"""Train S2O-NPDE (or an ablation / baseline) on SAR-optical pairs.

    python training/train.py --data-root data/ben --width 16 --lambda-per 0
    python training/train.py --config training/configs/s2o_dual.json   # a shipped model's recipe
    python training/train.py --resume runs/s2o/checkpoint.pt      # continue exactly
    python -m torch.distributed.run --nproc_per_node 2 training/train.py ...   # DDP (gloo on CPU)

Every TrainConfig field is an option (``--help``). Outputs in ``--out-dir``:
  checkpoint.pt        the latest checkpoint (config, nets, optimizers, schedulers, pools, RNG,
                       progress), written atomically every ``save_every`` steps and every epoch
  config.json          the run's configuration
  losses.csv           one row every ``log_every`` steps: step, epoch, lr and every loss term
  losses.png           the loss curves, redrawn every epoch
  samples/epoch_NNN.png  SAR | PMD image | generated | real optical, for a few fixed samples

Reproducibility: the data order of an epoch is a permutation drawn from (seed, epoch)
(DistributedSampler), augmentation from (seed, epoch, index) (training.data), the image pools
draw from their own generators, and torch runs deterministic algorithms. A run stopped at any
step (``--max-steps`` or SIGKILL) and resumed from its last checkpoint writes the same loss rows
as an uninterrupted run (single process). Rows a killed run wrote after its last checkpoint are
dropped on resume.
"""

# ruff: noqa: E402  (imports follow the sys.path set-up for plain-script runs)
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script: python training/train.py
    sys.path.insert(0, str(ROOT))

import argparse
import csv
import json
import os
import random
import shutil
import time
import warnings
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
# Debian's system matplotlib next to the venv's can miss mplot3d; no 3-D plots are drawn here
warnings.filterwarnings("ignore", message="Unable to import Axes3D")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from s2o_qgis_plugin.engine.atomic import replacing
from training.checkpoint import (
    Progress,
    read_checkpoint,
    resume_training,
    save_checkpoint,
    training_checkpoint,
)
from training.config import TrainConfig, add_config_arguments, config_from_namespace
from training.cyclegan import LOSS_NAMES, S2OCycleGAN, loss_values, lr_factor  # noqa: F401
from training.data import make_dataset
from training.losses import VGGWeightsNotFoundError

CHECKPOINT = "checkpoint.pt"
LOSS_CSV = "losses.csv"
LOSS_PNG = "losses.png"
CONFIG_JSON = "config.json"
SAMPLES_DIR = "samples"
CSV_COLUMNS = ("step", "epoch", "lr", *LOSS_NAMES)
N_SAMPLES = 4


# ---------------------------------------------------------------------------------------------
# set-up


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train S2O-NPDE (CycleGAN framework) on SAR-optical pairs.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="auto",
        metavar="CHECKPOINT",
        help="continue from CHECKPOINT (without a value: OUT_DIR/checkpoint.pt); its config is "
        "used, with the options given on this command line overriding it",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="JSON",
        help="start from this configuration (a config.json of a run, or training/configs/*.json); "
        "options given on this command line override it",
    )
    add_config_arguments(parser)
    return parser.parse_args(argv)


def configure(args: argparse.Namespace) -> tuple[TrainConfig, dict | None]:
    """(config, checkpoint to resume or None): fresh, from --config, or the checkpoint's, each
    with the command line's options overriding it. Exits with the reason on a bad config."""
    checkpoint, base = None, None
    if args.resume:
        out_dir = Path(getattr(args, "out_dir", TrainConfig.out_dir))
        path = out_dir / CHECKPOINT if args.resume == "auto" else Path(args.resume)
        checkpoint = read_checkpoint(path)
        base = TrainConfig.from_dict(checkpoint["config"])
    elif args.config:
        try:
            base = TrainConfig.from_dict(json.loads(args.config.read_text()))
        except (OSError, ValueError) as err:
            sys.exit(f"train.py: error: --config {args.config}: {err}")
    try:
        return config_from_namespace(args, base), checkpoint
    except ValueError as err:
        sys.exit(f"train.py: error: {err}")


def pick_device(option: str, local_rank: int) -> torch.device:
    if option == "auto":
        option = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif option == "cuda":
        option = f"cuda:{local_rank}"
    return torch.device(option)


@dataclass
class Processes:
    """This process's place in the run (torchrun sets WORLD_SIZE, RANK, LOCAL_RANK)."""

    world: int
    rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def start(cls, device_option: str) -> Processes:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        device = pick_device(device_option, int(os.environ.get("LOCAL_RANK", "0")))
        if world > 1:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        return cls(world, dist.get_rank() if world > 1 else 0, device)


def seed_everything(seed: int) -> None:
    """The same initial weights on every rank; deterministic algorithms."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def epoch_indices(n: int, cfg: TrainConfig, epoch: int, rank: int, world: int) -> list[int]:
    """This rank's sample order of an epoch: a permutation drawn from (seed, epoch)."""
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, seed=cfg.seed)
    sampler.set_epoch(epoch)
    return list(sampler)


def training_data(cfg: TrainConfig, procs: Processes):
    """(training set, the fixed samples of the sample grids, steps per epoch)."""
    options = dict(
        in_bands=cfg.bands,
        crop=cfg.crop or None,
        seed=cfg.seed,
        sar_db_range=cfg.sar_db_range,
        optical_dn_range=cfg.optical_dn_range,
    )
    dataset = make_dataset(
        cfg.data_kind,
        cfg.data_root,
        cfg.train_split,
        augment=cfg.augment,
        rot90=cfg.rot90,
        sar_jitter_db=cfg.sar_jitter_db,
        sar_blur_px=cfg.sar_blur_px,
        balance=cfg.balance,
        **options,
    )
    shown = make_dataset(cfg.data_kind, cfg.data_root, cfg.train_split, augment=False, **options)
    samples = [shown[i] for i in range(min(N_SAMPLES, len(shown)))]
    n = len(epoch_indices(len(dataset), cfg, 0, procs.rank, procs.world))
    steps_per_epoch = n // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(dataset)} samples give no full batch of {cfg.batch_size}")
    return dataset, samples, steps_per_epoch


def epoch_loader(dataset, cfg: TrainConfig, progress: Progress, steps: int, procs: Processes):
    """The batches of the current epoch still to do: order from (seed, epoch), a resumed run
    skips the batches done."""
    dataset.set_epoch(progress.epoch)
    order = epoch_indices(len(dataset), cfg, progress.epoch, procs.rank, procs.world)
    order = order[progress.batch * cfg.batch_size : steps * cfg.batch_size]
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=order,
        num_workers=cfg.num_workers,
        drop_last=True,
        generator=torch.Generator().manual_seed(cfg.seed * 100003 + progress.epoch),
    )


# ---------------------------------------------------------------------------------------------
# outputs


def to_image(t: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H, W, 3) or (H, W) in [0, 1] for matplotlib."""
    a = ((t.detach().float().cpu().clamp(-1, 1) + 1) / 2).numpy()
    return a.transpose(1, 2, 0) if a.shape[0] == 3 else a[0]


FLAT_SIDE = 1e-4  # a side output whose mean |phi maps| varies less than this is shown as flat


def pmd_panel(side: torch.Tensor | None) -> np.ndarray | str:
    """The PMD image side output as grey: mean |phi maps| scaled to its 99th percentile; or what
    to write instead: no PMD module, or a side output without structure (the L1 PDE loss on
    sparse derivative maps is also minimised by predicting about zero everywhere, and a
    percentile-scaled constant would show as a blank white panel)."""
    if side is None:
        return "no PMD module"
    mag = side.detach().float().abs().mean(dim=0).cpu().numpy()
    top = float(np.percentile(mag, 99))
    if top - float(mag.min()) < FLAT_SIDE:
        return f"PMD side output flat\n(|phi| about {top:.1e} everywhere)"
    return np.clip(mag / top, 0, 1)


def save_sample_grid(path: Path, generator: torch.nn.Module, samples: list, device) -> None:
    """One row per sample: SAR (VV) | PMD image | generated | real optical."""
    titles = ("SAR (VV)", "PMD image", "generated", "real optical")
    fig, axes = plt.subplots(len(samples), 4, figsize=(12, 3 * len(samples)), squeeze=False)
    generator.eval()
    with torch.no_grad():
        for row, sample in zip(axes, samples, strict=True):
            fake, side = generator(sample["sar"][None].to(device), return_pmd=True)
            panels = (to_image(sample["sar"][:1]), pmd_panel(None if side is None else side[0]),
                      to_image(fake[0]), to_image(sample["optical"]))  # fmt: skip
            for ax, panel, title in zip(row, panels, titles, strict=True):
                if isinstance(panel, str):
                    ax.text(0.5, 0.5, panel, ha="center", va="center")
                else:
                    ax.imshow(panel, cmap="gray", vmin=0, vmax=1)
                ax.set_title(f"{title}\n{sample['id']}" if title == titles[0] else title,
                             fontsize=8)
                ax.axis("off")
    generator.train()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_losses(csv_path: Path, png_path: Path) -> None:
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    fig, (ax_g, ax_d) = plt.subplots(1, 2, figsize=(12, 4))
    for name in LOSS_NAMES:
        values = [float(r.get(name) or 0) for r in rows]  # older runs lack later columns
        if any(values):
            (ax_d if name.startswith("d_") else ax_g).plot(steps, values, label=name)
    for ax, title in ((ax_g, "generator"), (ax_d, "discriminators")):
        ax.set_title(title)
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=80)
    plt.close(fig)


def open_loss_log(path: Path, resume_step: int | None):
    """The loss CSV for appending: new (header only) for a fresh run; on resume, the rows up to
    the checkpoint's step kept and later rows (written after it by a killed run) dropped."""
    kept = []
    if resume_step is not None and path.exists():
        with open(path, newline="") as f:
            kept = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
    with replacing(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS, restval="0")  # older runs lack later columns
        writer.writeheader()
        writer.writerows(kept)
    return open(path, "a", newline="")


class RunOutputs:
    """What rank 0 writes beside the checkpoint: config.json, the loss CSV and curves, samples."""

    def __init__(self, cfg: TrainConfig, resume_step: int | None):
        self.out_dir = Path(cfg.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / CONFIG_JSON).write_text(json.dumps(cfg.to_dict(), indent=1))
        self.log = open_loss_log(self.out_dir / LOSS_CSV, resume_step)
        self.writer = csv.DictWriter(self.log, CSV_COLUMNS)

    def log_losses(self, progress: Progress, lr: float, logs: dict) -> dict[str, float]:
        values = loss_values(logs)  # the only device sync for the losses
        self.writer.writerow({"step": progress.step, "epoch": progress.epoch, "lr": lr, **values})
        self.log.flush()
        return values

    def end_epoch(self, epoch: int, generator, samples: list, device, keep_every: int) -> None:
        if keep_every and epoch % keep_every == 0:  # kept copies, for model selection
            shutil.copyfile(
                self.out_dir / CHECKPOINT, self.out_dir / f"checkpoint_epoch{epoch:03d}.pt"
            )
        save_sample_grid(
            self.out_dir / SAMPLES_DIR / f"epoch_{epoch:03d}.png", generator, samples, device
        )
        plot_losses(self.out_dir / LOSS_CSV, self.out_dir / LOSS_PNG)

    def close(self) -> None:
        self.log.close()
        plot_losses(self.out_dir / LOSS_CSV, self.out_dir / LOSS_PNG)


# ---------------------------------------------------------------------------------------------
# the run


class Run:
    """One training run in this process: model, data, progress, checkpoints and outputs."""

    def __init__(self, cfg: TrainConfig, checkpoint: dict | None):
        self.cfg, self.procs = cfg, Processes.start(cfg.device)
        seed_everything(cfg.seed)
        self.dataset, self.samples, self.steps_per_epoch = training_data(cfg, self.procs)
        try:
            model = S2OCycleGAN(cfg, seed_offset=self.procs.rank).to(self.procs.device)
        except VGGWeightsNotFoundError as err:
            sys.exit(f"train.py: error: {err}")
        self.model = model.setup_training(amp=cfg.amp and self.procs.device.type == "cuda")
        self.progress = Progress()
        if checkpoint is not None:
            self.progress = resume_training(checkpoint, model, self.procs.rank, self.procs.world)
        if self.procs.world > 1:
            model.distribute()
        resume_step = self.progress.step if checkpoint is not None else None
        self.outputs = RunOutputs(cfg, resume_step) if self.procs.is_main else None
        self.started, self.start_step = time.monotonic(), self.progress.step
        self.saved_at, self.train_seconds = self.progress.step, 0.0

    def reached_max(self) -> bool:
        cfg = self.cfg
        minutes = (time.monotonic() - self.started) / 60
        out_of_time = bool(cfg.max_minutes) and minutes > cfg.max_minutes
        return (bool(cfg.max_steps) and self.progress.step >= cfg.max_steps) or out_of_time

    def save(self) -> None:
        """Checkpoint (rank 0 writes; every rank contributes its image pools)."""
        model, world = self.model, self.procs.world
        pools = {"optical": model.pool_optical.state_dict(), "sar": model.pool_sar.state_dict()}
        rank_pools = [None] * world
        if world > 1:
            dist.all_gather_object(rank_pools, pools)
        if self.procs.is_main:
            state = training_checkpoint(
                self.cfg, model, self.progress, rank_pools if world > 1 else []
            )
            save_checkpoint(Path(self.cfg.out_dir) / CHECKPOINT, state)
        self.saved_at = self.progress.step

    def train_epoch(self) -> None:
        """The current epoch's remaining steps, or up to max_steps / max_minutes."""
        cfg, device, progress = self.cfg, self.procs.device, self.progress
        loader = epoch_loader(self.dataset, cfg, progress, self.steps_per_epoch, self.procs)
        bar = tqdm(
            loader,
            desc=f"epoch {progress.epoch + 1}/{cfg.epochs}",
            initial=progress.batch,
            total=self.steps_per_epoch,
            disable=not self.procs.is_main,
            dynamic_ncols=True,
        )
        epoch_start = time.perf_counter()
        for batch in bar:
            sar = batch["sar"].to(device, non_blocking=True)
            optical = batch["optical"].to(device, non_blocking=True)
            logs = self.model.train_step(sar, optical)
            progress.step += 1
            progress.batch += 1
            if self.outputs is not None and progress.step % cfg.log_every == 0:
                values = self.outputs.log_losses(progress, self.model.lr, logs)
                bar.set_postfix(g=f"{values['g_total']:.3f}", pix=f"{values['pix']:.3f}")
            if cfg.save_every and progress.step % cfg.save_every == 0:
                self.save()
            if self.reached_max():
                break
        bar.close()
        self.train_seconds += time.perf_counter() - epoch_start  # data + steps + checkpoints

    def end_epoch(self) -> None:
        """Learning-rate schedule, checkpoint, kept copy, sample grid, loss curves."""
        self.model.end_epoch()
        self.progress.epoch, self.progress.batch = self.progress.epoch + 1, 0
        self.save()
        if self.outputs is not None:
            self.outputs.end_epoch(
                self.progress.epoch,
                self.model.exported_generator,
                self.samples,
                self.procs.device,
                self.cfg.keep_every,
            )

    def finish(self) -> None:
        if self.saved_at != self.progress.step:  # stopped by max_steps inside an epoch
            self.save()
        if self.outputs is not None:
            self.outputs.close()
            steps_run = self.progress.step - self.start_step
            per_step = self.train_seconds / steps_run if steps_run else float("nan")
            print(
                f"trained {steps_run} steps (total {self.progress.step}, epoch "
                f"{self.progress.epoch}) in {self.train_seconds:.1f} s: {per_step:.3f} s/step "
                f"on {self.procs.device} x {self.procs.world}; checkpoint "
                f"{Path(self.cfg.out_dir) / CHECKPOINT}"
            )
        if self.procs.world > 1:
            dist.destroy_process_group()


def main(argv=None) -> None:
    cfg, checkpoint = configure(parse_args(argv))
    run = Run(cfg, checkpoint)
    while run.progress.epoch < cfg.epochs and not run.reached_max():
        run.train_epoch()
        if run.progress.batch == run.steps_per_epoch:
            run.end_epoch()
    run.finish()


if __name__ == "__main__":
    main()
