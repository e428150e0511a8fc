"""One set of exported models for the whole session: each (bands, padding, Sentinel-2 level) is
made once by export/export_onnx.py from an untrained checkpoint, then shared by every test that
needs it (an export and its parity check take seconds; most tests only read the file)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.export.exported_models import make_checkpoint

ROOT = Path(__file__).resolve().parents[2]
REAL_S1 = sorted((ROOT / "tests/data/bigearthnet/s1").glob("*.tif"))[0]


@dataclass(frozen=True)
class Exported:
    checkpoint: Path
    onnx: Path
    report: object  # export.export_onnx.ExportReport
    cfg: object  # the checkpoint's TrainConfig


class Exports:
    """exports(bands, padding, s2_level) -> Exported, made on first use. Treat the files as
    read-only: copy one before changing it."""

    def __init__(self, folder: Path):
        self.folder, self.made = folder, {}

    def __call__(
        self, bands: str = "VV,VH", padding: str = "zeros", s2_level: str = "L2A"
    ) -> Exported:
        key = (bands, padding, s2_level)
        if key not in self.made:
            from export.export_onnx import export

            stem = "_".join(("s2o", bands.replace(",", "").lower(), padding, s2_level.lower()))
            ckpt = self.folder / f"s2o_{bands.replace(',', '').lower()}.pt"
            if not ckpt.exists():  # one untrained checkpoint per band set
                cfg = make_checkpoint(ckpt, in_bands=bands)
            else:
                cfg = next(e.cfg for e in self.made.values() if e.checkpoint == ckpt)
            out = self.folder / f"{stem}.onnx"
            report = export(
                ckpt,
                out,
                padding=padding,
                s2_level=s2_level,
                real=REAL_S1,
                training_data="unit test",
            )
            assert report.ok, report.text()
            self.made[key] = Exported(ckpt, out, report, cfg)
        return self.made[key]


@pytest.fixture(scope="session")
def exports(tmp_path_factory) -> Exports:
    pytest.importorskip("torch", reason="exporting a test model needs torch (training extra)")
    return Exports(tmp_path_factory.mktemp("exported_models"))
