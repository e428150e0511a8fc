"""Tiling math: grid properties, reflection, tile-size validation, and the seam-free proof on
arrays with the tiny test network (the raster-level proof is in test_engine_translate.py)."""

import numpy as np
import onnxruntime as ort
import pytest

from s2o_qgis_plugin.engine.errors import InputError
from s2o_qgis_plugin.engine.metadata import DUAL_POL
from s2o_qgis_plugin.engine.radiometry import DEFAULT_DB_RANGES, db_to_network
from s2o_qgis_plugin.engine.tiling import (
    clipped_grid,
    padded_length,
    read_halo,
    reflect_index,
    tile_grid,
    validate_tile_size,
)
from tests.engine.fixtures import SIZE_MULTIPLE, TEST_MODEL_HALO, make_model, sar_db

M = SIZE_MULTIPLE
TOL = 2.0 / 255  # 1/255 of the network's output range [-1, 1]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    path = make_model(tmp_path_factory.mktemp("m") / "m.onnx")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def image():
    db = sar_db(100, 77, 2, seed=3)
    return db_to_network(db, [DEFAULT_DB_RANGES[b] for b in DUAL_POL])


def run(session, x):
    return session.run(None, {"sar": np.ascontiguousarray(x, dtype=np.float32)})[0]


def whole(session, img, halo):
    """The whole-image reference: pad by h' + the m-padding with np.pad's reflect, run once."""
    _, H, W = img.shape
    hp = read_halo(halo, M)
    pads = ((0, 0), (hp, padded_length(H, M) - H + hp), (hp, padded_length(W, M) - W + hp))
    return run(session, np.pad(img, pads, mode="reflect")[None])[0][:, hp:hp + H, hp:hp + W]


def tiled(session, img, tile, halo):
    """Stitch a tiled run: every read window gathered with reflect_index, all tiles in one batch
    (they share one shape by construction)."""
    _, H, W = img.shape
    tiles = tile_grid(H, W, tile, M, halo)
    batch = np.stack([
        img[:, reflect_index(np.arange(t.read_row, t.read_row + t.read_height), H)][
            :, :, reflect_index(np.arange(t.read_col, t.read_col + t.read_width), W)]
        for t in tiles
    ])
    y = run(session, batch)
    out = np.full((3, H, W), np.nan, np.float32)
    for t, yt in zip(tiles, y, strict=True):
        rs, cs = t.crop
        out[:, t.row:t.row + t.height, t.col:t.col + t.width] = yt[:, rs, cs]
    return out, tiles


# -- pure math ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n,tile,halo", [(100, 32, 10), (77, 48, 10), (3, 8, 10), (5, 64, 0),
                                         (1, 8, 3), (4096, 512, 64)])
def test_grid_partitions_scene_and_stays_on_the_m_grid(n, tile, halo):
    tiles = tile_grid(n, n + 1, tile, M, halo)
    cover = np.zeros((n, n + 1), int)
    shapes = {(t.read_height, t.read_width) for t in tiles}
    assert len(shapes) == 1  # batchable
    hp = read_halo(halo, M)
    for t in tiles:
        cover[t.row:t.row + t.height, t.col:t.col + t.width] += 1
        assert t.read_row % M == 0 and t.read_col % M == 0
        assert t.read_height % M == 0 and t.read_width % M == 0
        rs, cs = t.crop
        # the written pixels lie at least h' inside the read window
        assert rs.start >= hp and t.read_height - rs.stop >= hp
        assert cs.start >= hp and t.read_width - cs.stop >= hp
        assert t.height <= tile and t.width <= tile
    assert (cover == 1).all()


@pytest.mark.parametrize("within", [(0, 100, 0, 101), (32, 64, 0, 50), (60, 100, 90, 101),
                                    (1, 2, 1, 2)])
def test_grid_within_a_part_is_that_part_of_the_whole_grid(within):
    r0, r1, c0, c1 = within
    whole = [t for t in tile_grid(100, 101, 32, M, 10)
             if r0 <= t.row < r1 and c0 <= t.col < c1]
    assert tile_grid(100, 101, 32, M, 10, rows=range(r0, r1), cols=range(c0, c1)) == whole


def test_grid_shapes_for_a_small_scene():
    (t,) = tile_grid(3, 5, 64, 4, 10)
    assert (t.read_row, t.read_col, t.read_height, t.read_width) == (-12, -12, 4 + 24, 8 + 24)
    assert t.crop == (slice(12, 15), slice(12, 17))


def test_reflect_index_matches_numpy_reflect_and_handles_tiny_scenes():
    x = np.arange(7)
    idx = np.arange(-5, 12)
    assert (x[reflect_index(idx, 7)] == np.pad(x, 5, mode="reflect")).all()
    assert reflect_index([-3, 0, 5], 1).tolist() == [0, 0, 0]
    assert reflect_index([-4, -1, 2, 3, 7], 2).tolist() == [0, 1, 0, 1, 1]


def test_clipped_grid_stops_at_the_scene_edge():
    tiles = clipped_grid(10, 7, 4, 2)
    assert len(tiles) == 3 * 2
    t = tiles[-1]
    assert (t.row, t.col, t.height, t.width) == (8, 4, 2, 3)
    assert (t.read_row, t.read_col, t.read_height, t.read_width) == (6, 2, 4, 5)
    assert t.crop == (slice(2, 4), slice(2, 5))


@pytest.mark.parametrize("tile,msg", [
    (50, "not a multiple of the model's size multiple 4: use 48"),
    (6, "not a multiple of the model's size multiple 4: use 12"),
    (4, "too small for a 10 px halo (size multiple 4): use at least 12"),
    (8, "use at least 12"),
    (16384, "too large (at most 8192)"),
    (512.0, "whole number of pixels"),
    ("512", "whole number of pixels"),
])
def test_validate_tile_size_refuses_with_a_suggestion(tile, msg):
    with pytest.raises(InputError, match="tile size") as err:
        validate_tile_size(tile, 4, 10)
    assert msg in str(err.value)


def test_validate_tile_size_accepts_multiples():
    assert validate_tile_size(512, 4, 64) == 512
    assert validate_tile_size(np.int64(12), 4, 10) == 12


# -- the network's true receptive field ---------------------------------------------------------
def test_declared_halo_covers_the_empirical_receptive_field(session):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (1, 2, 64, 64)).astype(np.float32)
    base = run(session, x)
    reach = 0
    for r, c in [(31, 31), (32, 33), (30, 29), (33, 30)]:
        x2 = x.copy()
        x2[0, :, r, c] += 1.0
        rows, cols = np.nonzero(np.abs(run(session, x2) - base).max(axis=(0, 1)) > 0)
        reach = max(reach, np.abs(rows - r).max(), np.abs(cols - c).max())
    assert 0 < reach <= TEST_MODEL_HALO
    assert reach >= TEST_MODEL_HALO - 1  # the computed halo is tight, not a loose bound


# -- seam-free proof -------------------------------------------------------------------------
@pytest.mark.parametrize("tile", [32, 48, 64, 128])
def test_tiled_run_equals_whole_image_run(session, image, tile):
    ref = whole(session, image, TEST_MODEL_HALO)
    out, tiles = tiled(session, image, tile, TEST_MODEL_HALO)
    assert len(tiles) == -(-100 // tile) * -(-77 // tile)
    assert not np.isnan(out).any()
    assert np.abs(out - ref).max() < 1e-4  # equal up to float rounding (TOL is far larger)


@pytest.mark.parametrize("halo", [0, 4])
def test_a_too_small_halo_makes_seams(session, image, halo):
    """The check above can fail: declare less halo than the receptive field and seams appear
    along the tile boundaries (the reference uses the true halo)."""
    ref = whole(session, image, TEST_MODEL_HALO)
    out, _ = tiled(session, image, 32, halo)
    diff = np.abs(out - ref).max(axis=0)
    assert diff.max() > TOL
    # the errors sit near the tile boundaries (rows/cols 32, 64, 96), not inside the tiles
    assert max(diff[28:36].max(), diff[:, 28:36].max()) > TOL
    assert diff[12:20, 12:20].max() < 1e-4 and diff[44:52, 44:52].max() < 1e-4
