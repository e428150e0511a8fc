"""training/build_data.py on the real sources beside BigEarthNet (../shared/data): SEN12MS-CR,
SSL4EO-S12, SEN1-2; the L1C -> L2A mapping; one set with a manifest row per pair. Skipped
where ../shared/data is absent (a user's checkout)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from training import build_data as B
from training import data as D

SHARED = B.SHARED
pytestmark = pytest.mark.skipif(
    not all((SHARED / sub).is_dir() for sub in B.SOURCE_DIRS.values()),
    reason=f"the shared real data ({SHARED}) is not beside this checkout",
)


@pytest.fixture(scope="module")
def mapping():
    return B.fit_l1c_to_l2a(SHARED / B.SOURCE_DIRS[B.SRC_SSL4EO])


def test_level_mapping_is_fitted_on_the_same_day_products(mapping):
    assert "20200604" in mapping.source  # the only date with both L1C and L2A
    red, green, blue = mapping.offsets
    assert blue < green < red < 0  # path radiance: largest in blue, surface darker than TOA
    assert all(slope > 1 for slope, _ in mapping.linear_fit)
    dn = np.array([[[0, 500]], [[0, 500]], [[0, 100]]], np.uint16)
    out = mapping.apply(dn)
    assert out[:, 0, 0].tolist() == [0, 0, 0]  # nodata stays nodata
    assert out[0, 0, 1] == round(500 + red) and out[2, 0, 1] == 1  # clipped above nodata


def test_sen12mscr_pairs_are_read_and_harmonised(mapping):
    folder = SHARED / B.SOURCE_DIRS[B.SRC_SEN12MSCR]
    patches = B.read_sen12mscr(folder, mapping)
    assert len(patches) == 20
    p = next(x for x in patches if x.id == "sen12mscr_02266")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        raw_rgb = rasterio.open(folder / "2266_s2.tif").read([4, 3, 2]).astype(float)
        raw_sar = rasterio.open(folder / "2266_s1.tif").read()
    np.testing.assert_array_equal(p.sar_db, raw_sar)
    expected = np.clip(np.rint(raw_rgb + np.array(mapping.offsets)[:, None, None]), 1, None)
    np.testing.assert_array_equal(p.rgb_dn, expected)
    assert p.level == "L1C" and p.harmonised and p.country == "SEN12MS-CR test block 2"


def test_ssl4eo_s1_is_resampled_onto_the_s2_grid():
    folder = SHARED / B.SOURCE_DIRS[B.SRC_SSL4EO]
    patches = B.read_ssl4eo(folder)
    assert [p.date for p in patches] == ["S1 2020-06-07 / S2 2020-06-04",
                                        "S1 2020-09-03 / S2 2020-08-13"]
    s2 = next((folder / "s2a" / "0000200").glob("20200604*")) / "B4.tif"
    with rasterio.open(s2) as ref:
        assert all(p.transform == ref.transform and p.sar_db.shape[1:] == ref.shape
                   for p in patches)
        np.testing.assert_array_equal(patches[0].rgb_dn[0], ref.read(1))
    s1 = next((folder / "s1" / "0000200").glob("*20200607*")) / "VV.tif"
    with rasterio.open(s1) as src:
        vv = src.read(1)
    inner = patches[0].sar_db[0, 8:-8, 8:-8]  # away from edges the grids overlap fully
    assert np.isfinite(inner).all()
    assert abs(float(np.mean(inner)) - float(np.mean(vv))) < 0.3  # same scene, same level


@pytest.mark.slow
def test_one_set_with_a_manifest_row_per_pair(tmp_path, ben_wheel_cache):
    out = tmp_path / "s2o"
    cache = ben_wheel_cache
    manifest = B.build(out, cache, sources=B.default_sources())
    rows = manifest["patches"]
    splits = json.loads((out / "splits.json").read_text())
    by_split = {s: {r["location"] for r in rows if r["split"] == s} for s in D.SPLITS}
    assert by_split["train"].isdisjoint(by_split["val"] | by_split["test"])
    assert by_split["val"].isdisjoint(by_split["test"])
    assert set(B.TEST_LOCATIONS) == by_split["test"]
    assert {r["dataset"] for r in rows if r["split"] == "train"} == {"bigearthnet", "sen12ms-cr"}
    assert all(r["split"] == B.SEN12_EXCLUDED for r in rows if r["source"] == B.SRC_SEN12)
    assert manifest["s2_level"] == "L2A" and manifest["level_mapping"]["offsets"]
    for r in rows:
        assert r["target_level"] == "L2A" and r["licence"] and r["origin"]
        if r["split"] in D.SPLITS:  # every target used is L2A, natively or by the mapping
            assert r["harmonised"] == (r["s2_level"] == "L1C")
    ssl = [r for r in rows if r["source"] == B.SRC_SSL4EO]
    assert len(ssl) == 2 and all(r["split"] == "test" and r["date"] for r in ssl)
    with rasterio.open(out / "s2" / f"{ssl[0]['id']}.tif") as ds:
        assert ds.crs.to_epsg() == 4326 and ds.tags()["S2_LEVEL"] == "L2A"
    train = D.make_dataset("paired", out, "train", balance=True)
    per_dataset = {}
    group = {r["id"]: r["dataset"] for r in rows}
    for pid in train.ids:
        per_dataset[group[pid]] = per_dataset.get(group[pid], 0) + 1
    assert abs(per_dataset["bigearthnet"] - per_dataset["sen12ms-cr"]) <= 6
    assert len(D.make_dataset("paired", out, "test")) == len(splits["test"]) == 14
