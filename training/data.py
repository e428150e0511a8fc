"""SAR/optical pair datasets for training: dict samples scaled exactly as the engine scales.

    ds = make_dataset("paired", "data/ben", "train", crop=96, augment=True, seed=0)
    ds.set_epoch(epoch)          # before each epoch: augmentation depends on (seed, epoch, index)
    sample = ds[0]               # {"sar": (C,H,W), "optical": (3,H,W), "valid": (1,H,W), "id": str}

Scaling (the shared maps of s2o_qgis_plugin/engine/radiometry.py, so training, export and
inference agree):

    sar     = db_to_network(dB, sar_db_range)      = 2 (clip(dB, lo, hi) - lo) / (hi - lo) - 1
    optical = dn_to_network(DN, optical_dn_range)  = 2 (clip(DN, a, b) - a) / (b - a) - 1

with per-band SAR ranges (defaults VV [-25, 0] dB, VH [-32.5, 0] dB) and Sentinel-2
reflectance x 10000 (DN) over [a, b] = [0, 3000] for RGB = B04, B03, B02. SAR nodata (NaN,
+-inf or the file's nodata value in any band) becomes radiometry.NODATA_INPUT (0, mid-range) in
every band, as the engine feeds it; `valid` is 1 where every SAR band was finite and the optical
pixel was not nodata (0 for Sentinel-2), so losses may mask it.

Kinds (`KINDS`):
- "paired": root/s1/<id>.tif (VV[,VH] float32 dB, band descriptions name the bands) and
  root/s2/<id>.tif (3 bands Red, Green, Blue uint16 reflectance x 10000). Written by
  training/build_data.py; tests/data/bigearthnet is one.
- "sen12": SEN1-2 (the paper's data): root/ROIs*/s1_<n>/*_s1_<n>_p<k>.png paired with the same
  path with s1 -> s2. 8-bit PNGs; see Sen12Dataset for the declared grey-value scaling.
- "bigearthnet": BigEarthNet S1/S2 patch folders anywhere under root (<s1>/<s1>_VV.tif,
  <s1>_VH.tif; <s2>/<s2>_B04.tif, _B03, _B02), paired by the S1 folder's labels_metadata.json
  ("corresponding_s2_patch") or a mapping table (CSV/parquet with s1_name and s2_name or patch_id).
- "sen12ms": SEN12MS / SEN12MS-CR GeoTIFFs: ROIs*/s1_<n>/*_s1_*.tif (2 bands VV, VH dB) paired
  with s2_<n>/*_s2_*.tif (13 bands; RGB = bands 4, 3, 2, 1-based).

Splits: root/splits.json {"train": [ids], "val": [ids], "test": [ids]} when present (any kind).
Otherwise by location, deterministically: every pair has a location key (paired: the id;
sen12 / sen12ms: season folder + scene; bigearthnet: the mapping's split column if any, else the
MGRS tile of the S1 name) and a location goes wholly to train / val / test by
sha1(location) mod 100 < 80 / < 90 / else. An empty split is an error.

Augmentation (augment=True): a random crop window of size `crop` (the same window for SAR and
optical) and horizontal / vertical flips with probability 1/2 each (the same for both), drawn
from numpy's default_rng((seed, epoch, index)). So a sample is a pure function of (seed, epoch,
index): reproducible, different every epoch, and the same in any DataLoader worker. The trainer
calls `set_epoch(epoch)` on the dataset before iterating an epoch (workers get the dataset
pickled at iteration start, so do not use persistent_workers=True with epoch-dependent
augmentation). Without augment, `crop` takes the centre window. With `sar_jitter_db` > 0 every
SAR band of a sample also gets one common offset drawn from N(0, sar_jitter_db) dB (a stand-in
for the calibration differences between sources); nodata stays nodata. With `sar_blur_px` > 0
every SAR band is smoothed by a Gaussian of standard deviation ~ U(0, sar_blur_px) px, in dB,
nodata left out of the averages (a stand-in for the speckle and resampling differences between
processors: some sources' SAR is smoother than others').
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning
from scipy.ndimage import gaussian_filter
from torch.utils.data import Dataset

from s2o_qgis_plugin.engine.metadata import DUAL_POL, VV_ONLY
from s2o_qgis_plugin.engine.radiometry import (
    DEFAULT_DB_RANGES,
    DEFAULT_DN_RANGE,
    NODATA_INPUT,
    S2_NODATA,
    db_to_network,
    dn_to_network,
)

KINDS = ("paired", "sen12", "bigearthnet", "sen12ms")
SPLITS = ("train", "val", "test")
SAR_BANDS = DUAL_POL
SAR_DB_RANGE = DEFAULT_DB_RANGES
OPTICAL_DN_RANGE = DEFAULT_DN_RANGE
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
SPLITS_FILE = "splits.json"
MANIFEST_FILE = "MANIFEST.json"
BEN_RGB = ("B04", "B03", "B02")
SEN12MS_RGB = (4, 3, 2)  # 1-based band indexes of B04, B03, B02 in the 13-band S2 GeoTIFF

# SEN1-2 PNGs: grey 0..255 <-> these physical ranges (see Sen12Dataset). A property of how that
# data set was published, not the models' input range (which may change), hence not an import.
SEN12_SAR_DB_RANGE = (-25.0, 0.0)
SEN12_OPTICAL_DN_RANGE = OPTICAL_DN_RANGE


@dataclass(frozen=True)
class Pair:
    """One sample's files: `sar` / `optical` are whatever the kind's reader takes."""

    id: str
    sar: object
    optical: object
    location: str


# ---------------------------------------------------------------------------------------------
# Public entry point


def make_dataset(kind: str, root, split: str, *, in_bands=SAR_BANDS, crop=None, augment=False,
                 seed=0, sar_db_range=None, optical_dn_range=OPTICAL_DN_RANGE,
                 **options) -> PairDataset:
    """The dataset of `split` ("train", "val", "test") of the pairs of `kind` under `root`.

    in_bands: SAR bands in network channel order, ("VV", "VH") or ("VV",).
    crop: output size (int or (h, w)) or None for whole samples.
    sar_db_range: see resolve_sar_db_range; optical_dn_range: (dlo, dhi) reflectance x 10000.
    options: kind-specific keywords (bigearthnet: mapping=; sen12: png_sar_db_range=, ...).
    """
    classes = {"paired": PairedDataset, "sen12": Sen12Dataset,
               "bigearthnet": BigEarthNetDataset, "sen12ms": Sen12MSDataset}
    if kind not in classes:
        raise ValueError(f"unknown dataset kind {kind!r}; expected one of {KINDS}")
    return classes[kind](root, split, in_bands=in_bands, crop=crop, augment=augment, seed=seed,
                         sar_db_range=sar_db_range, optical_dn_range=optical_dn_range, **options)


def resolve_sar_db_range(in_bands, sar_db_range=None) -> tuple[tuple[float, float], ...]:
    """One (lo, hi) dB pair per band of in_bands.

    sar_db_range: None (defaults SAR_DB_RANGE), a mapping {band: (lo, hi)}, a sequence of
    (lo, hi) pairs aligned with in_bands, or a flat sequence of numbers: 2 per band of in_bands,
    or 2 per band of SAR_BANDS (VV then VH, as the training config stores it)."""
    if sar_db_range is None:
        sar_db_range = SAR_DB_RANGE
    if isinstance(sar_db_range, Mapping):
        missing = [b for b in in_bands if b not in sar_db_range]
        if missing:
            raise ValueError(f"sar_db_range has no range for band(s) {missing}")
        pairs = [tuple(sar_db_range[b]) for b in in_bands]
    else:
        values = list(sar_db_range)
        if values and np.ndim(values[0]) == 0:  # flat numbers
            flat = [float(v) for v in values]
            if len(flat) == 2 * len(in_bands):
                pairs = [tuple(flat[2 * i:2 * i + 2]) for i in range(len(in_bands))]
            elif len(flat) == 2 * len(SAR_BANDS):
                pairs = [tuple(flat[2 * SAR_BANDS.index(b):2 * SAR_BANDS.index(b) + 2])
                         for b in in_bands]
            else:
                raise ValueError(f"sar_db_range {sar_db_range} has {len(flat)} numbers; "
                                 f"expected {2 * len(in_bands)} (lo, hi per band of {in_bands})")
        else:
            pairs = [tuple(p) for p in values]
    if len(pairs) != len(in_bands) or any(len(p) != 2 or not p[0] < p[1] for p in pairs):
        raise ValueError(f"sar_db_range {sar_db_range} must give one (lo < hi) per band of "
                         f"{tuple(in_bands)}")
    return tuple((float(lo), float(hi)) for lo, hi in pairs)


def location_split(location: str, fractions=SPLIT_FRACTIONS) -> str:
    """train / val / test of a location key: sha1(key) mod 100 against cumulative fractions."""
    bucket = int(hashlib.sha1(location.encode()).hexdigest(), 16) % 100
    if bucket < round(100 * fractions[0]):
        return "train"
    if bucket < round(100 * (fractions[0] + fractions[1])):
        return "val"
    return "test"


# ---------------------------------------------------------------------------------------------
# The shared dataset


class PairDataset(Dataset):
    """Base class: pairs -> scaled, augmented tensors. Subclasses implement `find_pairs` and
    `read_pair` (returning SAR dB (C,H,W) float32 with NaN for nodata and optical RGB DN
    (3,H,W) float32 with NaN for nodata)."""

    kind = ""
    layout = ""

    def __init__(self, root, split, *, in_bands=SAR_BANDS, crop=None, augment=False, seed=0,
                 sar_db_range=None, optical_dn_range=OPTICAL_DN_RANGE, rot90=False,
                 sar_jitter_db=0.0, sar_blur_px=0.0, balance=False):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.kind} dataset root {self.root} is not a directory")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        self.split = split
        self.in_bands = tuple(in_bands)
        bad = [b for b in self.in_bands if b not in SAR_BANDS]
        if not self.in_bands or bad or len(set(self.in_bands)) != len(self.in_bands):
            raise ValueError(f"in_bands {in_bands} must be distinct bands of {SAR_BANDS}")
        self.sar_db_range = resolve_sar_db_range(self.in_bands, sar_db_range)
        lo, hi = optical_dn_range
        if not lo < hi:
            raise ValueError(f"optical_dn_range {optical_dn_range} must be (lo < hi)")
        self.optical_dn_range = (float(lo), float(hi))
        self.crop = (crop, crop) if isinstance(crop, int) else (tuple(crop) if crop else None)
        self.augment = bool(augment)
        self.rot90 = bool(rot90)
        self.sar_jitter_db = float(sar_jitter_db)
        self.sar_blur_px = float(sar_blur_px)
        self.seed = int(seed)
        self.epoch = 0
        pairs = self.find_pairs()
        if not pairs:
            raise FileNotFoundError(f"no {self.kind} pairs under {self.root}: "
                                    f"expected {self.layout}")
        self.pairs = self._select_split(pairs)
        if balance:
            self.pairs = self._balanced(self.pairs)

    # -- subclass API ------------------------------------------------------------------------

    def find_pairs(self) -> list[Pair]:
        raise NotImplementedError

    def read_pair(self, pair: Pair) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    # -- splits ------------------------------------------------------------------------------

    def _select_split(self, pairs: list[Pair]) -> list[Pair]:
        by_id = {p.id: p for p in pairs}
        split_file = self.root / SPLITS_FILE
        if split_file.exists():
            try:
                splits = json.loads(split_file.read_text())
                ids = list(splits[self.split])
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ValueError(f"{split_file} must be JSON {{'train': [ids], 'val': [ids], "
                                 f"'test': [ids]}} with key {self.split!r}: {err}") from err
            missing = [i for i in ids if i not in by_id]
            if missing:
                raise FileNotFoundError(f"{split_file} lists {len(missing)} id(s) of split "
                                        f"{self.split!r} with no pair under {self.root}, "
                                        f"e.g. {missing[:3]}")
            chosen = [by_id[i] for i in ids]
        else:
            chosen = [p for p in pairs if location_split(p.location) == self.split]
        if not chosen:
            raise ValueError(f"split {self.split!r} of {self.root} is empty ({len(pairs)} "
                             f"{self.kind} pairs in all)")
        return sorted(chosen, key=lambda p: p.id)

    def _balanced(self, pairs: list[Pair]) -> list[Pair]:
        """Pairs repeated so that each dataset of root/MANIFEST.json ("dataset" of a pair, e.g.
        bigearthnet, sen12ms-cr) gives about as many samples per epoch as the largest one:
        a pair of a dataset with n pairs appears round(n_max / n) times."""
        manifest = self.root / MANIFEST_FILE
        if not manifest.exists():
            raise FileNotFoundError(f"balance needs {manifest} (written by build_data.py) to "
                                    f"know each pair's dataset")
        entries = json.loads(manifest.read_text())["patches"]
        if any("dataset" not in e for e in entries):  # sources are not datasets: refuse
            raise ValueError(f"{manifest} names no dataset per pair: rebuild it with "
                             f"training/build_data.py to balance datasets")
        group = {e["id"]: e["dataset"] for e in entries}
        sizes = {g: sum(group.get(p.id) == g for p in pairs) for g in set(group.values())}
        largest = max(sizes.values())
        return [p for p in pairs for _ in range(max(1, round(largest / sizes[group[p.id]])))]

    # -- Dataset -----------------------------------------------------------------------------

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.pairs]

    def set_epoch(self, epoch: int) -> None:
        """Make augmentation depend on the epoch (call before iterating an epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        pair = self.pairs[index]
        sar_db, optical_dn = self.read_pair(pair)
        if sar_db.shape[1:] != optical_dn.shape[1:]:
            raise ValueError(f"{self.kind} pair {pair.id}: SAR {sar_db.shape[1:]} and optical "
                             f"{optical_dn.shape[1:]} sizes differ ({pair.sar}, {pair.optical})")
        sar_db, optical_dn = self._augment(index, pair, sar_db, optical_dn)
        sar_ok = np.isfinite(sar_db).all(axis=0)
        opt_ok = np.isfinite(optical_dn).all(axis=0)
        sar = db_to_network(sar_db, self.sar_db_range)
        sar[:, ~sar_ok] = NODATA_INPUT  # as the engine: every band, wherever one is invalid
        optical_dn = np.where(opt_ok, optical_dn, np.float32(self.optical_dn_range[0]))
        return {
            "sar": torch.from_numpy(sar),
            "optical": torch.from_numpy(dn_to_network(optical_dn, self.optical_dn_range)),
            "valid": torch.from_numpy((sar_ok & opt_ok)[None].astype(np.float32)),
            "id": pair.id,
        }

    def _augment(self, index, pair, sar, opt):
        """Same crop window and flips for both modalities, from rng(seed, epoch, index)."""
        rng = np.random.default_rng((self.seed, self.epoch, index)) if self.augment else None
        if self.crop is not None:
            ch, cw = self.crop
            h, w = sar.shape[1:]
            if ch > h or cw > w:
                raise ValueError(f"crop {self.crop} is larger than pair {pair.id} ({h}, {w})")
            if rng is not None:
                top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            else:
                top, left = (h - ch) // 2, (w - cw) // 2
            sar = sar[:, top:top + ch, left:left + cw]
            opt = opt[:, top:top + ch, left:left + cw]
        if rng is not None:
            if rng.random() < 0.5:
                sar, opt = sar[:, :, ::-1], opt[:, :, ::-1]
            if rng.random() < 0.5:
                sar, opt = sar[:, ::-1, :], opt[:, ::-1, :]
            if self.rot90 and sar.shape[1] == sar.shape[2]:  # square windows: 0-3 quarter turns
                k = int(rng.integers(0, 4))
                sar, opt = np.rot90(sar, k, axes=(1, 2)), np.rot90(opt, k, axes=(1, 2))
            if self.sar_jitter_db > 0:  # drawn last: the draws above stay those of older runs
                sar = sar + np.float32(rng.normal(0.0, self.sar_jitter_db))
            if self.sar_blur_px > 0:  # after the jitter, for the same reason
                sar = blur_valid(sar, float(rng.uniform(0.0, self.sar_blur_px)))
        return np.ascontiguousarray(sar), np.ascontiguousarray(opt)


def blur_valid(bands: np.ndarray, sigma: float) -> np.ndarray:
    """Each band of (C, H, W) smoothed by a Gaussian of `sigma` px; NaN (nodata) pixels stay NaN
    and are left out of their neighbours' averages (normalised convolution)."""
    if sigma <= 0:
        return bands
    ok = np.isfinite(bands)
    weights = gaussian_filter(ok.astype(np.float32), (0, sigma, sigma), mode="reflect")
    sums = gaussian_filter(np.where(ok, bands, 0).astype(np.float32), (0, sigma, sigma),
                           mode="reflect")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / weights
    return np.where(ok, out, np.nan).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Readers


def read_raster(path: Path, indexes=None, need: tuple[int, str] | None = None
                ) -> tuple[np.ndarray, tuple, object]:
    """(bands float32 with the nodata value as NaN, band descriptions, nodata) of a raster.
    ``need = (n, what)``: refuse a raster of fewer than n bands, saying it is not ``what``."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"raster {path} does not exist")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            with rasterio.open(path) as ds:
                if need is not None and ds.count < need[0]:
                    raise ValueError(f"{path} has {ds.count} band(s): not {need[1]}")
                data = ds.read(indexes).astype(np.float32)
                descriptions, nodata = ds.descriptions, ds.nodata
        except rasterio.errors.RasterioIOError as err:
            raise ValueError(f"cannot read raster {path}: {err}") from err
    if nodata is not None and not np.isnan(nodata):
        data[data == np.float32(nodata)] = np.nan
    return data, descriptions, nodata


def _swap_s1_s2(path: Path, root: Path) -> Path:
    """The S2 counterpart of an S1 path: every path component's `s1` token becomes `s2`
    (ROIs1158_spring_s1 -> ..._s2, s1_7 -> s2_7, ..._s1_7_p30.tif -> ..._s2_7_p30.tif)."""
    parts = path.relative_to(root).parts
    return root.joinpath(*(re.sub(r"(^|_)s1(_|\.|$)", r"\1s2\2", part) for part in parts))


class PairedDataset(PairDataset):
    """root/s1/<id>.tif + root/s2/<id>.tif (see module docstring)."""

    kind = "paired"
    layout = ("root/s1/<id>.tif (VV[,VH] float32 dB) and root/s2/<id>.tif "
              "(Red, Green, Blue uint16 reflectance x 10000)")

    def find_pairs(self):
        s1_dir, s2_dir = self.root / "s1", self.root / "s2"
        for folder in (s1_dir, s2_dir):
            if not folder.is_dir():
                raise FileNotFoundError(f"paired dataset: {folder} is missing; expected "
                                        f"{self.layout}")
        s1 = {p.stem: p for p in s1_dir.glob("*.tif")}
        s2 = {p.stem: p for p in s2_dir.glob("*.tif")}
        lonely = sorted(set(s1) ^ set(s2))
        if lonely:
            raise ValueError(f"paired dataset {self.root}: {len(lonely)} id(s) have only one of "
                             f"s1/<id>.tif and s2/<id>.tif, e.g. {lonely[:3]}")
        return [Pair(i, s1[i], s2[i], i) for i in sorted(s1)]

    def read_pair(self, pair):
        sar, descriptions, _ = read_raster(pair.sar)
        names = tuple(d.upper() if d else None for d in descriptions)
        if all(names):
            missing = [b for b in self.in_bands if b not in names]
            if missing:
                raise ValueError(f"{pair.sar} has bands {names}, not {missing}")
            sar = sar[[names.index(b) for b in self.in_bands]]
        else:  # no descriptions: bands in SAR_BANDS order
            if sar.shape[0] < len(self.in_bands):
                raise ValueError(f"{pair.sar} has {sar.shape[0]} band(s); {self.in_bands} needed")
            sar = sar[[SAR_BANDS.index(b) for b in self.in_bands]]
        optical, _, _ = read_raster(pair.optical)
        if optical.shape[0] != 3:
            raise ValueError(f"{pair.optical} has {optical.shape[0]} band(s); expected 3 "
                             f"(Red, Green, Blue reflectance x 10000)")
        optical[optical == S2_NODATA] = np.nan
        return sar, optical


class Sen12Dataset(PairDataset):
    """SEN1-2 8-bit PNG pairs, VV only.

    Declared scaling of the PNG grey values g in 0..255 (SEN1-2 stores clipped, stretched
    8-bit images; these are the physical ranges assumed to map linearly onto 0..255):

        SAR dB = lo + g / 255 * (hi - lo)     (lo, hi) = png_sar_db_range, default (-25, 0)
        DN     = a + g / 255 * (b - a)        (a, b) = png_optical_dn_range, default (0, 3000)

    then the same maps as every kind. With the defaults (and the default VV and optical
    ranges) the network sees g / 127.5 - 1 for both modalities."""

    kind = "sen12"
    layout = "root/ROIs*/s1_<n>/*.png with the s2 twin at the same path with s1 -> s2"

    def __init__(self, root, split, *, png_sar_db_range=SEN12_SAR_DB_RANGE,
                 png_optical_dn_range=SEN12_OPTICAL_DN_RANGE, in_bands=VV_ONLY, **kwargs):
        if tuple(in_bands) != VV_ONLY:
            raise ValueError(f"SEN1-2 has Sentinel-1 VV only; use in_bands=('VV',), "
                             f"not {tuple(in_bands)}")
        self.png_sar_db_range = tuple(png_sar_db_range)
        self.png_optical_dn_range = tuple(png_optical_dn_range)
        super().__init__(root, split, in_bands=in_bands, **kwargs)

    def find_pairs(self):
        pairs = []
        for s1 in sorted(self.root.glob("ROIs*/s1_*/*.png")):
            s2 = _swap_s1_s2(s1, self.root)
            if not s2.exists():
                raise FileNotFoundError(f"SEN1-2 optical twin {s2} of {s1} is missing")
            season, scene = s1.relative_to(self.root).parts[:2]
            pairs.append(Pair(s1.relative_to(self.root).with_suffix("").as_posix(), s1, s2,
                              f"{season}/{scene}"))
        return pairs

    def read_pair(self, pair):
        grey, _, _ = read_raster(pair.sar, 1)
        lo, hi = self.png_sar_db_range
        sar = (lo + grey / 255.0 * (hi - lo))[None].astype(np.float32)
        rgb, _, _ = read_raster(pair.optical, [1, 2, 3], need=(3, "an RGB PNG"))
        a, b = self.png_optical_dn_range
        return sar, (a + rgb / 255.0 * (b - a)).astype(np.float32)


class Sen12MSDataset(PairDataset):
    """SEN12MS / SEN12MS-CR GeoTIFF pairs: S1 (VV, VH in dB), S2 13 bands (RGB = 4, 3, 2)."""

    kind = "sen12ms"
    layout = ("root/ROIs*/s1_<n>/*_s1_*.tif (VV, VH dB) with root/ROIs*/s2_<n>/*_s2_*.tif "
              "(13 bands)")

    def find_pairs(self):
        pairs = []
        for s1 in sorted(self.root.glob("ROIs*/**/*_s1_*.tif")):
            s2 = _swap_s1_s2(s1, self.root)
            if not s2.exists():
                raise FileNotFoundError(f"SEN12MS optical twin {s2} of {s1} is missing")
            rel = s1.relative_to(self.root)
            season = rel.parts[0].removesuffix("_s1")
            pairs.append(Pair(rel.with_suffix("").as_posix(), s1, s2,
                              f"{season}/{rel.parts[-2]}"))
        return pairs

    def read_pair(self, pair):
        sar, _, _ = read_raster(pair.sar)
        if sar.shape[0] != 2:
            raise ValueError(f"{pair.sar} has {sar.shape[0]} band(s); expected 2 (VV, VH dB)")
        sar = sar[[SAR_BANDS.index(b) for b in self.in_bands]]
        optical, _, _ = read_raster(pair.optical, list(SEN12MS_RGB),
                                    need=(13, "a 13-band Sentinel-2 GeoTIFF"))
        optical[optical == S2_NODATA] = np.nan
        return sar, optical


class BigEarthNetDataset(PairDataset):
    """BigEarthNet S1 and S2 patch folders (v1 or v2 layout) anywhere under root.

    Pairing: `mapping` (CSV or parquet with columns s1_name and s2_name or patch_id, e.g.
    BigEarthNet's s1_s2_name_country_season.csv or BENv2's metadata.parquet), else each S1
    folder's <s1>_labels_metadata.json "corresponding_s2_patch". The pair id is the S2 name.
    Location: the mapping's split column when it has one (train / validation / test), else the
    MGRS tile of the S1 name (S1*_<time>_<tile>_<col>_<row>)."""

    kind = "bigearthnet"
    layout = ("S1 patch folders <s1>/<s1>_VV.tif, <s1>_VH.tif and S2 patch folders "
              "<s2>/<s2>_B04.tif, _B03.tif, _B02.tif, paired by labels_metadata.json or a mapping")

    def __init__(self, root, split, *, mapping=None, **kwargs):
        self.mapping = Path(mapping) if mapping else None
        super().__init__(root, split, **kwargs)

    def _read_mapping(self) -> tuple[dict[str, str], dict[str, str]]:
        import pandas as pd

        if not self.mapping.exists():
            raise FileNotFoundError(f"BigEarthNet mapping {self.mapping} does not exist")
        table = (pd.read_parquet(self.mapping) if self.mapping.suffix == ".parquet"
                 else pd.read_csv(self.mapping))
        s2_col = "s2_name" if "s2_name" in table else "patch_id"
        if "s1_name" not in table or s2_col not in table:
            raise ValueError(f"{self.mapping} needs columns s1_name and s2_name (or patch_id); "
                             f"it has {list(table.columns)}")
        s2_of = dict(zip(table["s1_name"], table[s2_col], strict=True))
        split_of = {}
        if "split" in table:
            names = {"validation": "val"}
            split_of = {s2: names.get(s, s) for s2, s in zip(table[s2_col], table["split"],
                                                             strict=True)}
        return s2_of, split_of

    def find_pairs(self):
        s1_dirs = {p.parent.name: p.parent for p in self.root.rglob("*_VV.tif")}
        s2_dirs = {p.parent.name: p.parent for p in self.root.rglob("*_B04.tif")}
        s2_of, split_of = self._read_mapping() if self.mapping else ({}, {})
        pairs = []
        for s1_name, s1_dir in sorted(s1_dirs.items()):
            if self.mapping:
                if s1_name not in s2_of:
                    continue
                s2_name = s2_of[s1_name]
            else:
                meta = s1_dir / f"{s1_name}_labels_metadata.json"
                if not meta.exists():
                    raise FileNotFoundError(f"{meta} is missing: pass mapping= (a CSV/parquet "
                                            f"with s1_name and s2_name) to pair {s1_dir}")
                s2_name = json.loads(meta.read_text())["corresponding_s2_patch"]
            if s2_name not in s2_dirs:
                raise FileNotFoundError(f"S2 patch folder {s2_name} of {s1_dir} is not under "
                                        f"{self.root}")
            location = split_of.get(s2_name) or _tile_of(s1_name)
            pairs.append(Pair(s2_name, s1_dir, s2_dirs[s2_name], location))
        return pairs

    def _select_split(self, pairs):
        if not (self.root / SPLITS_FILE).exists() and all(p.location in SPLITS for p in pairs):
            chosen = [p for p in pairs if p.location == self.split]
            if not chosen:
                raise ValueError(f"split {self.split!r} of {self.root} is empty "
                                 f"({len(pairs)} bigearthnet pairs in all)")
            return sorted(chosen, key=lambda p: p.id)
        return super()._select_split(pairs)

    def read_pair(self, pair):
        bands = []
        for band in self.in_bands:
            data, _, _ = read_raster(pair.sar / f"{pair.sar.name}_{band}.tif", 1)
            bands.append(data)
        rgb = [read_raster(pair.optical / f"{pair.optical.name}_{b}.tif", 1)[0] for b in BEN_RGB]
        optical = np.stack(rgb)
        optical[optical == S2_NODATA] = np.nan
        return np.stack(bands), optical


def _tile_of(s1_name: str) -> str:
    parts = s1_name.split("_")
    return parts[5] if len(parts) == 8 else s1_name
