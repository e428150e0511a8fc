"""Build a real, small Sentinel-1/2 training set from BigEarthNet patches shipped on PyPI.

    python training/build_data.py --out data/ben [--cache data/.cache] [--keep-cloudy]

Sources (each a public wheel fetched with `pip download --no-deps`, read as a zip, never
installed; see training/DATA.md for origin, licence and credit):

- bigearthnet-common 2.8.0: `BigEarthNet-S{1,2}-Example.tar.bz2`, 6 georeferenced UTM
  S1/S2 patch pairs as GeoTIFFs, and `s1_s2_name_country_season.csv.bz2` (the S1 name and
  country of every BigEarthNet v1 S2 patch) plus the cloud/shadow and seasonal-snow lists.
- configilm 0.7.1 `configilm/extra/mock_data/`: BENv2 (an LMDB of safetensors records, 24 S1
  + 24 S2, keys from metadata*.parquet) and BENv1 (an LMDB of 30 pickled S1+S2 patches).

Every patch is 120 x 120 px at 10 m. A pair's id is its BigEarthNet v1 S2 patch name
(`<S2 product>_<col>_<row>`), the key the three sources share; duplicates (same id or same
S2 pixels) are kept once, the first source in SOURCE_ORDER winning.

Georeference. The examples carry a UTM CRS and transform. BigEarthNet cuts every S2 tile on
one 1200 m grid from the tile's upper-left corner (X0, Y0), and S1 patches are resampled onto
the S2 patch, so for a patch named ..._<col>_<row>:

    ulx = X0 + 1200 * col,   uly = Y0 - 1200 * row

An example patch anchors its tile: X0 = ulx - 1200 col, Y0 = uly + 1200 row. LMDB patches of an
anchored tile get that CRS and transform; the others are written without a CRS (noted in
MANIFEST.json as georeferenced=false).

Splits hold out whole countries (the location key): TEST_COUNTRIES are never seen in training
or model selection, VAL_COUNTRIES select models, every other country trains. Countries, not
tiles, so that neighbouring tiles (e.g. 29SNB/29SNC/29SND) cannot straddle the hold-out.
Patches whose S2 image is cloudy or shadowed are left out of every split unless --keep-cloudy.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import hashlib
import io
import json
import pickle
import re
import shutil
import subprocess
import sys
import tarfile
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

from s2o_qgis_plugin.engine.metadata import DUAL_POL, OUTPUT_BANDS, SENTINEL_CREDIT

ROOT = Path(__file__).resolve().parents[1]

WHEELS = {"configilm": "configilm==0.7.1", "bigearthnet_common": "bigearthnet-common==2.8.0"}
SRC_EXAMPLES = "bigearthnet-common-2.8.0-examples"
SRC_BENV2 = "configilm-0.7.1-BENv2"
SRC_BENV1 = "configilm-0.7.1-BENv1"
SRC_SEN12MSCR = "sen12ms-cr"
SRC_SSL4EO = "ssl4eo-s12"
SRC_SEN12 = "sen1-2"
SOURCE_ORDER = (SRC_EXAMPLES, SRC_BENV2, SRC_BENV1, SRC_SEN12MSCR, SRC_SSL4EO, SRC_SEN12)

TEST_COUNTRIES = ("Portugal", "Serbia")
VAL_COUNTRIES = ("Ireland", "Lithuania", "Switzerland")
# Held out beside them (see the sources below): the SSL4EO-S12 place, and SEN12MS-CR scene
# blocks fixed before any model was trained on this set.
TEST_LOCATIONS = (*TEST_COUNTRIES, "Punjab, India (SSL4EO-S12 0000200, T43RCP)",
                  *(f"SEN12MS-CR test block {b}" for b in (1, 2, 6)))
VAL_LOCATIONS = (*VAL_COUNTRIES, *(f"SEN12MS-CR test block {b}" for b in (3, 7)))
SPLITS = ("train", "val", "test")
EXCLUDED = "excluded_cloudy"

PATCH_PX = 120
PATCH_M = 1200.0
PIXEL_M = 10.0
SAR_BANDS = DUAL_POL
RGB_BANDS = ("B04", "B03", "B02")
RGB_NAMES = OUTPUT_BANDS
CREDIT = SENTINEL_CREDIT
LICENCE = "CDLA-Permissive-1.0 (BigEarthNet)"
BEN_ORIGIN = "PyPI wheels configilm 0.7.1 and bigearthnet-common 2.8.0 (https://bigearthnet.net)"
TARGET_LEVEL = "L2A"  # every optical target of the set is Sentinel-2 L2A (surface reflectance)

_MOCK = "configilm/extra/mock_data"
_GRID_RE = re.compile(r"_(\d+)_(\d+)$")


@dataclass
class Patch:
    """One co-registered S1/S2 pair: SAR sigma0 in dB (2, H, W), S2 L2A RGB DN (3, H, W)."""

    id: str
    source: str
    s1_name: str
    tile: str
    country: str
    sar_db: np.ndarray
    rgb_dn: np.ndarray
    crs: str | None = None
    transform: Affine | None = None
    cloudy: bool = False
    snowy: bool = False
    notes: list[str] = field(default_factory=list)
    date: str = ""  # acquisition dates, "S1 <date> / S2 <date>", where known
    level: str = TARGET_LEVEL  # Sentinel-2 product level of the source's optical image
    harmonised: bool = False  # rgb_dn mapped from `level` to TARGET_LEVEL (harmonise_l1c)
    licence: str = LICENCE
    origin: str = BEN_ORIGIN

    @property
    def grid(self) -> tuple[int, int]:
        """(col, row) of the patch on its tile's 1200 m grid, from the name's suffix."""
        m = _GRID_RE.search(self.id)
        if m is None:
            raise ValueError(f"patch name {self.id!r} does not end with _<col>_<row>")
        return int(m.group(1)), int(m.group(2))


# ---------------------------------------------------------------------------------------------
# Wheels


def fetch_wheels(cache: Path) -> dict[str, Path]:
    """Return {module name: wheel path}, downloading missing wheels into cache/wheels with pip."""
    wheel_dir = Path(cache) / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    found = {}
    for module, spec in WHEELS.items():
        name, version = spec.split("==")
        pattern = f"{name.replace('-', '_')}-{version}-*.whl"
        hits = sorted(wheel_dir.glob(pattern))
        if not hits:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", spec, "-d", str(wheel_dir)]
            print("fetching", spec, flush=True)
            subprocess.run(cmd, check=True)
            hits = sorted(wheel_dir.glob(pattern))
        if not hits:
            raise FileNotFoundError(f"pip did not leave {pattern} in {wheel_dir}")
        found[module] = hits[0]
    return found


def extract_members(wheel: Path, prefix: str, dest: Path) -> Path:
    """Extract the wheel's members under prefix into dest (once); return dest / prefix."""
    target = dest / prefix
    stamp = dest / (prefix.replace("/", "_") + ".done")
    if not stamp.exists():
        with zipfile.ZipFile(wheel) as zf:
            members = [n for n in zf.namelist() if n.startswith(prefix)]
            if not members:
                raise FileNotFoundError(f"{wheel} has no member under {prefix!r}")
            zf.extractall(dest, members)
        stamp.touch()
    return target


# ---------------------------------------------------------------------------------------------
# Name tables from bigearthnet-common


@dataclass
class NameTable:
    """S2 v1 patch name -> (S1 name, country), and the cloud/snow lists of BigEarthNet v1."""

    s1_country: dict[str, tuple[str, str]]
    cloudy: set[str]
    snowy: set[str]

    def lookup(self, s2_name: str) -> tuple[str, str]:
        if s2_name not in self.s1_country:
            raise KeyError(f"{s2_name} is not in BigEarthNet's s1_s2_name_country_season table")
        return self.s1_country[s2_name]


def read_name_table(ben_common_wheel: Path) -> NameTable:
    with zipfile.ZipFile(ben_common_wheel) as zf:

        def lines(member: str) -> list[str]:
            return bz2.decompress(zf.read(member)).decode().splitlines()

        rows = csv.DictReader(lines("bigearthnet_common/s1_s2_name_country_season.csv.bz2"))
        table = {r["s2_name"]: (r["s1_name"], r["country"]) for r in rows}
        cloudy = set(lines("bigearthnet_common/patches_with_cloud_and_shadow.csv.bz2"))
        snowy = set(lines("bigearthnet_common/patches_with_seasonal_snow.csv.bz2"))
    return NameTable(table, cloudy, snowy)


def tile_of(s1_name: str) -> str:
    """MGRS tile of a BigEarthNet S1 patch name: S1A_IW_GRDH_1SDV_<time>_<tile>_<col>_<row>."""
    parts = s1_name.split("_")
    if len(parts) != 8:
        raise ValueError(f"unexpected BigEarthNet S1 name {s1_name!r}")
    return parts[5]


# ---------------------------------------------------------------------------------------------
# Source readers


def read_examples(ben_common_wheel: Path, names: NameTable) -> list[Patch]:
    """The 6 example pairs of bigearthnet-common (GeoTIFF patch folders inside two tar.bz2)."""
    with zipfile.ZipFile(ben_common_wheel) as zf:
        s1_tar, s2_tar = (
            tarfile.open(fileobj=io.BytesIO(zf.read(f"bigearthnet_common/BigEarthNet-{s}-Example.tar.bz2")))
            for s in ("S1", "S2")
        )

    def member(tar: tarfile.TarFile, folder: str, suffix: str) -> bytes:
        name = f"{folder}/{Path(folder).name}_{suffix}"
        return tar.extractfile(name).read()

    s1_dirs = sorted({Path(n).parent.as_posix() for n in s1_tar.getnames() if n.endswith(".json")})
    s2_root = "BigEarthNet-S2-Example"
    patches = []
    for s1_dir in s1_dirs:
        meta = json.loads(member(s1_tar, s1_dir, "labels_metadata.json"))
        s2_name = meta["corresponding_s2_patch"]
        s2_dir = f"{s2_root}/{s2_name}"
        sar, crs, transform = _stack_tifs([member(s1_tar, s1_dir, f"{b}.tif") for b in SAR_BANDS])
        rgb, crs2, transform2 = _stack_tifs([member(s2_tar, s2_dir, f"{b}.tif") for b in RGB_BANDS])
        if crs != crs2 or transform != transform2:
            raise ValueError(f"{s1_dir} and {s2_dir} are not on the same grid")
        s1_name, country = names.lookup(s2_name)
        patches.append(Patch(
            id=s2_name, source=SRC_EXAMPLES, s1_name=Path(s1_dir).name, tile=tile_of(s1_name),
            country=country, sar_db=sar.astype(np.float32), rgb_dn=rgb.astype(np.uint16),
            crs=crs, transform=transform,
            cloudy=s2_name in names.cloudy, snowy=s2_name in names.snowy,
        ))
    return patches


def _stack_tifs(blobs: list[bytes]) -> tuple[np.ndarray, str, Affine]:
    arrays, crs, transform = [], None, None
    for blob in blobs:
        with rasterio.MemoryFile(blob) as mem, mem.open() as ds:
            arrays.append(ds.read(1))
            crs, transform = ds.crs.to_string(), ds.transform
    return np.stack(arrays), crs, transform


def read_benv2(configilm_wheel: Path, work: Path, names: NameTable) -> list[Patch]:
    """BENv2 mock: LMDB of safetensors records (S2 keyed by patch_id, S1 by s1_name)."""
    import lmdb
    import pandas as pd
    from safetensors.numpy import load

    base = extract_members(configilm_wheel, f"{_MOCK}/BENv2/", work)
    meta = pd.concat([pd.read_parquet(p) for p in sorted(base.glob("metadata*.parquet"))])
    meta = meta.drop_duplicates("patch_id").sort_values("patch_id")
    env = lmdb.open(str(base / "BigEarthNet-V2-LMDB"), readonly=True, lock=False)
    patches = []
    with env.begin() as txn:
        for row in meta.itertuples():
            s1 = load(txn.get(row.s1_name.encode()))
            s2 = load(txn.get(row.patch_id.encode()))
            patches.append(Patch(
                id=row.s2v1_name, source=SRC_BENV2, s1_name=row.s1_name, tile=tile_of(row.s1_name),
                country=row.country,
                sar_db=np.stack([s1[b] for b in SAR_BANDS]).astype(np.float32),
                rgb_dn=np.stack([s2[b] for b in RGB_BANDS]).astype(np.uint16),
                cloudy=bool(row.contains_cloud_or_shadow) or row.s2v1_name in names.cloudy,
                snowy=bool(row.contains_seasonal_snow) or row.s2v1_name in names.snowy,
            ))
    env.close()
    return patches


class _PatchState:
    """Stand-in for the pickled classes of bigearthnet-patch-interface: keeps their state."""

    def __setstate__(self, state):
        self.state = state


class _BenV1Unpickler(pickle.Unpickler):
    """Unpickle BENv1 records without their package: an allow-list of numpy reconstructors,
    every bigearthnet_patch_interface class mapped to _PatchState, anything else refused."""

    _NUMPY = {("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if module.startswith("bigearthnet_patch_interface."):
            return _PatchState
        if (module, name) in self._NUMPY:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _benv1_bands(blob: bytes) -> dict[str, np.ndarray]:
    """{band name: array} of one pickled BigEarthNet_S1_S2_Patch."""
    patch = _BenV1Unpickler(io.BytesIO(blob)).load()
    bands = {}
    for band in patch.state["bands"]:
        fields = band.state[0] if isinstance(band.state, tuple) else band.state
        fields = fields.get("__dict__", fields)
        bands[fields["name"]] = fields["data"]
    return bands


def read_benv1(configilm_wheel: Path, work: Path, names: NameTable) -> list[Patch]:
    """BENv1 mock: LMDB of pickled S1+S2 patches keyed by the S2 v1 name."""
    import lmdb

    base = extract_members(configilm_wheel, f"{_MOCK}/BENv1/", work)
    env = lmdb.open(str(base / "BigEarthNetEncoded.lmdb"), readonly=True, lock=False)
    patches = []
    with env.begin() as txn:
        for key, blob in txn.cursor():
            s2_name = key.decode()
            bands = _benv1_bands(blob)
            s1_name, country = names.lookup(s2_name)
            patches.append(Patch(
                id=s2_name, source=SRC_BENV1, s1_name=s1_name, tile=tile_of(s1_name),
                country=country,
                sar_db=np.stack([bands[b] for b in SAR_BANDS]).astype(np.float32),
                rgb_dn=np.stack([bands[b] for b in RGB_BANDS]).astype(np.uint16),
                cloudy=s2_name in names.cloudy, snowy=s2_name in names.snowy,
            ))
    env.close()
    return patches


# ---------------------------------------------------------------------------------------------
# Sources beside BigEarthNet (local folders; ../shared/data in this project's checkouts)
#
# Each reader takes the folder of one source as the data README lays it out and returns
# Patches in the shape of the BigEarthNet ones: SAR (VV, VH) in dB, RGB (B04, B03, B02) DN.

SHARED = ROOT.parent / "shared" / "data"
SOURCE_DIRS = {SRC_SEN12MSCR: "sen12mscr/pairs", SRC_SSL4EO: "ssl4eo-s12", SRC_SEN12: "sen1-2"}
ORIGINS = {
    SRC_SEN12MSCR: "SEN12MS-CR (Ebel et al. 2020, https://mediatum.ub.tum.de/1554803) test "
                   "samples as kept in GitHub Oriolac/cloud-removal @ 4c4bcc0",
    SRC_SSL4EO: "SSL4EO-S12 (Wang et al. 2022) location 0000200 as kept in GitHub "
                "rsim-tu-berlin/rico-hdl @ dc41c07 (integration_tests/tiffs/SSL4EO-S12)",
    SRC_SEN12: "SEN1-2 (Schmitt et al. 2018, https://mediatum.ub.tum.de/1436631) patches as "
               "kept in GitHub Accioy/SAR2optical @ 1178b6f",
}
LICENCES = {SRC_SEN12MSCR: "CC-BY-4.0 (SEN12MS-CR)", SRC_SSL4EO: "CC-BY-4.0 (SSL4EO-S12)",
            SRC_SEN12: "CC-BY-4.0 (SEN1-2)"}
S2_13_RGB = (4, 3, 2)  # 1-based indexes of B04, B03, B02 in 13-band B1..B12 (B8A, B10) files
SSL4EO_RGB = ("B4", "B3", "B2")
SSL4EO_LOCATION = TEST_LOCATIONS[len(TEST_COUNTRIES)]
# SEN12MS-CR test samples carry no georeference; neighbouring sample indexes of the test split
# come from the same scene, so a block of 1000 indexes is the location key (a scene proxy).
SEN12MSCR_BLOCK = 1000
# SEN1-2's 8-bit PNGs (as published) have no declared scaling. Its VV grey values sit at a
# median of 215 of 255 on every patch here: with the usual clip of [-25, 0] dB that would be
# -4 dB, 6 dB brighter than any land median of the calibrated sources. Not mixed with them.
SEN12_EXCLUDED = "excluded_unknown_scaling"


@dataclass(frozen=True)
class LevelMapping:
    """L1C -> L2A per RGB band: dn_l2a = dn_l1c + offset (clipped to >= 1, 0 stays nodata).

    Fitted by fit_l1c_to_l2a on the one place that has both products of the same day."""

    offsets: tuple[float, float, float]
    linear_fit: tuple[tuple[float, float], ...]  # (slope, intercept) per band, for the record
    source: str

    def apply(self, dn: np.ndarray) -> np.ndarray:
        out = dn.astype(np.float32) + np.asarray(self.offsets, np.float32)[:, None, None]
        return np.where(dn == 0, 0, np.clip(np.rint(out), 1, 65535)).astype(np.uint16)


def fit_l1c_to_l2a(ssl4eo: Path) -> LevelMapping:
    """The L1C -> L2A mapping from SSL4EO-S12's same-day L1C and L2A images (B04, B03, B02).

    A full linear fit is near perfect inside that scene (r > 0.999) but its slopes (1.35 to
    1.69) carry Punjab's heavy haze: applied to clearer scenes it pushes dark blue below zero.
    Only the additive part, the median difference L2A - L1C (path radiance), is applied."""
    pairs = []
    for l2a in sorted((Path(ssl4eo) / "s2a").glob("*/*")):
        l1c = Path(ssl4eo) / "s2c" / l2a.relative_to(Path(ssl4eo) / "s2a")
        if l1c.is_dir():
            pairs.append((l1c, l2a))
    if not pairs:
        raise FileNotFoundError(f"{ssl4eo} has no S2 product folder in both s2c/ (L1C) and "
                                f"s2a/ (L2A): cannot fit the L1C -> L2A mapping")
    offsets, fits = [], []
    for band in SSL4EO_RGB:
        c = np.concatenate([rasterio.open(a / f"{band}.tif").read(1).ravel() for a, _ in pairs])
        a = np.concatenate([rasterio.open(b / f"{band}.tif").read(1).ravel() for _, b in pairs])
        c, a = c.astype(np.float64), a.astype(np.float64)
        offsets.append(round(float(np.median(a - c)), 1))
        slope, intercept = np.polyfit(c, a, 1)
        fits.append((round(float(slope), 4), round(float(intercept), 1)))
    names = ", ".join(p.name[:8] for _, p in pairs)
    return LevelMapping(tuple(offsets), tuple(fits), f"SSL4EO-S12 0000200, same-day {names}")


def read_sen12mscr(folder: Path, mapping: LevelMapping) -> list[Patch]:
    """SEN12MS-CR pairs <id>_s1.tif (VV, VH dB) + <id>_s2.tif (13 bands L1C), no CRS."""
    patches = []
    for s1 in sorted(Path(folder).glob("*_s1.tif"), key=lambda p: int(p.stem.split("_")[0])):
        index = int(s1.stem.split("_")[0])
        s2 = s1.with_name(f"{index}_s2.tif")
        with warnings.catch_warnings():  # plain TIFFs: no georeference, on purpose
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            s1_ds, s2_ds = rasterio.open(s1), rasterio.open(s2)
        with s1_ds as ds:
            sar = ds.read([ds.descriptions.index(b) + 1 for b in SAR_BANDS]).astype(np.float32)
        with s2_ds as ds:
            if ds.count != 13:
                raise ValueError(f"{s2} has {ds.count} bands; expected 13 (B1..B12)")
            rgb = ds.read(list(S2_13_RGB))
        block = index // SEN12MSCR_BLOCK
        patches.append(Patch(
            id=f"sen12mscr_{index:05d}", source=SRC_SEN12MSCR, s1_name=s1.name, tile="",
            country=f"SEN12MS-CR test block {block}", sar_db=sar, rgb_dn=mapping.apply(rgb),
            level="L1C", harmonised=True, licence=LICENCES[SRC_SEN12MSCR],
            origin=ORIGINS[SRC_SEN12MSCR],
            notes=[f"test-split sample {index}; RGB L1C -> L2A by {mapping.offsets}"],
        ))
    return patches


def _ssl4eo_date(name: str) -> str:
    m = re.search(r"(\d{8})T", name)
    return f"{m.group(1)[:4]}-{m.group(1)[4:6]}-{m.group(1)[6:]}" if m else ""


def read_ssl4eo(folder: Path) -> list[Patch]:
    """SSL4EO-S12 location folders: each S1 product paired with the L2A product nearest in date;
    S1 (its own 4326 grid) resampled bilinearly onto the S2 grid."""
    from rasterio.warp import Resampling, reproject

    patches = []
    for loc in sorted((Path(folder) / "s1").iterdir()):
        s2_products = sorted((Path(folder) / "s2a" / loc.name).iterdir())
        for s1 in sorted(loc.iterdir()):
            d1 = np.datetime64(_ssl4eo_date(s1.name))
            s2 = min(s2_products, key=lambda p: abs(np.datetime64(_ssl4eo_date(p.name)) - d1))
            with rasterio.open(s2 / "B4.tif") as ref:
                crs, transform, shape = ref.crs, ref.transform, ref.shape
            rgb = np.stack([rasterio.open(s2 / f"{b}.tif").read(1) for b in SSL4EO_RGB])
            sar = np.full((2, *shape), np.nan, np.float32)
            for i, band in enumerate(SAR_BANDS):
                with rasterio.open(s1 / f"{band}.tif") as ds:
                    reproject(ds.read(1), sar[i], src_transform=ds.transform, src_crs=ds.crs,
                              dst_transform=transform, dst_crs=crs, dst_nodata=np.nan,
                              resampling=Resampling.bilinear)
            dates = f"S1 {_ssl4eo_date(s1.name)} / S2 {_ssl4eo_date(s2.name)}"
            patches.append(Patch(
                id=f"ssl4eo_{loc.name}_{_ssl4eo_date(s1.name)}", source=SRC_SSL4EO,
                s1_name=s1.name, tile=s2.name.split("_")[-1], country=SSL4EO_LOCATION,
                sar_db=sar, rgb_dn=rgb.astype(np.uint16), crs=crs.to_string(),
                transform=transform, date=dates, level="L2A", licence=LICENCES[SRC_SSL4EO],
                origin=ORIGINS[SRC_SSL4EO], notes=["S1 resampled (bilinear) onto the S2 grid"],
            ))
    return patches


def read_sen12_pngs(folder: Path) -> list[Patch]:
    """SEN1-2 as published (s1/*.png VV grey, s2/*.png RGB 8-bit), one VV band; read so the
    manifest records them, kept out of the splits (SEN12_EXCLUDED)."""
    from training.data import SEN12_OPTICAL_DN_RANGE, SEN12_SAR_DB_RANGE

    (lo, hi), (a, b) = SEN12_SAR_DB_RANGE, SEN12_OPTICAL_DN_RANGE
    patches = []
    for s1 in sorted((Path(folder) / "s1").glob("*.png")):
        s2 = Path(folder) / "s2" / s1.name.replace("_s1_", "_s2_")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            grey = rasterio.open(s1).read(1).astype(np.float32)
            rgb = rasterio.open(s2).read([1, 2, 3]).astype(np.float32)
        vv = lo + grey / 255.0 * (hi - lo)
        sar = np.stack([vv, np.full_like(vv, np.nan)])  # no VH in SEN1-2
        patches.append(Patch(
            id=f"sen12_{s1.stem}", source=SRC_SEN12, s1_name=s1.name, tile="",
            country="SEN1-2 ROIs1158_spring scene 90", sar_db=sar,
            rgb_dn=np.rint(a + rgb / 255.0 * (b - a)).astype(np.uint16), level="L1C",
            licence=LICENCES[SRC_SEN12], origin=ORIGINS[SRC_SEN12],
            notes=[f"VV only; median grey {np.median(grey):.0f}: PNG scaling unknown"],
        ))
    return patches


def read_local_sources(dirs: dict[str, Path | None]) -> tuple[list[Patch], LevelMapping | None]:
    """Every local source whose folder exists; a missing one is named with its public origin."""
    found = {k: Path(v) for k, v in dirs.items() if v is not None and Path(v).is_dir()}
    for key in dirs.keys() - found.keys():
        print(f"skipping {key}: no folder (public origin: {ORIGINS[key]})", flush=True)
    mapping = fit_l1c_to_l2a(found[SRC_SSL4EO]) if SRC_SSL4EO in found else None
    patches = []
    if SRC_SEN12MSCR in found:
        if mapping is None:
            raise ValueError("SEN12MS-CR is L1C: its L1C -> L2A mapping is fitted on SSL4EO-S12, "
                             "so give the SSL4EO-S12 folder too (--ssl4eo)")
        patches += read_sen12mscr(found[SRC_SEN12MSCR], mapping)
    if SRC_SSL4EO in found:
        patches += read_ssl4eo(found[SRC_SSL4EO])
    if SRC_SEN12 in found:
        patches += read_sen12_pngs(found[SRC_SEN12])
    return patches, mapping


# ---------------------------------------------------------------------------------------------
# Georeference, deduplication, splits


def georeference(patches: list[Patch]) -> dict[str, tuple[str, float, float]]:
    """Give LMDB patches the CRS/transform of their tile's grid, anchored on example patches.

    Returns {tile: (crs, X0, Y0)} of the anchored tiles; raises if two anchors disagree."""
    anchors: dict[str, tuple[str, float, float]] = {}
    for p in patches:
        if p.transform is None:
            continue
        col, row = p.grid
        anchor = (p.crs, p.transform.c - PATCH_M * col, p.transform.f + PATCH_M * row)
        if anchors.setdefault(p.tile, anchor) != anchor:
            raise ValueError(f"tile {p.tile}: grid anchors disagree {anchors[p.tile]} != {anchor}")
    for p in patches:
        if p.transform is None and p.tile in anchors:
            crs, x0, y0 = anchors[p.tile]
            col, row = p.grid
            p.crs = crs
            ulx, uly = x0 + PATCH_M * col, y0 - PATCH_M * row
            p.transform = Affine(PIXEL_M, 0.0, ulx, 0.0, -PIXEL_M, uly)
            p.notes.append(f"georeference derived from the {p.tile} patch grid of the examples")
    return anchors


def deduplicate(patches: list[Patch]) -> tuple[list[Patch], list[str]]:
    """Keep the first patch of each id and of each S2 pixel content, in SOURCE_ORDER."""
    ordered = sorted(patches, key=lambda p: (SOURCE_ORDER.index(p.source), p.id))
    seen_ids, seen_pixels, kept, dropped = set(), set(), [], []
    for p in ordered:
        digest = hashlib.sha256(np.ascontiguousarray(p.rgb_dn).tobytes()).hexdigest()
        if p.id in seen_ids or digest in seen_pixels:
            dropped.append(f"{p.id} ({p.source})")
            continue
        seen_ids.add(p.id)
        seen_pixels.add(digest)
        kept.append(p)
    return sorted(kept, key=lambda p: p.id), dropped


def split_of(p: Patch, keep_cloudy: bool = False) -> str:
    """The split of a patch from its location key, EXCLUDED if cloudy, SEN12_EXCLUDED for
    SEN1-2's PNGs."""
    if p.source == SRC_SEN12:
        return SEN12_EXCLUDED
    if p.cloudy and not keep_cloudy:
        return EXCLUDED
    if p.country in TEST_LOCATIONS:
        return "test"
    if p.country in VAL_LOCATIONS:
        return "val"
    return "train"


# ---------------------------------------------------------------------------------------------
# Writing


def _profile(p: Patch, count: int, dtype: str, nodata) -> dict:
    profile = dict(driver="GTiff", width=p.sar_db.shape[2], height=p.sar_db.shape[1], count=count,
                   dtype=dtype, nodata=nodata, compress="deflate",
                   predictor=3 if dtype == "float32" else 2)
    if p.transform is not None:
        profile.update(crs=p.crs, transform=p.transform)
    return profile


def _tags(p: Patch) -> dict:
    return dict(PAIR_ID=p.id, S1_NAME=p.s1_name, MGRS_TILE=p.tile, LOCATION=p.country,
                SOURCE=p.source, LICENSE=p.licence, CREDIT=CREDIT)


def write_sar(path: Path, p: Patch, linear: bool = False) -> None:
    """2-band float32 GeoTIFF (VV, VH): sigma0 in dB, or linear 10**(dB/10); nodata NaN."""
    data = np.power(10.0, p.sar_db / 10.0).astype(np.float32) if linear else p.sar_db
    _write(path, data, _profile(p, 2, "float32", float("nan")), SAR_BANDS,
           dict(_tags(p), RADIOMETRY="sigma0_linear" if linear else "sigma0_db"))


def write_rgb(path: Path, p: Patch) -> None:
    """3-band uint16 GeoTIFF (Red, Green, Blue = B04, B03, B02): reflectance x 10000 of
    TARGET_LEVEL; nodata 0 (the Sentinel-2 no-data value)."""
    _write(path, p.rgb_dn, _profile(p, 3, "uint16", 0), RGB_NAMES,
           dict(_tags(p), RADIOMETRY="reflectance_x10000", S2_BANDS=",".join(RGB_BANDS),
                S2_LEVEL=TARGET_LEVEL, SOURCE_LEVEL=p.level))


def _write(path: Path, data: np.ndarray, profile: dict, descriptions, tags: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # patches of tiles without an example anchor are written without a CRS on purpose
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path, "w", **profile) as ds:
            ds.write(data)
            ds.descriptions = tuple(descriptions)
            ds.update_tags(**tags)


def write_paired(out: Path, patches: list[Patch], splits: dict[str, list[str]]) -> None:
    """The "paired" layout: out/s1/<id>.tif, out/s2/<id>.tif, out/splits.json.

    Stale .tif files from an earlier run (ids no longer present) are removed."""
    ids = {p.id for p in patches}
    for sub in ("s1", "s2"):
        folder = out / sub
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.tif"):
            if stale.stem not in ids:
                stale.unlink()
    for p in patches:
        write_sar(out / "s1" / f"{p.id}.tif", p)
        write_rgb(out / "s2" / f"{p.id}.tif", p)
    (out / "splits.json").write_text(json.dumps(splits, indent=1) + "\n")


def manifest_entry(p: Patch, split: str) -> dict:
    dataset = "bigearthnet" if p.source in (SRC_EXAMPLES, SRC_BENV2, SRC_BENV1) else p.source
    return dict(id=p.id, source=p.source, dataset=dataset, s1_name=p.s1_name,
                location=p.country, tile=p.tile, date=p.date, split=split,
                size=list(p.rgb_dn.shape[1:]),
                s2_level=p.level, target_level=TARGET_LEVEL, harmonised=p.harmonised,
                licence=p.licence, origin=p.origin, georeferenced=p.transform is not None,
                crs=p.crs, cloud_or_shadow=p.cloudy, seasonal_snow=p.snowy, notes=p.notes)


# ---------------------------------------------------------------------------------------------
# The whole build


def load_all(cache: Path, sources: dict[str, Path | None] | None = None
             ) -> tuple[list[Patch], list[str], LevelMapping | None]:
    """Read, georeference and deduplicate every pair of BigEarthNet's three sources and of the
    local sources given ({source: folder}, see default_sources)."""
    wheels = fetch_wheels(cache)
    work = Path(cache) / "extracted"
    names = read_name_table(wheels["bigearthnet_common"])
    patches = read_examples(wheels["bigearthnet_common"], names)
    patches += read_benv2(wheels["configilm"], work, names)
    patches += read_benv1(wheels["configilm"], work, names)
    georeference(patches)
    local, mapping = read_local_sources(sources or {})
    kept, dropped = deduplicate(patches + local)
    return kept, dropped, mapping


def default_sources(shared: Path = SHARED) -> dict[str, Path | None]:
    """{source: folder under shared (../shared/data beside a checkout), None where absent}."""
    return {k: (shared / v if (shared / v).is_dir() else None) for k, v in SOURCE_DIRS.items()}


def build(out: Path, cache: Path, keep_cloudy: bool = False,
          sources: dict[str, Path | None] | None = None) -> dict:
    """Write the paired training set to out and return its manifest."""
    out = Path(out)
    patches, dropped, mapping = load_all(cache, sources)
    split_by_id = {p.id: split_of(p, keep_cloudy) for p in patches}
    kept = [p for p in patches if split_by_id[p.id] in SPLITS]
    splits = {s: sorted(i for i, v in split_by_id.items() if v == s) for s in SPLITS}
    write_paired(out, kept, splits)
    manifest = dict(
        description="Real Sentinel-1/2 pairs (see DATA.md)",
        s2_level=TARGET_LEVEL, credit=CREDIT, location_key="location",
        licences=sorted({p.licence for p in patches}),
        origins={**{"bigearthnet": BEN_ORIGIN}, **ORIGINS},
        test_locations=[x for x in TEST_LOCATIONS if x in {p.country for p in patches}],
        val_locations=[x for x in VAL_LOCATIONS if x in {p.country for p in patches}],
        level_mapping=None if mapping is None else asdict(mapping),
        duplicates_dropped=dropped,
        patches=[manifest_entry(p, split_by_id[p.id]) for p in patches],
    )
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.copyfile(Path(__file__).with_name("DATA.md"), out / "DATA.md")
    return manifest


def summary(manifest: dict) -> str:
    lines = []
    for split in (*SPLITS, EXCLUDED, SEN12_EXCLUDED):
        rows = [p for p in manifest["patches"] if p["split"] == split]
        where = sorted({p["location"] for p in rows})
        lines.append(f"{split:16s} {len(rows):3d} pairs  {', '.join(where)}")
    geo = sum(p["georeferenced"] for p in manifest["patches"])
    lines.append(f"georeferenced {geo} of {len(manifest['patches'])}; "
                 f"duplicates dropped: {len(manifest['duplicates_dropped'])}")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "s2o")
    ap.add_argument("--cache", type=Path, default=ROOT / "data" / ".cache")
    ap.add_argument("--keep-cloudy", action="store_true",
                    help="also put patches with cloud or shadow into the splits")
    found = default_sources()
    for key, sub in SOURCE_DIRS.items():
        ap.add_argument(f"--{key.replace('-s12', '').replace('-cr', 'cr')}", type=Path,
                        dest=key, default=found[key],
                        help=f"folder of {key} ({sub} of the shared data; default "
                             f"{found[key] or 'none found'}; public origin: {ORIGINS[key]})")
    ap.add_argument("--bigearthnet-only", action="store_true",
                    help="only the BigEarthNet wheels (the set of earlier releases)")
    args = ap.parse_args(argv)
    sources = {} if args.bigearthnet_only else {k: getattr(args, k) for k in SOURCE_DIRS}
    manifest = build(args.out, args.cache, args.keep_cloudy, sources)
    print(f"wrote {args.out}")
    print(summary(manifest))


if __name__ == "__main__":
    main()
