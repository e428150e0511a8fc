"""Window grids for streaming a scene through a fully convolutional network, as pure functions.

Why a pixel comes out the same in a tile as in the whole image
--------------------------------------------------------------
A network with total stride ``m`` (``size_multiple``) computes the same value for a pixel in two
windows when (1) every input pixel within its receptive-field radius ``halo`` is the same in both
windows and (2) both windows start on the same ``m``-grid (strided layers then sample the same
input positions). The grid below guarantees both, along each axis independently:

    m    size multiple (total stride)            n   scene length (rows or columns)
    T    tile size, a multiple of m              h   halo declared by the model
    h'   read halo      = ceil(h / m) * m        (so a read window starts on the m-grid)
    P    padded length  = ceil(n / m) * m        (the whole-image run is padded to P too)
    Te   compute length = min(T, P)              (every tile has the same shape: batchable)

    write window k :  s_k = k * T,  length w_k = min(T, n - s_k),   k = 0 .. ceil(n / T) - 1
    compute core k :  c_k = min(s_k, P - Te)     (the last one is shifted back to fit in P)
    read window k  :  [c_k - h', c_k + Te + h')  (length Te + 2h', a multiple of m)
    crop on write  :  rows [s_k - (c_k - h'), ... + w_k) of the network's output

Positions outside ``[0, n)`` are filled by mirror reflection about the scene's edge pixels
(``..., 2, 1, 0, 1, 2, ...``, see :func:`reflect_index`), so a tile at the scene's edge sees the
same values as the whole image padded the same way. The whole-image reference is the single
window ``[-h', P + h')``: any tiling of the grid equals it wherever the model's declared halo
covers its true receptive field (tests/engine prove it, and show that a too-small halo fails).

:func:`clipped_grid` is the simpler grid for operators that treat the scene's edges as
boundaries themselves (the Perona-Malik despeckler): read windows are clipped to the scene.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import InputError, words

MAX_TILE = 8192  # px: the largest tile edge any caller may ask for
DEFAULT_TILE = 512  # px: translate's tile edge unless the caller chooses one
DEFAULT_BATCH = 1  # tiles per model call unless the caller chooses more


@dataclass(frozen=True)
class Span:
    """One tile's extent along one axis (rows or columns): the pixels it writes,
    ``[start, start + length)``, and the window it reads, ``[read_start, read_start +
    read_length)`` (outside the scene for :func:`tile_grid`, where values are reflected)."""

    start: int
    length: int
    read_start: int
    read_length: int


@dataclass(frozen=True)
class Tile:
    """One step of a grid: a write window in the scene and the read window that computes it.

    ``row, col, height, width``: the pixels this tile writes (a partition of the scene).
    ``read_row, read_col, read_height, read_width``: the window read (may reach outside the
    scene, where values are reflected, for :func:`tile_grid`).
    """

    row: int
    col: int
    height: int
    width: int
    read_row: int
    read_col: int
    read_height: int
    read_width: int

    @classmethod
    def from_spans(cls, rows: Span, cols: Span) -> Tile:
        return cls(rows.start, cols.start, rows.length, cols.length,
                   rows.read_start, cols.read_start, rows.read_length, cols.read_length)

    @property
    def crop(self) -> tuple[slice, slice]:
        """Slices of the read window (and of the network's output) that this tile writes."""
        r0 = self.row - self.read_row
        c0 = self.col - self.read_col
        return slice(r0, r0 + self.height), slice(c0, c0 + self.width)


def read_halo(halo: int, size_multiple: int) -> int:
    """h' = ceil(h / m) * m: the halo rounded up so that read windows stay on the m-grid."""
    return math.ceil(halo / size_multiple) * size_multiple


def padded_length(n: int, size_multiple: int) -> int:
    """P = ceil(n / m) * m: a scene length padded to the network's size multiple."""
    return math.ceil(n / size_multiple) * size_multiple


def min_tile_size(size_multiple: int, halo: int = 0) -> int:
    """Smallest sensible tile: 2 m, and at least the read halo h' (a smaller core would read a
    window more than 9 times its own area)."""
    return max(2 * size_multiple, read_halo(halo, size_multiple))


MIN_TILE = min_tile_size(1)  # px: the smallest tile edge of any model or operator


def validate_tile_size(tile, size_multiple: int, halo: int = 0) -> int:
    """Return ``tile`` as an int, or raise InputError saying what to use instead."""
    m = size_multiple
    low = min_tile_size(m, halo)
    high = MAX_TILE // m * m
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)):
        raise InputError(f"tile size must be a whole number of pixels, got {tile!r}")
    tile = int(tile)
    nearest = min(max(round(tile / m) * m, low), high)
    if tile % m:
        raise InputError(
            f"tile size {tile} is not a multiple of the model's size multiple {m}: "
            f"use {nearest} ({words().option('tile_size')})"
        )
    if tile < low:
        raise InputError(
            f"tile size {tile} is too small for a {halo} px halo (size multiple {m}): "
            f"use at least {low}; {DEFAULT_TILE} is a good default "
            f"({words().option('tile_size')})"
        )
    if tile > high:
        raise InputError(
            f"tile size {tile} is too large (at most {high}): memory grows with its square; "
            f"use {DEFAULT_TILE} or {2 * DEFAULT_TILE} ({words().option('tile_size')})"
        )
    return tile


def reflect_index(idx, n: int) -> np.ndarray:
    """Map any integer positions into ``[0, n)`` by mirror reflection about the edge pixels,
    repeated as often as needed (period 2(n-1)); ``n == 1`` maps everything to 0."""
    idx = np.asarray(idx, dtype=np.int64)
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    r = np.mod(idx, period)
    return np.where(r < n, r, period - r)


def axis_spans(n: int, tile: int, m: int, halo: int) -> list[Span]:
    """The spans of :func:`tile_grid` along one axis of length ``n`` (module formula)."""
    hp = read_halo(halo, m)
    P = padded_length(n, m)
    Te = min(tile, P)
    return [Span(s, min(tile, n - s), min(s, P - Te) - hp, Te + 2 * hp)
            for s in range(0, n, tile)]


def clipped_spans(n: int, tile: int, halo: int) -> list[Span]:
    """The spans of :func:`clipped_grid` along one axis of length ``n``."""
    spans = []
    for s in range(0, n, tile):
        w = min(tile, n - s)
        lo, hi = max(0, s - halo), min(n, s + w + halo)
        spans.append(Span(s, w, lo, hi - lo))
    return spans


def tile_grid(height: int, width: int, tile: int, size_multiple: int, halo: int,
              rows: range | None = None, cols: range | None = None) -> list[Tile]:
    """Row-major tiles covering a ``height x width`` scene (module docstring formula). All read
    windows have the same shape, so tiles can be batched. ``rows`` / ``cols`` (scene pixel
    ranges): only the tiles whose write window starts in them (a part of the scene's grid, at
    the cost of that part)."""
    if height < 1 or width < 1:
        raise InputError(f"the raster has no pixels ({width} x {height})")
    if tile % size_multiple:
        raise ValueError(f"tile {tile} is not a multiple of {size_multiple}")
    row_spans = [r for r in axis_spans(height, tile, size_multiple, halo)
                 if rows is None or r.start in rows]
    col_spans = [c for c in axis_spans(width, tile, size_multiple, halo)
                 if cols is None or c.start in cols]
    return [Tile.from_spans(r, c) for r in row_spans for c in col_spans]


def clipped_grid(height: int, width: int, tile: int, halo: int) -> list[Tile]:
    """Row-major tiles of at most ``tile`` pixels whose read windows extend ``halo`` pixels
    beyond the write window but stop at the scene's edges:
    read = [max(0, s - h), min(n, s + w + h)) along each axis."""
    if height < 1 or width < 1:
        raise InputError(f"the raster has no pixels ({width} x {height})")
    return [Tile.from_spans(r, c) for r in clipped_spans(height, tile, halo)
            for c in clipped_spans(width, tile, halo)]
