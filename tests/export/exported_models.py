"""Real s2o ONNX models for tests, made by the project's own exporter (export/export_onnx.py) from
freshly initialised, untrained checkpoints: the same file a trained model gives, weights aside.

torch is imported only when a checkpoint is made, so QGIS and engine test modules can import this
file. tests/export/conftest.py's session fixture ``exports`` exports them (once per session).
"""

from __future__ import annotations

from pathlib import Path


def make_checkpoint(path: Path, **overrides):
    """An untrained S2O checkpoint (width 8, no perceptual loss) at ``path``; its TrainConfig."""
    from training.checkpoint import save_model_checkpoint
    from training.config import TrainConfig

    cfg = TrainConfig(width=8, lambda_per=0.0, **overrides).validate()
    save_model_checkpoint(path, cfg)
    return cfg
