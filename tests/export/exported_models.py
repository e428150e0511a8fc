"""Real s2o ONNX models for tests, made by the project's own exporter (export/export_onnx.py) from
freshly initialised, untrained checkpoints: the same file a trained model gives, weights aside.

torch is imported only when a checkpoint is made, so QGIS and engine test modules can import this
file; :func:`export_untrained` skips the calling test when torch is not installed (the plugin and
the engine run without it, the exporter does not).
"""

from __future__ import annotations

from pathlib import Path

import pytest


def make_checkpoint(path: Path, **overrides):
    """An untrained S2O checkpoint (width 8, no perceptual loss) at ``path``; its TrainConfig."""
    from training.config import TrainConfig
    from training.cyclegan import CKPT_FORMAT, S2OCycleGAN, save_checkpoint

    cfg = TrainConfig(width=8, lambda_per=0.0, **overrides).validate()
    model = S2OCycleGAN(cfg)
    save_checkpoint(
        path, {"format": CKPT_FORMAT, "config": cfg.to_dict(), "model": model.state_dict()}
    )
    return cfg


def export_untrained(folder: Path, bands: str = "VV,VH", *, name: str | None = None,
                     **export_kwargs) -> Path:
    """Export an untrained generator for ``bands`` ("VV,VH" or "VV") to ``folder``/<name>.onnx
    with export.export_onnx.export (parity checked); the file's path."""
    pytest.importorskip("torch", reason="exporting a test model needs torch (training extra)")
    from export.export_onnx import export

    folder = Path(folder)
    stem = name or "s2o_" + bands.replace(",", "").lower()
    make_checkpoint(folder / f"{stem}.pt", in_bands=bands)
    out = folder / f"{stem}.onnx"
    report = export(folder / f"{stem}.pt", out, **export_kwargs)
    assert report.ok, report.text()
    return out
