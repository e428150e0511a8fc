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
import contextlib
import csv
import json
import os
import random
import shutil
import time
import warnings

import matplotlib

matplotlib.use("Agg")
# Debian's system matplotlib next to the venv's can miss mplot3d; no 3-D plots are drawn here
warnings.filterwarnings("ignore", message="Unable to import Axes3D")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from training.config import TrainConfig, add_config_arguments, config_from_namespace
from training.cyclegan import (
    CKPT_FORMAT,
    LOSS_NAMES,
    S2OCycleGAN,
    loss_values,
    read_checkpoint,
    save_checkpoint,
    set_requires_grad,
)
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
# helpers


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


def lr_factor(epoch: int, cfg: TrainConfig) -> float:
    """1 until decay_start_epoch, then linear to 0 at the end of the last epoch:
    f(e) = min(1, (epochs - e) / (epochs - decay_start_epoch))."""
    if epoch < cfg.decay_start_epoch or cfg.decay_start_epoch >= cfg.epochs:  # no decay
        return 1.0
    return max(0.0, (cfg.epochs - epoch) / (cfg.epochs - cfg.decay_start_epoch))


def epoch_indices(n: int, cfg: TrainConfig, epoch: int, rank: int, world: int) -> list[int]:
    """This rank's sample order of an epoch: a permutation drawn from (seed, epoch)."""
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, seed=cfg.seed)
    sampler.set_epoch(epoch)
    return list(sampler)


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


def pick_device(option: str, local_rank: int) -> torch.device:
    if option == "auto":
        option = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif option == "cuda":
        option = f"cuda:{local_rank}"
    return torch.device(option)


def to_image(t: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H, W, 3) or (H, W) in [0, 1] for matplotlib."""
    a = ((t.detach().float().cpu().clamp(-1, 1) + 1) / 2).numpy()
    return a.transpose(1, 2, 0) if a.shape[0] == 3 else a[0]


def pmd_panel(side: torch.Tensor | None) -> np.ndarray | None:
    """The PMD image side output as grey: mean |phi maps| scaled to its 99th percentile."""
    if side is None:
        return None
    mag = side.detach().float().abs().mean(dim=0).cpu().numpy()
    return np.clip(mag / max(float(np.percentile(mag, 99)), 1e-8), 0, 1)


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
                if panel is None:
                    ax.text(0.5, 0.5, "no PMD module", ha="center", va="center")
                else:
                    ax.imshow(panel, cmap="gray", vmin=0, vmax=1)
                ax.set_title(f"{title}\n{sample['id']}" if title == titles[0] else title)
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
        values = [float(r[name]) for r in rows]
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
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(kept)
    os.replace(tmp, path)
    return open(path, "a", newline="")


# ---------------------------------------------------------------------------------------------
# the run


def main(argv=None) -> None:
    # -- 1. configuration (fresh, or the checkpoint's with command-line overrides) ---------------
    args = parse_args(argv)
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
        cfg = config_from_namespace(args, base)
    except ValueError as err:
        sys.exit(f"train.py: error: {err}")
    out_dir = Path(cfg.out_dir)

    # -- 2. processes and device (torchrun sets WORLD_SIZE, RANK, LOCAL_RANK) -------------------
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(cfg.device, local_rank)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    is_main = rank == 0
    if device.type == "cuda":
        torch.cuda.set_device(device)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    use_amp = cfg.amp and device.type == "cuda"

    # -- 3. determinism ----------------------------------------------------------------------
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False

    # -- 4. data -----------------------------------------------------------------------------
    data_options = dict(
        in_bands=cfg.bands,
        crop=cfg.crop or None,
        seed=cfg.seed,
        sar_db_range=cfg.sar_db_range,
        optical_dn_range=cfg.optical_dn_range,
    )
    dataset = make_dataset(
        cfg.data_kind, cfg.data_root, cfg.train_split, augment=cfg.augment, rot90=cfg.rot90,
        balance=cfg.balance, **data_options
    )
    shown = make_dataset(
        cfg.data_kind, cfg.data_root, cfg.train_split, augment=False, **data_options
    )
    samples = [shown[i] for i in range(min(N_SAMPLES, len(shown)))]
    steps_per_epoch = len(epoch_indices(len(dataset), cfg, 0, rank, world)) // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(dataset)} samples give no full batch of {cfg.batch_size}")

    # -- 5. model, optimizers, schedulers ------------------------------------------------------
    try:
        model = S2OCycleGAN(cfg, seed_offset=rank).to(device)
    except VGGWeightsNotFoundError as err:
        sys.exit(f"train.py: error: {err}")
    opt_g = torch.optim.Adam(model.generators.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(model.discriminators.parameters(), lr=cfg.lr, betas=cfg.betas)
    sched_g, sched_d = (
        torch.optim.lr_scheduler.LambdaLR(opt, lambda e: lr_factor(e, cfg))
        for opt in (opt_g, opt_d)
    )
    scaler_g, scaler_d = (torch.amp.GradScaler("cuda", enabled=use_amp) for _ in range(2))
    step, epoch, batch_in_epoch = 0, 0, 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        if world > 1 and len(checkpoint.get("rank_pools", [])) == world:
            pools = checkpoint["rank_pools"][rank]
            model.pool_optical.load_state_dict(pools["optical"])
            model.pool_sar.load_state_dict(pools["sar"])
        for obj, key in ((opt_g, "g"), (opt_d, "d")):
            obj.load_state_dict(checkpoint["optimizers"][key])
        for obj, key in ((sched_g, "g"), (sched_d, "d")):
            obj.load_state_dict(checkpoint["schedulers"][key])
        for obj, key in ((scaler_g, "g"), (scaler_d, "d")):
            obj.load_state_dict(checkpoint["scalers"][key])
        set_rng_state(checkpoint["rng"])
        step, epoch, batch_in_epoch = (
            checkpoint["progress"][k] for k in ("step", "epoch", "batch")
        )
    generators, discriminators = model.generators, model.discriminators
    if world > 1:  # one DDP module per optimizer; the frozen D inside the G loss is unwrapped
        generators = DistributedDataParallel(
            generators, find_unused_parameters=True, broadcast_buffers=False
        )
        discriminators = DistributedDataParallel(discriminators, broadcast_buffers=False)

    def save() -> None:
        """Checkpoint (rank 0 writes; every rank contributes its image pools)."""
        pools = {"optical": model.pool_optical.state_dict(), "sar": model.pool_sar.state_dict()}
        rank_pools = [None] * world
        if world > 1:
            dist.all_gather_object(rank_pools, pools)
        if is_main:
            save_checkpoint(
                out_dir / CHECKPOINT,
                {
                    "format": CKPT_FORMAT,
                    "config": cfg.to_dict(),
                    "model": model.state_dict(),
                    "rank_pools": rank_pools if world > 1 else [],
                    "optimizers": {"g": opt_g.state_dict(), "d": opt_d.state_dict()},
                    "schedulers": {"g": sched_g.state_dict(), "d": sched_d.state_dict()},
                    "scalers": {"g": scaler_g.state_dict(), "d": scaler_d.state_dict()},
                    "rng": rng_state(),
                    "progress": {"step": step, "epoch": epoch, "batch": batch_in_epoch},
                },
            )

    # -- 6. outputs (rank 0 only) -----------------------------------------------------------
    log = None
    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / CONFIG_JSON).write_text(json.dumps(cfg.to_dict(), indent=1))
        log = open_loss_log(out_dir / LOSS_CSV, step if checkpoint is not None else None)
        log_writer = csv.DictWriter(log, CSV_COLUMNS)
    autocast = (
        (lambda: torch.autocast("cuda", dtype=torch.float16)) if use_amp else contextlib.nullcontext
    )

    # -- 7. the loop ---------------------------------------------------------------------------
    started = time.monotonic()

    def reached_max() -> bool:
        out_of_time = bool(cfg.max_minutes) and time.monotonic() - started > 60 * cfg.max_minutes
        return (bool(cfg.max_steps) and step >= cfg.max_steps) or out_of_time

    start_step, saved_at, train_seconds = step, step, 0.0
    while epoch < cfg.epochs and not reached_max():
        # this epoch's data: order from (seed, epoch), resumed runs skip the batches done
        dataset.set_epoch(epoch)
        order = epoch_indices(len(dataset), cfg, epoch, rank, world)
        order = order[batch_in_epoch * cfg.batch_size : steps_per_epoch * cfg.batch_size]
        loader = DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            sampler=order,
            num_workers=cfg.num_workers,
            drop_last=True,
            generator=torch.Generator().manual_seed(cfg.seed * 100003 + epoch),
        )
        progress = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            initial=batch_in_epoch,
            total=steps_per_epoch,
            disable=not is_main,
            dynamic_ncols=True,
        )
        epoch_start = time.perf_counter()
        for batch in progress:
            sar = batch["sar"].to(device, non_blocking=True)
            optical = batch["optical"].to(device, non_blocking=True)

            # generator pass: G(x), G_PMD(x) and, with a cycle, F(G(x)), F(y), G(F(y))
            with autocast():
                out = generators(sar, optical)

            # generator update, Eq. (8), discriminators frozen
            set_requires_grad(model.discriminators, False)
            with autocast():
                g_loss, logs = model.generator_loss(sar, optical, out)
            opt_g.zero_grad(set_to_none=True)
            scaler_g.scale(g_loss).backward()
            scaler_g.step(opt_g)
            scaler_g.update()
            model.update_ema()

            # discriminator update: real vs generated images from the pools
            logs.update(d_optical=0.0, d_sar=0.0)
            if model.uses_gan:
                set_requires_grad(model.discriminators, True)
                with autocast():
                    d_loss, d_logs = model.discriminator_loss(sar, optical, out, discriminators)
                opt_d.zero_grad(set_to_none=True)
                scaler_d.scale(d_loss).backward()
                scaler_d.step(opt_d)
                scaler_d.update()
                logs.update(d_logs)

            # bookkeeping: loss row, progress bar, periodic checkpoint
            step += 1
            batch_in_epoch += 1
            if is_main and step % cfg.log_every == 0:
                lr = opt_g.param_groups[0]["lr"]
                values = loss_values(logs)  # the only device sync for the losses
                log_writer.writerow({"step": step, "epoch": epoch, "lr": lr, **values})
                log.flush()
                progress.set_postfix(g=f"{values['g_total']:.3f}", pix=f"{values['pix']:.3f}")
            if cfg.save_every and step % cfg.save_every == 0:
                save()
                saved_at = step
            if reached_max():
                break
        progress.close()
        train_seconds += time.perf_counter() - epoch_start  # data + steps + checkpoints

        # end of an epoch: learning-rate schedule, checkpoint, sample grid, loss curves
        if batch_in_epoch == steps_per_epoch:
            sched_g.step()
            sched_d.step()
            epoch, batch_in_epoch = epoch + 1, 0
            save()
            saved_at = step
            if is_main and cfg.keep_every and epoch % cfg.keep_every == 0:  # for model selection
                shutil.copyfile(out_dir / CHECKPOINT, out_dir / f"checkpoint_epoch{epoch:03d}.pt")
            if is_main:
                save_sample_grid(
                    out_dir / SAMPLES_DIR / f"epoch_{epoch:03d}.png",
                    model.exported_generator,
                    samples,
                    device,
                )
                plot_losses(out_dir / LOSS_CSV, out_dir / LOSS_PNG)
    if saved_at != step:  # stopped by max_steps inside an epoch
        save()

    # -- 8. summary -----------------------------------------------------------------------------
    if is_main:
        log.close()
        plot_losses(out_dir / LOSS_CSV, out_dir / LOSS_PNG)
        steps_run = step - start_step
        per_step = train_seconds / steps_run if steps_run else float("nan")
        print(
            f"trained {steps_run} steps (total {step}, epoch {epoch}) in {train_seconds:.1f} s: "
            f"{per_step:.3f} s/step on {device} x {world}; checkpoint {out_dir / CHECKPOINT}"
        )
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
