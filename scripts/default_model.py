"""Build the two embedded models (VV+VH and VV only) from finished training runs, with the
leave-location-out evaluation, the picture of every held-out scene and the model cards.

    python scripts/default_model.py --runs runs/r3 --data-root data/s2o

Expects, under RUNS (each a `training/train.py --out-dir`, run with `--keep-every N`):
  dual/      the shipped VV+VH S2O-NPDE run (or several candidate runs: --dual-runs a,b; the
             one whose best kept copy scores highest on validation is shipped)
  vv/        the shipped VV-only S2O-NPDE run
  full/, base/, pix2pix/   the comparison at one equal, shorter budget (--compare-epochs);
             full/ may be the same run as dual/ (its kept copies up to that epoch are used)
Then:
0. every run's checkpoint is chosen on the VALIDATION split alone (kept epoch copies and the
   weight averages of the last 3 and 5 of them; for the comparison only copies up to
   --compare-epochs), by SELECTION_RULE;
1. everything is scored on the held-out TEST split (locations never used for training or
   selection): per scene PSNR, SSIM and per-channel correlation, and the three floors;
2. both shipped models are exported (engine-validated, parity-checked) with their level and
   scores into s2o_qgis_plugin/models/;
3. docs/heldout_samples.png: SAR | S2O-NPDE | S2O-NPDE VV | Base | pix2pix | Sentinel-2 for
   every held-out scene; the loss curves of the shipped runs;
4. the model cards, and docs/heldout_eval.json with every figure.
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import csv
import functools
import json
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from export.export_onnx import export
from s2o_qgis_plugin.__about__ import __version__
from s2o_qgis_plugin.engine.metadata import SENTINEL_CREDIT, s2_level_label
from s2o_qgis_plugin.engine.model import DEFAULT_MODEL_PATH, VV_MODEL_PATH
from training.config import TrainConfig
from training.cyclegan import average_checkpoints, load_checkpoint, read_checkpoint
from training.data import make_dataset
from training.evaluate import (
    FLOOR_MEAN,
    Row,
    dataset_for,
    evaluate_checkpoint,
    floor_rows,
    markdown_table,
    to_uint8_rgb,
    translate,
)

DUAL, VV = "S2O-NPDE (VV+VH, shipped)", "S2O-NPDE (VV only, shipped)"
COMPARE = {"S2O-NPDE (full)": "full", "Base (ablation)": "base", "pix2pix (baseline)": "pix2pix"}
SHIPPED = {DUAL: ("dual", DEFAULT_MODEL_PATH, "s2o-npde-default"),
           VV: ("vv", VV_MODEL_PATH, "s2o-npde-vv")}
# What the runs behind the shipped models showed (every figure: docs/heldout_eval.json's
# "selection", the validation scores of every kept copy of every candidate run)
RECIPE_FINDINGS = """\
- What changed against the first shipped models, each chosen on validation only: batch 4
  instead of 1 and a moving average of the generator's weights (the kept copies' validation
  PSNR now moves by tenths of a dB from one copy to the next instead of 2-3 dB); a short
  schedule (80 epochs, decay from 30), because every longer run peaked on validation between
  epochs 40 and 70 and then declined (over-fitting 56 pairs); and one random SAR offset of
  N(0, 1.5 dB) per sample, a stand-in for calibration differences between sources (best
  validation PSNR of a kept copy: 21.7 dB with it against 21.0 dB without, same long schedule;
  22.0 dB with it and the short schedule; the floor is 18.05 dB). A second seed of the shipped
  recipe scored 5.71 on validation by the selection rule against the shipped run's 6.34 (the
  spread between seeds), an offset of 3 dB instead of 1.5 dB scored 5.17.
  GAN weight 0.1 against 0 was within the noise again (the GAN-free run peaked a little
  earlier and declined faster).
- The VV-only runs of this session (moving average, offset augmentation) did not beat the
  earlier VV-only model on validation, so that one stays: it paints a flat, average colour.
- Selection and test each rest on few images (9 and 14) and many candidate copies compete on
  validation: read test differences under about 1 dB as noise.
"""


def honest_reading(heldout: Heldout) -> str:
    """The goal of issue 11 for the VV+VH model, checked on the held-out numbers, then what the
    runs showed and the worst scene."""
    dual, floor = heldout.rows[DUAL], heldout.floor_mean
    n, beat = dual.n_images, beats(dual, floor)
    checks = [
        (dual.psnr > floor.psnr,
         f"mean PSNR {dual.psnr:.2f} dB against the mean-colour floor's {floor.psnr:.2f} dB"),
        (4 * beat >= 3 * n, f"above that floor on {beat} of {n} scenes (goal: 3/4)"),
        (dual.corr > 0.3, f"mean per-channel correlation {dual.corr:.3f} (goal: above 0.3)"),
    ]
    met = all(ok for ok, _ in checks)
    lines = "; ".join(f"{text}: {'met' if ok else '**not met**'}" for ok, text in checks)
    gain = {i: dual.per_image[i]["psnr"] - floor.per_image[i]["psnr"] for i in dual.per_image}
    worst = min(gain, key=gain.get)
    return (
        f"- The goal for the VV+VH model: beat the constant mean-colour floor in mean PSNR and on "
        f"at least three quarters of the held-out scenes, with a mean per-channel correlation "
        f"above 0.3. It is {'met' if met else '**not met** in full'}: {lines}.\n"
        f"- Its worst scene against the floor is {worst} ({dual.per_image[worst]['psnr']:.2f} dB "
        f"against {floor.per_image[worst]['psnr']:.2f} dB; its row in the picture below shows "
        f"what it painted).\n" + RECIPE_FINDINGS
    )


SELECTION_RULE = "mean validation PSNR gain over the mean-colour floor plus 10 x mean correlation"
MODELS_DIR = DEFAULT_MODEL_PATH.parent
DOCS = ROOT / "docs"
# How --balance grouped the pairs when the shipped runs trained: their data set's MANIFEST.json
# was written before it named a dataset per pair, and the balance fell back on each pair's
# source, so BigEarthNet's three sources counted as three groups (a defect since fixed: the
# balance now refuses a manifest without datasets).
SAMPLING_AS_TRAINED = (
    "as trained: --balance grouped pairs by source, not by dataset, because the set's manifest "
    "did not yet name datasets; each epoch of 85 samples held the 21 BENv2 and 21 BENv1 pairs "
    "once, the 3 BigEarthNet example pairs 7 times and the 11 SEN12MS-CR pairs twice, so "
    "SEN12MS-CR gave 26 % of the samples rather than the intended half"
)


def epoch_of(path: Path) -> int:
    return int(path.stem.removeprefix("checkpoint_epoch"))


AVERAGE_LAST = (3, 5)


def selection_score(row: Row, floor: Row) -> float:
    """SELECTION_RULE: dB above the training-mean floor, plus 10 x correlation (0.1 of
    correlation weighs as 1 dB), both means over the validation images."""
    return row.psnr - floor.psnr + 10.0 * row.corr


@functools.lru_cache
def val_floor(data_kind: str, data_root: str, in_bands: str, sar_db_range: tuple,
              optical_dn_range: tuple) -> Row:
    """The mean-colour floor on the validation split, computed once per data set and radiometry
    (every candidate run of a model shares it)."""
    cfg = TrainConfig(data_kind=data_kind, data_root=data_root, in_bands=in_bands,
                      sar_db_range=sar_db_range, optical_dn_range=optical_dn_range)
    return next(f for f in floor_rows(cfg, data_kind, data_root, "val") if f.name == FLOOR_MEAN)


def select_on_val(run: Path, data_root: Path, max_epoch: int | None = None
                  ) -> tuple[Path, dict]:
    """The run's kept checkpoint with the best SELECTION_RULE on the validation split."""
    candidates = sorted(run.glob("checkpoint_epoch*.pt"), key=epoch_of)
    if max_epoch is not None:
        candidates = [c for c in candidates if epoch_of(c) <= max_epoch]
    if not candidates:
        raise FileNotFoundError(f"{run} has no kept checkpoint_epochNNN.pt (train with "
                                f"--keep-every N)")
    copies = list(candidates)
    for k in AVERAGE_LAST:  # weight averages of the last k copies (SWA-like) compete too
        if len(copies) >= 2 * k:
            last = copies[-k:]
            name = f"average_epoch{epoch_of(last[0]):03d}-{epoch_of(last[-1]):03d}.pt"
            candidates.append(average_checkpoints(last, run / name))
    cfg, _ = load_checkpoint(candidates[0])
    floor = val_floor(cfg.data_kind, str(data_root), cfg.in_bands, tuple(cfg.sar_db_range),
                      tuple(cfg.optical_dn_range))
    table = {}
    for c in candidates:
        row = evaluate_checkpoint(c, None, str(data_root), "val", "cpu", name=c.name)
        table[c.name] = dict(psnr=round(row.psnr, 3), corr=round(row.corr, 4),
                             score=round(selection_score(row, floor), 3))
    best = max(candidates, key=lambda c: (table[c.name]["score"], c.name))
    return best, dict(floor_psnr=round(floor.psnr, 3), candidates=table, chosen=best.name)


def select_run_on_val(runs: list[Path], data_root: Path) -> tuple[Path, Path, dict]:
    """(run, checkpoint, selection) of the candidate run whose validation choice scores best;
    the selection records every run's candidates."""
    picks = {run: select_on_val(run, data_root) for run in runs}
    score = {run: sel["candidates"][ckpt.name]["score"] for run, (ckpt, sel) in picks.items()}
    run = max(runs, key=lambda r: (score[r], r.name))
    checkpoint, selection = picks[run]
    others = {r.name: {"chosen": sel["chosen"], "score": score[r], "candidates": sel["candidates"]}
              for r, (_, sel) in picks.items() if r != run}
    return run, checkpoint, {**selection, "run": run.name, "other_runs": others}


def sampling_text(cfg, data_root: Path, run: Path) -> str:
    """How an epoch of the run drew its pairs, counted from the data set as --balance builds it
    now; a run whose steps per epoch do not match that trained before the balance was fixed."""
    if not cfg.balance:
        return "every training pair once per epoch"
    data = make_dataset(cfg.data_kind, str(data_root), "train", in_bands=cfg.bands,
                        balance=True)
    progress = read_checkpoint(run / "checkpoint.pt")["progress"]
    if progress["step"] // max(progress["epoch"], 1) != len(data) // cfg.batch_size:
        return SAMPLING_AS_TRAINED
    repeats = Counter(data.ids)
    counts: dict[str, list[int]] = {}
    manifest = source_of(data_root)
    for pair_id, n in repeats.items():
        counts.setdefault(manifest[pair_id]["dataset"], []).append(n)
    parts = ", ".join(f"the {len(r)} {name} pairs " + ("once" if max(r) == 1 else f"{max(r)} times")
                      for name, r in sorted(counts.items()))
    return f"--balance by dataset: each epoch of {len(data)} samples held {parts}"


def source_of(data_root: Path) -> dict[str, dict]:
    return {p["id"]: p for p in json.loads((data_root / "MANIFEST.json").read_text())["patches"]}


def per_scene_markdown(rows: list[Row], manifest: dict[str, dict]) -> str:
    """One line per held-out scene: PSNR / SSIM / corr of each row."""
    head = "| scene | dataset, location | " + " | ".join(r.name for r in rows) + " |"
    lines = [head, "| --- | --- |" + " ---: |" * len(rows)]
    for i in rows[0].per_image:
        cells = " | ".join(
            f"{r.per_image[i]['psnr']:.2f} / {r.per_image[i]['ssim']:.3f} / "
            f"{r.per_image[i]['corr']:.2f}" for r in rows
        )
        where = f"{manifest[i]['dataset']}, {manifest[i]['location']}"
        lines.append(f"| {i[-24:]} | {where} | {cells} |")
    return "\n".join(lines)


def by_dataset_markdown(rows: list[Row], manifest: dict[str, dict]) -> str:
    """Mean PSNR / corr of each row per held-out dataset."""
    groups: dict[str, list[str]] = {}
    for i in rows[0].per_image:
        groups.setdefault(manifest[i]["dataset"], []).append(i)
    lines = ["| dataset (scenes) | " + " | ".join(r.name for r in rows) + " |",
             "| --- |" + " ---: |" * len(rows)]
    for name, ids in sorted(groups.items()):
        cells = " | ".join(
            f"{np.mean([r.per_image[i]['psnr'] for i in ids]):.2f} dB / "
            f"{np.mean([r.per_image[i]['corr'] for i in ids]):.2f}" for r in rows
        )
        lines.append(f"| {name} ({len(ids)}) | {cells} |")
    return "\n".join(lines)


def beats(row: Row, floor: Row) -> int:
    """Scenes on which row's PSNR is above floor's."""
    return sum(row.per_image[i]["psnr"] > floor.per_image[i]["psnr"] for i in row.per_image)


def picture(chosen: dict[str, Path], data_root: Path, out: Path) -> None:
    """SAR | each model | Sentinel-2, one row per held-out scene."""
    loaded = {name: load_checkpoint(path) for name, path in chosen.items()}
    cfg_dual = loaded[DUAL][0]
    test = dataset_for(cfg_dual, cfg_dual.data_kind, str(data_root), "test")
    cols = ["Sentinel-1 VV (dB)", *loaded, "Sentinel-2 (L2A)"]
    fig, axes = plt.subplots(len(test), len(cols), figsize=(1.9 * len(cols), 1.95 * len(test)))
    manifest = source_of(data_root)
    for r in range(len(test)):
        sample = test[r]
        images = [sample["sar"][0].numpy()]
        for cfg, gen in loaded.values():
            sar = sample["sar"][: len(cfg.bands)]  # VV is band 0 of the dual sample too
            images.append(to_uint8_rgb(translate(gen, sar), cfg.optical_dn_range) / 255.0)
        images.append(to_uint8_rgb(sample["optical"], cfg_dual.optical_dn_range) / 255.0)
        for c, (ax, img) in enumerate(zip(axes[r], images, strict=True)):
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None,
                      vmin=-1 if c == 0 else None, vmax=1 if c == 0 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c].replace(" (", "\n("), fontsize=7)
        row = manifest[sample["id"]]
        axes[r, 0].set_ylabel(f"{row['dataset']}\n{row['location'][:22]}", fontsize=6)
    fig.suptitle("Held-out scenes: locations never used for training or model selection",
                 fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.985))  # room for the title above the column titles
    fig.savefig(out, dpi=100)
    plt.close(fig)


def steps_done(run: Path) -> int:
    with open(run / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    return int(rows[-1]["step"]) if rows else 0


def data_summary(data_root: Path) -> dict:
    manifest = json.loads((data_root / "MANIFEST.json").read_text())
    splits = json.loads((data_root / "splits.json").read_text())
    rows = {p["id"]: p for p in manifest["patches"]}
    out = {}
    for split, ids in splits.items():
        per = {}
        for i in ids:
            per[rows[i]["dataset"]] = per.get(rows[i]["dataset"], 0) + 1
        out[split] = per
    return dict(splits=out, level_mapping=manifest.get("level_mapping"),
                test_locations=manifest["test_locations"],
                val_locations=manifest["val_locations"], licences=manifest["licences"])


def training_data_text(summary: dict) -> str:
    train = summary["splits"]["train"]
    parts = ", ".join(f"{n} {k}" for k, n in sorted(train.items()))
    return (f"{sum(train.values())} real Sentinel-1/2 pairs ({parts}; built by "
            f"training/build_data.py), every target Sentinel-2 L2A")


def stabilisers(cfg) -> str:
    """The card's sentence on the moving average and the SAR offset augmentation."""
    ema = (f"The exported weights are the moving average of G's weights (decay {cfg.ema_decay} "
           f"per step), not the last step's." if cfg.ema_decay else "No moving average of weights.")
    jitter = (f"Each sample's SAR bands got one random offset ~ N(0, {cfg.sar_jitter_db} dB)."
              if cfg.sar_jitter_db else "")
    return f"{ema} {jitter}".strip()


# configuration keys that say where and how often a run wrote, not what it learned
BOOKKEEPING = {"out_dir", "device", "num_workers", "max_minutes", "max_steps", "log_every",
               "save_every", "keep_every", "amp"}


def recipe_difference(run: Path, other: Path) -> str:
    """How run `other`'s recipe differs from `run`'s ("lambda_corr 3; crop 120"), read from
    the config.json each run wrote (a key an older run lacks has today's default, which keeps
    its behaviour); "" where either is missing."""
    defaults = json.loads(json.dumps(TrainConfig().to_dict()))  # keys older runs lack
    try:
        mine, theirs = ({**defaults, **json.loads((r / "config.json").read_text())}
                        for r in (run, other))
    except (OSError, ValueError):
        return ""
    keys = sorted((mine.keys() | theirs.keys()) - BOOKKEEPING)
    return "; ".join(f"{k} {theirs.get(k)}" for k in keys if mine.get(k) != theirs.get(k))


def other_runs_text(selection: dict, run: Path) -> str:
    """The other candidate runs, how their recipes differ from the shipped run's, and their
    best validation scores, for the card."""
    others = selection.get("other_runs") or {}
    if not others:
        return ""
    parts = []
    for name, o in others.items():
        diff = recipe_difference(run, run.parent / name)
        parts.append(f"`{name}`{f' ({diff})' if diff else ''} {o['chosen']} {o['score']:.2f}")
    return ("Other candidate runs (how their recipe differs from this one's; their best copy on "
            f"validation and its score): {'; '.join(parts)}; every score is in "
            "docs/heldout_eval.json.")


def card(name, meta, report, cfg, run, summary, selection, table, per_dataset, per_scene,
         beat, n_scenes, compare_note, sampling, reading) -> str:
    mapping = summary["level_mapping"]
    mapping_text = (
        "none (no L1C source)" if mapping is None else
        f"dn_L2A = dn_L1C + ({', '.join(f'{o:+.0f}' for o in mapping['offsets'])}) for "
        f"(Red, Green, Blue), fitted on {mapping['source']}; the full linear fit there "
        f"(slope, intercept) {mapping['linear_fit']} was not used, because its haze-specific "
        f"slopes push clear scenes' blue below zero"
    )
    return f"""# Model card: {meta.name} {meta.version} ({name})

File: `{report.path.name}` ({report.size_bytes / 1e6:.2f} MB, float32 ONNX, dynamic
batch/height/width). Built by `python scripts/default_model.py` from `python training/train.py`
runs on this project's 2-core CPU machine (no GPU was lent to the session that trained it).

## What it does
Sentinel-1 backscatter ({" + ".join(meta.input_bands)}, sigma0 in dB, clipped to
{meta.input_db_range} and mapped to [-1, 1]) to a **{s2_level_label(meta.s2_level)}**
true-colour image (Red, Green, Blue = B04, B03, B02 as reflectance x 10000 over
{meta.output_dn_range}). Size multiple {meta.size_multiple}; halo {meta.halo} px (tiles stitch
seam-free); convolutions pad with {meta.padding}.

## Data
- Training: {training_data_text(summary)}. Per split and dataset: {summary["splits"]}.
- Product level: every target is L2A. SEN12MS-CR's L1C targets are mapped to L2A by
  {mapping_text}. SEN1-2's 8-bit PNGs are read but left out (their grey-value scaling is not
  published; VV grey medians of 215/255 would be -4 dB under the usual [-25, 0] dB clip).
- Held out (never trained on, never used to choose a checkpoint):
  {", ".join(summary["test_locations"])}.
- Validation (checkpoint choice only): {", ".join(summary["val_locations"])}.
- Sampling ({sampling}); random {cfg.crop} px crops, flips and quarter
  turns.

## Training
`{run}`: variant {cfg.variant}, width {cfg.width}, {steps_done(run)} optimisation steps
(batch {cfg.batch_size}; {cfg.epochs} epochs planned, linear decay from epoch
{cfg.decay_start_epoch}), Adam lr {cfg.lr}, betas {tuple(cfg.betas)}, seed {cfg.seed}.
Losses (Eq. 8-9): GAN **{cfg.gan_weight}** (the paper: 1), pixel {cfg.lambda_pix}, cycle
{cfg.lambda_cyc}, PDE {cfg.lambda_pde}, perceptual {cfg.lambda_per} (torchvision's VGG19
weights cannot be downloaded here). {stabilisers(cfg)} The GAN weight and the rest of the
recipe were chosen on the validation split (see the README's training section). The paper's
configuration stays one option away (`--gan-weight 1 --lambda-per 10 --lambda-cyc 10`).

Checkpoint choice on validation, rule: {SELECTION_RULE}. Validation floor PSNR
{selection["floor_psnr"]} dB; per kept copy (PSNR, corr, score): {selection["candidates"]};
chosen **{selection["chosen"]}** of run `{selection.get("run", run.name)}`.
{other_runs_text(selection, run)}

## Held-out evaluation
scikit-image PSNR and SSIM on 8-bit RGB (reflectance / 3000 clipped to [0, 1]) per scene,
averaged; corr = mean per-channel Pearson correlation with Sentinel-2 (skill beyond the
colour level; a constant image scores 0). Floors: the training set's mean colour, VV as grey,
and each scene's own mean colour (the best any constant could do; it knows the answer).

{table}

This model beats the training-mean-colour floor in PSNR on **{beat} of {n_scenes}** held-out
scenes. {compare_note}

## Honest reading
{reading}

Per held-out dataset (mean PSNR / corr):

{per_dataset}

Per scene (PSNR / SSIM / corr):

{per_scene}

![held-out scenes](../../docs/heldout_samples.png)

## Licence and credit
Training data: {"; ".join(summary["licences"])}. {SENTINEL_CREDIT}. Export parity (onnxruntime vs
torch on the pixels the engine keeps, max abs difference):
{", ".join(f"{k}: {v:.1e}" for k, v in report.parity.items())}.
"""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs/r3")
    parser.add_argument("--data-root", type=Path, default=ROOT / "data/s2o")
    parser.add_argument("--compare-epochs", type=int, default=50)
    parser.add_argument("--real-input", type=Path,
                        default=ROOT / "tests/data/bigearthnet/s1_mosaic.tif")
    for flag, sub, what in (("--dual-runs", "dual", "VV+VH"), ("--vv-runs", "vv", "VV-only")):
        parser.add_argument(flag, default=sub,
                            help=f"comma-separated candidate runs (folders of RUNS) for the {what} "
                                 "model; the one that scores best on validation is shipped")
    parser.add_argument("--select-only", action="store_true",
                        help="print the validation choice of each run and stop (models whose "
                             "runs are absent are skipped)")
    return parser.parse_args(argv)


def choose_on_val(args) -> tuple[dict, dict, dict]:
    """Step 0: (checkpoint, selection record, run) of every model, chosen on validation."""
    chosen, selection, run_of = {}, {}, {}

    def present(runs: list[Path], name: str) -> list[Path]:
        """With --select-only, the runs that exist (a look at some candidates needs no other
        model's runs); otherwise all of them (a missing one is an error further on)."""
        if not args.select_only:
            return runs
        found = [r for r in runs if r.is_dir()]
        if not found:
            print(f"{name}: skipped, no run among {', '.join(map(str, runs))}", flush=True)
        return found

    for name, option in ((DUAL, args.dual_runs), (VV, args.vv_runs)):
        candidates = present([args.runs / r.strip() for r in option.split(",") if r.strip()], name)
        if candidates:
            run_of[name], chosen[name], selection[name] = select_run_on_val(candidates,
                                                                            args.data_root)
            print(f"{name}: {selection[name]}", flush=True)
    for name, sub in COMPARE.items():
        if present([args.runs / sub], name):
            run_of[name] = args.runs / sub
            chosen[name], selection[name] = select_on_val(run_of[name], args.data_root,
                                                          args.compare_epochs)
            print(f"{name}: {selection[name]}", flush=True)
    return chosen, selection, run_of


@dataclass
class Heldout:
    """Step 1: every chosen model and the floors scored on the held-out test split."""

    rows: dict[str, Row]
    floors: list[Row]
    summary: dict
    table: str
    per_dataset: str
    per_scene: str

    @property
    def floor_mean(self) -> Row:
        return next(f for f in self.floors if f.name == FLOOR_MEAN)


def score_heldout(chosen: dict, selection: dict, data_root: Path) -> Heldout:
    rows = {n: evaluate_checkpoint(chosen[n], None, str(data_root), "test", "cpu", name=n)
            for n in chosen}
    cfg_dual = load_checkpoint(chosen[DUAL])[0]
    floors = floor_rows(cfg_dual, cfg_dual.data_kind, str(data_root), "test")
    ordered = [*rows.values(), *floors]
    manifest = source_of(data_root)
    result = Heldout(rows, floors, data_summary(data_root),
                     markdown_table(ordered, "held-out test"),
                     by_dataset_markdown(ordered, manifest),
                     per_scene_markdown(ordered, manifest))
    print(result.table, result.per_dataset, sep="\n\n")
    DOCS.mkdir(exist_ok=True)
    (DOCS / "heldout_eval.json").write_text(json.dumps(dict(
        selection=selection, chosen={k: str(v) for k, v in chosen.items()},
        data=result.summary,
        rows={r.name: dict(psnr=r.psnr, ssim=r.ssim, corr=r.corr, n=r.n_images,
                           beats_mean_floor=beats(r, result.floor_mean), per_image=r.per_image)
              for r in ordered},
    ), indent=1) + "\n")
    return result


def export_shipped(name: str, checkpoint: Path, heldout: Heldout, real_input: Path):
    """Step 2: export one shipped model with its level, data, licence and held-out scores."""
    _, path, model_name = SHIPPED[name]
    row, summary = heldout.rows[name], heldout.summary
    report = export(
        checkpoint, MODELS_DIR / path.name, real=real_input, name=model_name,
        version=__version__, s2_level="L2A", training_data=training_data_text(summary),
        licence="; ".join(summary["licences"]),
        metrics={"split": "held-out test (leave-location-out)", "n_images": row.n_images,
                 "psnr": round(row.psnr, 3), "ssim": round(row.ssim, 4),
                 "corr": round(row.corr, 4),
                 "floors": {f.name: {"psnr": round(f.psnr, 3), "ssim": round(f.ssim, 4)}
                            for f in heldout.floors}},
    )
    print(report.text())
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    chosen, selection, run_of = choose_on_val(args)  # 0. choice on validation only
    if args.select_only:
        return 0
    heldout = score_heldout(chosen, selection, args.data_root)  # 1. held-out scores
    compare_note = (
        f"Equal-budget comparison in the first recipe (cycle weight 10, GAN 0.1; "
        f"{args.compare_epochs} epochs each, same data, each checkpoint chosen on validation): "
        + "; ".join(f"{r.name} {r.psnr:.2f} dB / {r.ssim:.3f} / {r.corr:.2f}"
                    for r in (heldout.rows[n] for n in COMPARE)) + "."
    )
    reports = {}
    for name in SHIPPED:  # 2. export both shipped models
        reports[name] = export_shipped(name, chosen[name], heldout, args.real_input)
        if not reports[name].ok:
            return 1
    # 3. pictures
    picture({n: chosen[n] for n in (DUAL, VV, "Base (ablation)", "pix2pix (baseline)")},
            args.data_root, DOCS / "heldout_samples.png")
    for name, (sub, _, _) in SHIPPED.items():
        shutil.copy(run_of[name] / "losses.png", DOCS / f"losses_{sub}.png")
    for name, (_, path, _) in SHIPPED.items():  # 4. cards
        cfg = load_checkpoint(chosen[name])[0]
        text = card(name, reports[name].meta, reports[name], cfg, run_of[name], heldout.summary,
                    selection[name], heldout.table, heldout.per_dataset, heldout.per_scene,
                    beats(heldout.rows[name], heldout.floor_mean), heldout.rows[name].n_images,
                    compare_note, sampling_text(cfg, args.data_root, run_of[name]),
                    honest_reading(heldout))
        card_name = "MODEL_CARD.md" if path == DEFAULT_MODEL_PATH else "MODEL_CARD_VV.md"
        (MODELS_DIR / card_name).write_text(text)
    print(f"models and cards in {MODELS_DIR}; {DOCS / 'heldout_samples.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
