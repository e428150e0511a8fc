"""Write tests/data/heldout/: real scenes that no embedded model trained on or was chosen on,
for the demo, the README's pictures and tests that need an unseen scene.

    python tests/data/make_heldout_fixtures.py [--shared ../shared/data]

- `punjab_s1.tif`, `punjab_s2.tif`: SSL4EO-S12 location 0000200 (Punjab, India; held out):
  S1 2020-06-07 VV/VH dB resampled onto the S2 L2A 2020-06-04 grid (EPSG:4326), as
  training/build_data.py reads it;
- `hefei_s1.tif`: SEN12MS ROIs1158_spring_s1_100_p102 (near Hefei, China; EPSG:32650), VV/VH
  dB, a Sentinel-1 scene without a clear Sentinel-2 (copied with its georeference).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from training import build_data as bd  # noqa: E402

OUT = ROOT / "tests" / "data" / "heldout"
HEFEI = "sen12mscr/s1_only/ROIs1158_spring_s1_100_p102.tif"


def make(shared: Path, out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    june = bd.read_ssl4eo(shared / bd.SOURCE_DIRS[bd.SRC_SSL4EO])[0]
    bd.write_sar(out / "punjab_s1.tif", june)
    bd.write_rgb(out / "punjab_s2.tif", june)
    shutil.copyfile(shared / HEFEI, out / "hefei_s1.tif")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=bd.SHARED)
    make(ap.parse_args().shared)
    print(f"wrote {OUT}")
