"""Regenerate the small real fixtures in tests/data/bigearthnet/ (committed; see README.md).

    python tests/data/make_fixtures.py [--cache data/.cache] [--out tests/data/bigearthnet]

Writes, from the wheels training/build_data.py fetches:
  s1/<id>.tif, s2/<id>.tif   the 6 bigearthnet-common example pairs ("paired" layout)
  splits.json, MANIFEST.json  country hold-out of training/build_data.py (same rule as data/ben)
  s1_linear/<id>.tif          one scene as linear sigma0 = 10 ** (dB / 10)
  s1_mosaic.tif, s2_mosaic.tif  2 x 3 adjacent BENv2 patches of tile 33UUP stitched into one
                              240 x 360 px scene; the examples themselves are not adjacent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from training import build_data as bd  # noqa: E402

LINEAR_ID = "S2A_MSIL2A_20170613T101031_87_48"
MOSAIC_PRODUCT = "S2A_MSIL2A_20170613T101031"
MOSAIC_COLS = (37, 38)
MOSAIC_ROWS = (88, 89, 90)


def mosaic(patches: list[bd.Patch], product: str, cols, rows) -> bd.Patch:
    """Stitch the patches <product>_<col>_<row> (all present, adjacent) into one Patch."""
    by_id = {p.id: p for p in patches}
    grid = [[by_id[f"{product}_{c}_{r}"] for c in cols] for r in rows]
    first = grid[0][0]
    if first.transform is None:
        raise ValueError(f"{first.id} has no georeference: cannot place the mosaic")

    def stitch(attr: str) -> np.ndarray:  # (C, H, W) blocks: rows along H, columns along W
        return np.concatenate(
            [np.concatenate([getattr(p, attr) for p in line], axis=2) for line in grid], axis=1
        )

    sar, rgb = stitch("sar_db"), stitch("rgb_dn")
    return bd.Patch(
        id=f"{product}_mosaic_{cols[0]}-{cols[-1]}_{rows[0]}-{rows[-1]}", source=first.source,
        s1_name=first.s1_name.rsplit("_", 2)[0], tile=first.tile, country=first.country,
        sar_db=sar, rgb_dn=rgb, crs=first.crs, transform=first.transform,
    )


def make(out: Path, cache: Path) -> dict:
    patches, _, _ = bd.load_all(cache)
    examples = [p for p in patches if p.source == bd.SRC_EXAMPLES]
    splits = {s: sorted(p.id for p in examples if bd.split_of(p) == s) for s in bd.SPLITS}
    bd.write_paired(out, examples, splits)
    linear = next(p for p in examples if p.id == LINEAR_ID)
    bd.write_sar(out / "s1_linear" / f"{LINEAR_ID}.tif", linear, linear=True)
    block = mosaic(patches, MOSAIC_PRODUCT, MOSAIC_COLS, MOSAIC_ROWS)
    bd.write_sar(out / "s1_mosaic.tif", block)
    bd.write_rgb(out / "s2_mosaic.tif", block)
    manifest = dict(
        licence=bd.LICENCE, credit=bd.CREDIT, location_key="country",
        patches=[bd.manifest_entry(p, bd.split_of(p)) for p in examples],
        mosaic=dict(id=block.id, tile=block.tile, country=block.country, cols=list(MOSAIC_COLS),
                    rows=list(MOSAIC_ROWS), source=block.source,
                    split=bd.split_of(block)),
    )
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "data" / ".cache")
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "bigearthnet")
    args = ap.parse_args(argv)
    manifest = make(args.out, args.cache)
    print(json.dumps({k: v for k, v in manifest.items() if k != "patches"}, indent=1))
    total = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(f"wrote {args.out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
