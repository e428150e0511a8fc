"""training/data.py on small files made here (each kind), on the committed real fixtures, and
training/build_data.py end to end (slow; needs the PyPI wheels)."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

from s2o_qgis_plugin.engine.radiometry import NODATA_INPUT
from training import data as D

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "data" / "bigearthnet"


# ---------------------------------------------------------------------------------------------
# helpers: write small rasters


def write_tif(path: Path, bands: np.ndarray, descriptions=None, nodata=None, driver="GTiff",
              georef=True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    count, h, w = bands.shape
    profile = dict(driver=driver, width=w, height=h, count=count, dtype=bands.dtype.name)
    if nodata is not None:
        profile["nodata"] = nodata
    if georef and driver == "GTiff":
        profile.update(crs="EPSG:32633", transform=Affine(10, 0, 400000, 0, -10, 5300000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # PNGs have no georeference
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(bands)
            if descriptions:
                ds.descriptions = tuple(descriptions)
    return path


def write_paired(root: Path, pid: str, sar_db: np.ndarray, rgb: np.ndarray,
                 descriptions=("VV", "VH"), nodata=float("nan")) -> None:
    write_tif(root / "s1" / f"{pid}.tif", sar_db.astype(np.float32), descriptions, nodata)
    write_tif(root / "s2" / f"{pid}.tif", rgb.astype(np.uint16), ("Red", "Green", "Blue"), 0)


def index_pair(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """SAR and optical whose network values are both 2 k / (h w - 1) - 1 at pixel k = r w + c,
    so that any crop/flip can be checked to act the same on both (and be undone)."""
    k = np.arange(h * w, dtype=np.float64).reshape(h, w) / (h * w - 1)
    vv = -25.0 + 25.0 * k
    vh = -32.5 + 32.5 * k
    rgb = np.stack([np.round(3000.0 * k)] * 3)
    return np.stack([vv, vh]), rgb


def random_pair(rng, h=24, w=24):
    sar = rng.uniform(-30, 3, size=(2, h, w))
    rgb = rng.integers(1, 5000, size=(3, h, w))
    return sar, rgb


# ---------------------------------------------------------------------------------------------
# the real fixtures


def test_real_fixtures_load_as_paired_with_their_splits():
    splits = json.loads((FIXTURES / "splits.json").read_text())
    seen = []
    for split in D.SPLITS:
        ds = D.make_dataset("paired", FIXTURES, split)
        assert ds.ids == sorted(splits[split])
        seen += ds.ids
        sample = ds[0]
        assert sample["sar"].shape == (2, 120, 120) and sample["sar"].dtype == torch.float32
        assert sample["optical"].shape == (3, 120, 120)
        for key in ("sar", "optical"):
            assert -1.0 <= float(sample[key].min()) and float(sample[key].max()) <= 1.0
    assert len(seen) == len(set(seen)) == 6


def test_real_fixture_scaling_matches_the_files():
    pid = "S2A_MSIL2A_20170613T101031_87_48"
    ds = D.make_dataset("paired", FIXTURES, "train")
    sample = ds[ds.ids.index(pid)]
    with rasterio.open(FIXTURES / "s1" / f"{pid}.tif") as src:
        vv, vh = src.read().astype(np.float64)
        assert src.descriptions == ("VV", "VH") and src.crs.to_epsg() == 32633
    with rasterio.open(FIXTURES / "s2" / f"{pid}.tif") as src:
        red = src.read(1).astype(np.float64)
    np.testing.assert_allclose(sample["sar"][0], 2 * (np.clip(vv, -25, 0) + 25) / 25 - 1,
                               atol=1e-5)
    np.testing.assert_allclose(sample["sar"][1], 2 * (np.clip(vh, -32.5, 0) + 32.5) / 32.5 - 1,
                               atol=1e-5)
    np.testing.assert_allclose(sample["optical"][0], 2 * np.clip(red, 0, 3000) / 3000 - 1,
                               atol=1e-5)


def test_linear_fixture_is_ten_to_the_db_over_ten():
    pid = "S2A_MSIL2A_20170613T101031_87_48"
    with rasterio.open(FIXTURES / "s1" / f"{pid}.tif") as db, \
            rasterio.open(FIXTURES / "s1_linear" / f"{pid}.tif") as lin:
        np.testing.assert_allclose(lin.read(), 10 ** (db.read() / 10), rtol=1e-5)
        assert lin.transform == db.transform and lin.tags()["RADIOMETRY"] == "sigma0_linear"


def test_mosaic_fixture_is_georeferenced_240_by_360():
    with rasterio.open(FIXTURES / "s1_mosaic.tif") as s1, \
            rasterio.open(FIXTURES / "s2_mosaic.tif") as s2:
        assert (s1.width, s1.height, s1.count) == (240, 360, 2)
        assert s1.descriptions == ("VV", "VH") and s2.descriptions == ("Red", "Green", "Blue")
        assert s1.crs.to_epsg() == 32633 == s2.crs.to_epsg()
        assert s1.transform == s2.transform == Affine(10, 0, 344400, 0, -10, 5294400)


# ---------------------------------------------------------------------------------------------
# paired: scaling numbers, nodata, band selection


def test_paired_scaling_of_known_values(tmp_path):
    vv = np.array([[-30.0, -25.0, -12.5, 0.0, 5.0, np.nan]])
    vh = np.array([[-40.0, -32.5, -16.25, 0.0, 1.0, -16.25]])
    rgb = np.array([[0, 750, 1500, 3000, 6000, 1500]] * 3)[:, None, :]
    write_paired(tmp_path, "a", np.stack([vv, vh]), rgb)
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a"], "val": [], "test": []}))
    sample = D.make_dataset("paired", tmp_path, "train")[0]
    nd = NODATA_INPUT
    np.testing.assert_allclose(sample["sar"][0, 0], [-1, -1, 0, 1, 1, nd], atol=1e-6)
    # VV's NaN makes every band NODATA_INPUT there, as the engine feeds nodata (VH's -16.25 dB
    # is not used: the pixel is nodata in every band)
    np.testing.assert_allclose(sample["sar"][1, 0], [-1, -1, 0, 1, 1, nd], atol=1e-6)
    np.testing.assert_allclose(sample["optical"][0, 0], [-1, -0.5, 0, 1, 1, 0], atol=1e-6)
    # NaN SAR and optical nodata 0 are invalid
    np.testing.assert_array_equal(sample["valid"][0, 0], [0, 1, 1, 1, 1, 0])


def test_paired_custom_ranges_and_declared_nodata(tmp_path):
    sar = np.array([[[-9999.0, -20.0, -10.0]], [[-30.0, -15.0, -9999.0]]])
    rgb = np.array([[[1000, 2000, 3000]]] * 3)
    write_paired(tmp_path, "a", sar, rgb, nodata=-9999.0)
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a"], "val": [], "test": []}))
    ds = D.make_dataset("paired", tmp_path, "train", sar_db_range={"VV": (-20, -10),
                                                                    "VH": (-30, 0)},
                        optical_dn_range=(1000, 2000))
    sample = ds[0]
    nd = NODATA_INPUT
    np.testing.assert_allclose(sample["sar"][0, 0], [nd, -1, nd], atol=1e-6)  # VH nodata at 2
    np.testing.assert_allclose(sample["sar"][1, 0], [nd, 0, nd], atol=1e-6)
    np.testing.assert_allclose(sample["optical"][2, 0], [-1, 1, 1], atol=1e-6)
    np.testing.assert_array_equal(sample["valid"][0, 0], [0, 1, 0])


def test_in_bands_follow_descriptions_not_file_order(tmp_path):
    sar = np.stack([np.full((1, 4, 4), -16.25), np.full((1, 4, 4), -12.5)])[:, 0]
    write_paired(tmp_path, "a", sar, np.ones((3, 4, 4)), descriptions=("VH", "VV"))
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a"]}))
    vv_only = D.make_dataset("paired", tmp_path, "train", in_bands=("VV",))[0]["sar"]
    assert vv_only.shape == (1, 4, 4) and torch.allclose(vv_only, torch.zeros(1, 4, 4))
    both = D.make_dataset("paired", tmp_path, "train", in_bands=("VV", "VH"))[0]["sar"]
    assert torch.allclose(both, torch.zeros(2, 4, 4))  # VV -12.5 of [-25, 0], VH -16.25 of -32.5


@pytest.mark.parametrize("given, expected", [
    (None, ((-25.0, 0.0), (-32.5, 0.0))),
    ({"VV": (-20, 0), "VH": (-30, -5)}, ((-20.0, 0.0), (-30.0, -5.0))),
    ([(-20, 0), (-30, -5)], ((-20.0, 0.0), (-30.0, -5.0))),
    ((-20, 0, -30, -5), ((-20.0, 0.0), (-30.0, -5.0))),
])
def test_resolve_sar_db_range(given, expected):
    assert D.resolve_sar_db_range(("VV", "VH"), given) == expected


def test_resolve_sar_db_range_flat_config_order_for_one_band():
    assert D.resolve_sar_db_range(("VH",), (-25, 0, -32.5, 0)) == ((-32.5, 0.0),)
    with pytest.raises(ValueError, match="lo < hi"):
        D.resolve_sar_db_range(("VV",), [(0, -25)])


# ---------------------------------------------------------------------------------------------
# augmentation


def undo(values: torch.Tensor, h: int, w: int) -> np.ndarray:
    """Pixel indexes k = r w + c from network values 2 k / (h w - 1) - 1."""
    return np.rint((values.numpy().astype(np.float64) + 1) / 2 * (h * w - 1)).astype(int)


def test_crop_and_flips_are_the_same_for_both_modalities(tmp_path):
    h, w = 20, 16
    sar, rgb = index_pair(h, w)
    write_paired(tmp_path, "a", sar, rgb)
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a"] * 8}))
    ds = D.make_dataset("paired", tmp_path, "train", crop=(8, 6), augment=True, seed=3)
    flips = set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            s = ds[i]
            assert s["sar"].shape == (2, 8, 6) and s["optical"].shape == (3, 8, 6)
            k_sar = undo(s["sar"][0], h, w)
            k_vh = undo(s["sar"][1], h, w)
            k_opt = undo(s["optical"][1], h, w)
            np.testing.assert_array_equal(k_sar, k_vh)
            # optical DN were rounded to integers: within one index step of the SAR
            assert np.abs(k_sar - k_opt).max() <= 1
            rows, cols = k_sar // w, k_sar % w
            # a contiguous window, possibly flipped along each axis
            assert len(set(np.ptp(rows, axis=0))) == 1 and np.ptp(rows) == 7
            assert len(set(np.ptp(cols, axis=1))) == 1 and np.ptp(cols) == 5
            flips.add((bool(cols[0, 0] > cols[0, -1]), bool(rows[0, 0] > rows[-1, 0])))
    assert flips == {(False, False), (False, True), (True, False), (True, True)}


def test_augmentation_is_a_function_of_seed_epoch_index(tmp_path):
    sar, rgb = random_pair(np.random.default_rng(0), 32, 32)
    write_paired(tmp_path, "a", sar, rgb)
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a", "a"]}))

    def draw(seed, epoch, index):
        ds = D.make_dataset("paired", tmp_path, "train", crop=16, augment=True, seed=seed)
        ds.set_epoch(epoch)
        return ds[index]["sar"]

    assert torch.equal(draw(1, 2, 0), draw(1, 2, 0))
    assert not torch.equal(draw(1, 2, 0), draw(1, 3, 0))
    assert not torch.equal(draw(1, 2, 0), draw(2, 2, 0))
    assert not torch.equal(draw(1, 2, 0), draw(1, 2, 1))


def augmented_sample(root, index, epoch, **options):
    """Sample ``index`` of the augmented train split of ``root`` at ``epoch`` (seed 5, quarter
    turns): two calls differing only in one SAR option draw the same window and flips."""
    ds = D.make_dataset("paired", root, "train", augment=True, seed=5, rot90=True, **options)
    ds.set_epoch(epoch)
    return ds[index]


def test_sar_jitter_shifts_every_sar_band_by_one_offset_and_leaves_optical(tmp_path):
    sar, rgb = random_pair(np.random.default_rng(1), 16, 16)
    sar[0, 0, 0] = np.nan  # nodata stays nodata
    write_paired(tmp_path, "a", sar, rgb)
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a"] * 6}))
    wide = ((-60.0, 40.0), (-60.0, 40.0))  # no clipping: offsets read back exactly

    def sample(jitter, index):
        return augmented_sample(tmp_path, index, epoch=1, sar_jitter_db=jitter,
                                sar_db_range=wide)

    offsets = []
    for i in range(6):
        plain, jittered = sample(0.0, i), sample(2.0, i)
        assert torch.equal(plain["optical"], jittered["optical"])  # same window, same flips
        assert torch.equal(plain["valid"], jittered["valid"])
        d_db = (jittered["sar"] - plain["sar"]).numpy() * 50.0  # network units -> dB
        ok = plain["valid"][0].numpy() > 0
        d = d_db[:, ok]
        np.testing.assert_allclose(d, d.flat[0], atol=1e-3)  # one offset for both bands
        offsets.append(float(d.flat[0]))
    assert len({round(o, 3) for o in offsets}) == 6 and 0.5 < np.std(offsets) < 5
    assert torch.equal(sample(2.0, 3)["sar"], sample(2.0, 3)["sar"])  # (seed, epoch, index)


def test_blur_valid_smooths_keeps_means_and_leaves_nodata_out():
    rng = np.random.default_rng(3)
    bands = rng.normal(-12.0, 2.0, (2, 32, 32)).astype(np.float32)
    bands[:, :, 16:] += 6.0  # a brighter right half
    bands[1, 5, 5] = np.nan
    out = D.blur_valid(bands, 1.5)
    assert np.isnan(out[1, 5, 5])
    assert np.isfinite(np.delete(out.ravel(), 32 * 32 + 5 * 32 + 5)).all()
    assert out[:, 8:24, 2:14].std() < 0.5 * bands[:, 8:24, 2:14].std()  # speckle smoothed
    # the levels on either side are kept (away from the edge between them)
    assert abs(np.nanmean(out[:, :, :12]) - np.nanmean(bands[:, :, :12])) < 0.1
    assert abs(np.nanmean(out[:, :, 20:]) - np.nanmean(bands[:, :, 20:])) < 0.1
    # a nodata pixel does not drag its neighbours: NaN is not averaged in as any value
    flat = np.full((1, 9, 9), -10.0, np.float32)
    flat[0, 4, 4] = np.nan
    np.testing.assert_allclose(np.delete(D.blur_valid(flat, 2.0).ravel(), 40), -10.0, atol=1e-5)
    assert D.blur_valid(bands, 0.0) is bands


def test_sar_blur_smooths_sar_only_with_the_same_window_and_flips(tmp_path):
    sar, rgb = random_pair(np.random.default_rng(1), 24, 24)
    write_paired(tmp_path, "a", sar, rgb)
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a"] * 4}))

    def sample(blur, index):
        return augmented_sample(tmp_path, index, epoch=2, crop=16, sar_jitter_db=1.0,
                                sar_blur_px=blur)

    spreads = []
    for i in range(4):
        plain, blurred = sample(0.0, i), sample(2.0, i)
        assert torch.equal(plain["optical"], blurred["optical"])  # same window, same flips
        assert torch.equal(plain["valid"], blurred["valid"])
        # the same jitter offset: the band means agree to the blur's edge effects
        assert abs(float(plain["sar"].mean() - blurred["sar"].mean())) < 0.05
        spreads.append(float(blurred["sar"].std() / plain["sar"].std()))
    assert max(spreads) < 1.0 and len({round(v, 4) for v in spreads}) == 4  # random widths
    assert torch.equal(sample(2.0, 1)["sar"], sample(2.0, 1)["sar"])  # (seed, epoch, index)


def test_without_augment_crop_is_the_centre(tmp_path):
    h, w = 10, 12
    sar, rgb = index_pair(h, w)
    write_paired(tmp_path, "a", sar, rgb)
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a"]}))
    s = D.make_dataset("paired", tmp_path, "train", crop=4)[0]
    k = undo(s["sar"][0], h, w)
    assert k[0, 0] == 3 * w + 4 and k[-1, -1] == 6 * w + 7


def test_crop_larger_than_sample_is_an_error(tmp_path):
    write_paired(tmp_path, "a", np.zeros((2, 8, 8)) - 10, np.ones((3, 8, 8)))
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a"]}))
    with pytest.raises(ValueError, match="larger than pair a"):
        D.make_dataset("paired", tmp_path, "train", crop=9)[0]


# ---------------------------------------------------------------------------------------------
# splits


def test_hash_split_is_deterministic_disjoint_and_complete(tmp_path):
    rng = np.random.default_rng(1)
    ids = [f"p{i:03d}" for i in range(60)]
    for pid in ids:
        write_paired(tmp_path, pid, *random_pair(rng, 4, 4))
    parts = {s: D.make_dataset("paired", tmp_path, s).ids for s in D.SPLITS}
    assert sorted(sum(parts.values(), [])) == ids
    assert all(set(parts[a]).isdisjoint(parts[b]) for a in D.SPLITS for b in D.SPLITS if a < b)
    assert parts == {s: D.make_dataset("paired", tmp_path, s).ids for s in D.SPLITS}
    assert all(parts[s] == [i for i in ids if D.location_split(i) == s] for s in D.SPLITS)
    assert 36 <= len(parts["train"]) <= 56


def test_location_split_fractions():
    counts = {s: 0 for s in D.SPLITS}
    for i in range(2000):
        counts[D.location_split(f"loc{i}")] += 1
    assert 1500 < counts["train"] < 1700 and 120 < counts["val"] < 280


# ---------------------------------------------------------------------------------------------
# sen12 (PNG)


def make_sen12(root: Path, seasons=("ROIs1158_spring", "ROIs1868_summer"), scenes=8,
               patches=2) -> None:
    rng = np.random.default_rng(5)
    for season in seasons:
        for n in range(1, scenes + 1):
            for p in range(1, patches + 1):
                grey = rng.integers(0, 256, size=(1, 8, 8), dtype=np.uint8)
                grey[0, 0, :4] = [0, 51, 204, 255]
                rgb = rng.integers(0, 256, size=(3, 8, 8), dtype=np.uint8)
                rgb[:, 0, :4] = [[0, 51, 204, 255]] * 3
                name = f"{season}_s{{}}_{n}_p{p}.png"
                write_tif(root / season / f"s1_{n}" / name.format(1), grey, driver="PNG")
                write_tif(root / season / f"s2_{n}" / name.format(2), rgb, driver="PNG")


def test_sen12_grey_scaling_and_roi_splits(tmp_path):
    make_sen12(tmp_path)
    parts = {s: D.make_dataset("sen12", tmp_path, s, in_bands=("VV",)) for s in D.SPLITS}
    assert sum(len(d) for d in parts.values()) == 2 * 8 * 2
    scenes = {s: {i.rsplit("/", 1)[0] for i in d.ids} for s, d in parts.items()}
    assert all(scenes[a].isdisjoint(scenes[b]) for a in D.SPLITS for b in D.SPLITS if a < b)
    sample = parts["train"][0]
    assert sample["sar"].shape == (1, 8, 8) and sample["optical"].shape == (3, 8, 8)
    expected = [-1.0, 51 / 127.5 - 1, 204 / 127.5 - 1, 1.0]
    np.testing.assert_allclose(sample["sar"][0, 0, :4], expected, atol=1e-6)
    np.testing.assert_allclose(sample["optical"][:, 0, :4], [expected] * 3, atol=1e-6)


def test_sen12_declared_png_ranges(tmp_path):
    make_sen12(tmp_path, seasons=("ROIs1158_spring",), scenes=1, patches=1)
    (tmp_path / "splits.json").write_text(json.dumps(
        {"train": ["ROIs1158_spring/s1_1/ROIs1158_spring_s1_1_p1"]}))
    ds = D.make_dataset("sen12", tmp_path, "train", in_bands=("VV",),
                        png_sar_db_range=(-30, 0), png_optical_dn_range=(0, 6000))
    s = ds[0]
    # grey 51 -> -24 dB -> 2 * 1 / 25 - 1; grey 51 -> 1200 DN -> 2 * 1200 / 3000 - 1
    np.testing.assert_allclose(s["sar"][0, 0, :2], [-1.0, -0.92], atol=1e-5)
    np.testing.assert_allclose(s["optical"][0, 0, :4], [-1.0, -0.2, 1.0, 1.0], atol=1e-5)


def test_sen12_refuses_vh_and_missing_twin(tmp_path):
    make_sen12(tmp_path, seasons=("ROIs1158_spring",), scenes=1, patches=1)
    with pytest.raises(ValueError, match="VV only"):
        D.make_dataset("sen12", tmp_path, "train")
    next((tmp_path / "ROIs1158_spring" / "s2_1").glob("*.png")).unlink()
    with pytest.raises(FileNotFoundError, match="s2_1"):
        D.make_dataset("sen12", tmp_path, "train", in_bands=("VV",))


# ---------------------------------------------------------------------------------------------
# sen12ms (GeoTIFF, 13-band S2)


@pytest.mark.parametrize("cr_layout", [False, True])
def test_sen12ms_rgb_bands_and_scene_splits(tmp_path, cr_layout):
    for scene in range(1, 11):
        season = ("ROIs1158_spring_s{}" if cr_layout else "ROIs1158_spring").format
        s1_dir, s2_dir = f"{season(1)}/s1_{scene}", f"{season(2)}/s2_{scene}"
        sar = np.stack([np.full((6, 6), -12.5), np.full((6, 6), -32.5)])
        s2 = np.stack([np.full((6, 6), 100 * b) for b in range(1, 14)]).astype(np.uint16)
        write_tif(tmp_path / s1_dir / f"ROIs1158_spring_s1_{scene}_p1.tif",
                  sar.astype(np.float32))
        write_tif(tmp_path / s2_dir / f"ROIs1158_spring_s2_{scene}_p1.tif", s2)
    for split in D.SPLITS:  # whole scenes (season + s1_<n>) go to one split
        scenes = [n for n in range(1, 11) if D.location_split(f"ROIs1158_spring/s1_{n}") == split]
        if not scenes:
            with pytest.raises(ValueError, match="is empty"):
                D.make_dataset("sen12ms", tmp_path, split)
            continue
        ids = D.make_dataset("sen12ms", tmp_path, split).ids
        assert sorted(int(i.split("/")[1].split("_")[1]) for i in ids) == scenes
    sample = D.make_dataset("sen12ms", tmp_path, "train", in_bands=("VH", "VV"))[0]
    np.testing.assert_allclose(sample["sar"][:, 0, 0], [-1.0, 0.0], atol=1e-6)
    # R, G, B = bands 4, 3, 2 = 400, 300, 200 DN over [0, 3000]
    np.testing.assert_allclose(sample["optical"][:, 0, 0], [400 / 1500 - 1, 300 / 1500 - 1,
                                                           200 / 1500 - 1], atol=1e-6)


def test_sen12ms_wrong_band_count_is_an_error(tmp_path):
    write_tif(tmp_path / "ROIs1_x/s1_1/ROIs1_x_s1_1_p1.tif", np.zeros((1, 4, 4), np.float32))
    write_tif(tmp_path / "ROIs1_x/s2_1/ROIs1_x_s2_1_p1.tif", np.ones((13, 4, 4), np.uint16))
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["ROIs1_x/s1_1/ROIs1_x_s1_1_p1"]}))
    with pytest.raises(ValueError, match="expected 2"):
        D.make_dataset("sen12ms", tmp_path, "train")[0]


# ---------------------------------------------------------------------------------------------
# bigearthnet (patch folders)

BEN_PAIRS = [  # (s1 name, s2 name): tiles 33UUP x 3, 29UPU x 2, 35VPK, 34WFS
    (f"S1A_IW_GRDH_1SDV_20170613T165043_{tile}_{c}_{r}", f"S2A_MSIL2A_20170613T101031_{c}_{r}")
    for tile, c, r in [("33UUP", 1, 1), ("33UUP", 1, 2), ("33UUP", 2, 1), ("29UPU", 5, 5),
                       ("29UPU", 6, 5), ("35VPK", 7, 7), ("34WFS", 8, 8)]
]


def make_ben(root: Path, with_json=True) -> None:
    for s1, s2 in BEN_PAIRS:
        for b, value in (("VV", -12.5), ("VH", -16.25)):
            write_tif(root / "S1" / s1 / f"{s1}_{b}.tif", np.full((1, 5, 5), value, np.float32))
        for b, value in (("B02", 200), ("B03", 300), ("B04", 400), ("B08", 800)):
            write_tif(root / "S2" / s2 / f"{s2}_{b}.tif", np.full((1, 5, 5), value, np.uint16))
        if with_json:
            meta = {"corresponding_s2_patch": s2}
            (root / "S1" / s1 / f"{s1}_labels_metadata.json").write_text(json.dumps(meta))


def test_bigearthnet_folders_pair_by_metadata_and_split_by_tile(tmp_path):
    make_ben(tmp_path)
    parts = {}
    for split in D.SPLITS:  # whole MGRS tiles go to one split
        expected = sorted(s2 for s1, s2 in BEN_PAIRS
                          if D.location_split(s1.split("_")[5]) == split)
        if not expected:
            with pytest.raises(ValueError, match="is empty"):
                D.make_dataset("bigearthnet", tmp_path, split)
        else:
            assert D.make_dataset("bigearthnet", tmp_path, split).ids == expected
        parts[split] = expected
    assert sorted(sum(parts.values(), [])) == sorted(s2 for _, s2 in BEN_PAIRS)
    split = next(s for s in D.SPLITS if parts[s])
    sample = D.make_dataset("bigearthnet", tmp_path, split)[0]
    np.testing.assert_allclose(sample["sar"][:, 0, 0], [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(sample["optical"][:, 0, 0],
                               [400 / 1500 - 1, 300 / 1500 - 1, 200 / 1500 - 1], atol=1e-6)


def test_bigearthnet_mapping_table_with_split_column(tmp_path):
    make_ben(tmp_path, with_json=False)
    with pytest.raises(FileNotFoundError, match="labels_metadata.json"):
        D.make_dataset("bigearthnet", tmp_path, "train")
    rows = ["s1_name,s2_name,split"] + [f"{s1},{s2},{'test' if k < 2 else 'train'}"
                                         for k, (s1, s2) in enumerate(BEN_PAIRS)]
    (tmp_path / "map.csv").write_text("\n".join(rows) + "\n")
    test = D.make_dataset("bigearthnet", tmp_path, "test", mapping=tmp_path / "map.csv")
    assert test.ids == sorted(s2 for _, s2 in BEN_PAIRS[:2])
    train = D.make_dataset("bigearthnet", tmp_path, "train", mapping=tmp_path / "map.csv")
    assert len(train) == len(BEN_PAIRS) - 2


def test_bigearthnet_missing_s2_folder(tmp_path):
    make_ben(tmp_path)
    s2 = BEN_PAIRS[0][1]
    for f in (tmp_path / "S2" / s2).iterdir():
        f.unlink()
    (tmp_path / "S2" / s2).rmdir()
    with pytest.raises(FileNotFoundError, match=s2):
        D.make_dataset("bigearthnet", tmp_path, "train")


# ---------------------------------------------------------------------------------------------
# errors


def test_errors_name_the_path_and_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        D.make_dataset("paired", tmp_path / "nope", "train")
    with pytest.raises(FileNotFoundError, match=r"s1 is missing.*s2/<id>.tif"):
        D.make_dataset("paired", tmp_path, "train")
    (tmp_path / "s1").mkdir()
    (tmp_path / "s2").mkdir()
    with pytest.raises(FileNotFoundError, match=f"no paired pairs under {tmp_path}"):
        D.make_dataset("paired", tmp_path, "train")
    with pytest.raises(FileNotFoundError, match=f"no sen12ms pairs under {tmp_path}"):
        D.make_dataset("sen12ms", tmp_path, "train")
    with pytest.raises(ValueError, match="unknown dataset kind"):
        D.make_dataset("sen2", tmp_path, "train")
    write_paired(tmp_path, "a", np.zeros((2, 4, 4)), np.ones((3, 4, 4)))
    write_tif(tmp_path / "s1" / "b.tif", np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"only one of s1/<id>.tif and s2/<id>.tif, e.g. \['b'\]"):
        D.make_dataset("paired", tmp_path, "train")
    (tmp_path / "s1" / "b.tif").unlink()
    with pytest.raises(ValueError, match="unknown split"):
        D.make_dataset("paired", tmp_path, "training")
    with pytest.raises(ValueError, match="in_bands"):
        D.make_dataset("paired", tmp_path, "train", in_bands=("HH",))
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a", "zz"]}))
    with pytest.raises(FileNotFoundError, match=r"splits.json lists 1 id.*'zz'"):
        D.make_dataset("paired", tmp_path, "train")
    (tmp_path / "splits.json").write_text("{not json")
    with pytest.raises(ValueError, match="splits.json must be JSON"):
        D.make_dataset("paired", tmp_path, "train")
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a"], "val": []}))
    with pytest.raises(ValueError, match="split 'val' .* is empty"):
        D.make_dataset("paired", tmp_path, "val")
    write_tif(tmp_path / "s2" / "a.tif", np.ones((4, 4, 4), np.uint16))
    with pytest.raises(ValueError, match="has 4 band"):
        D.make_dataset("paired", tmp_path, "train")[0]


def test_dataloader_batches_samples(tmp_path):
    rng = np.random.default_rng(2)
    for pid in "abcd":
        write_paired(tmp_path, pid, *random_pair(rng, 16, 16))
    (tmp_path / "splits.json").write_text(json.dumps({"train": list("abcd")}))
    ds = D.make_dataset("paired", tmp_path, "train", crop=8, augment=True)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["sar"].shape == (4, 2, 8, 8) and batch["optical"].shape == (4, 3, 8, 8)
    assert batch["id"] == list("abcd")


# ---------------------------------------------------------------------------------------------
# build_data.py end to end (real wheels from PyPI, fetched into a temporary folder)


@pytest.mark.slow
def test_build_data_end_to_end(tmp_path, ben_wheel_cache):
    from training import build_data

    spec = importlib.util.spec_from_file_location("make_fixtures",
                                                  ROOT / "tests" / "data" / "make_fixtures.py")
    make_fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_fixtures)

    cache = ben_wheel_cache
    out = tmp_path / "ben"
    manifest = build_data.build(out, cache)
    splits = json.loads((out / "splits.json").read_text())
    counts = {s: len(splits[s]) for s in D.SPLITS}
    assert counts == {"train": 45, "val": 6, "test": 6}
    rows = {p["id"]: p for p in manifest["patches"]}
    assert len(rows) == 60 and sum(p["split"] == "excluded_cloudy" for p in rows.values()) == 3
    locations = {s: {rows[i]["location"] for i in ids} for s, ids in splits.items()}
    assert locations["test"] == {"Portugal", "Serbia"}
    assert locations["train"].isdisjoint(locations["test"] | locations["val"])
    assert locations["val"].isdisjoint(locations["test"])
    assert (out / "DATA.md").exists()
    # derived georeference of a BENv2 patch next to the 33UUP example grid
    with rasterio.open(out / "s1" / "S2A_MSIL2A_20170613T101031_37_88.tif") as ds:
        assert ds.crs.to_epsg() == 32633
        assert ds.transform == Affine(10, 0, 300000 + 1200 * 37, 0, -10, 5400000 - 1200 * 88)
    # the whole set loads; a second build is idempotent
    assert len(D.make_dataset("paired", out, "train")) == 45
    build_data.build(out, cache)
    assert json.loads((out / "splits.json").read_text()) == splits
    # the committed fixtures are what the generator writes
    fixtures = tmp_path / "fixtures"
    make_fixtures.make(fixtures, cache)
    committed = sorted(p.relative_to(FIXTURES) for p in FIXTURES.rglob("*.tif"))
    assert committed == sorted(p.relative_to(fixtures) for p in fixtures.rglob("*.tif"))
    for rel in committed:
        with rasterio.open(FIXTURES / rel) as a, rasterio.open(fixtures / rel) as b:
            # float rasters within an ulp: 10**(dB/10) rounds differently across CPUs' SIMD
            np.testing.assert_allclose(a.read(), b.read(), rtol=3e-7, atol=0)
            assert a.transform == b.transform and a.crs == b.crs
    assert (fixtures / "splits.json").read_text() == (FIXTURES / "splits.json").read_text()


def test_quarter_turns_act_the_same_on_both_modalities(tmp_path):
    h = w = 12
    sar, rgb = index_pair(h, w)
    write_paired(tmp_path, "a", sar, rgb)
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a"] * 16}))
    ds = D.make_dataset("paired", tmp_path, "train", crop=8, augment=True, seed=1, rot90=True)
    transposed = 0
    for i in range(len(ds)):
        s = ds[i]
        k_sar, k_opt = undo(s["sar"][0], h, w), undo(s["optical"][1], h, w)
        assert np.abs(k_sar - k_opt).max() <= 1
        rows = k_sar // w
        transposed += int(np.ptp(rows[0]) > 0)  # a quarter turn makes rows run along x
    assert 0 < transposed < len(ds)  # some samples turned by 90/270 degrees, some not
    plain = D.make_dataset("paired", tmp_path, "train", crop=8, augment=True, seed=1)
    assert all(np.ptp(undo(plain[i]["sar"][0], h, w) // w, axis=1).max() == 0
               for i in range(len(plain)))


def test_balance_repeats_the_smaller_dataset(tmp_path):
    rng = np.random.default_rng(0)
    ids = {"big": [f"b{i}" for i in range(6)], "small": ["s0", "s1"]}
    for group in ids.values():
        for pid in group:
            write_paired(tmp_path, pid, *random_pair(rng, 8, 8))
    (tmp_path / "splits.json").write_text(json.dumps({"train": sum(ids.values(), [])}))
    with pytest.raises(FileNotFoundError, match="MANIFEST.json"):
        D.make_dataset("paired", tmp_path, "train", balance=True)
    patches = [{"id": p, "source": "x", "dataset": g} for g, v in ids.items() for p in v]
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"patches": patches}))
    ds = D.make_dataset("paired", tmp_path, "train", balance=True)
    counts = {pid: ds.ids.count(pid) for pid in sum(ids.values(), [])}
    assert counts == {**dict.fromkeys(ids["big"], 1), **dict.fromkeys(ids["small"], 3)}
    assert len(D.make_dataset("paired", tmp_path, "train")) == 8
