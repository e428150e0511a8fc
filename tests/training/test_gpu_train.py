"""scripts/gpu_train.py, the one-command GPU recipe, dry-run on the CPU with a tiny budget on the
committed real fixtures: it must leave the checkpoint, an ONNX model the engine runs, and the
held-out table with its floors, flat in --out."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "data" / "bigearthnet"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_train", ROOT / "scripts" / "gpu_train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_dry_run_brings_back_checkpoint_model_and_table(tmp_path):
    out = tmp_path / "out"
    code = load_script().main(["--out", str(out), "--data-root", str(FIXTURES),
                               "--max-steps", "2", "--epochs", "1", "--device", "cpu",
                               "--batch-size", "1"])  # the fixtures hold 3 training pairs
    assert code == 0
    assert {"checkpoint.pt", "model.onnx", "eval.md", "eval.json", "losses.csv"} <= {
        p.name for p in out.iterdir()}
    result = json.loads((out / "eval.json").read_text())
    assert result["config"]["gan_weight"] == json.loads(
        (ROOT / "training" / "configs" / "s2o_dual.json").read_text())["gan_weight"]
    names = list(result["rows"])
    assert names[1:] == ["floor: mean colour", "floor: VV as grey", "floor: scene mean colour"]
    assert "| floor: scene mean colour |" in (out / "eval.md").read_text()

    from s2o_qgis_plugin.engine.model import S2OModel

    model = S2OModel.load(out / "model.onnx", device="cpu")
    assert model.meta.s2_level == "L2A" and model.meta.input_bands == ["VV", "VH"]
    y = model.run(np.zeros((1, 2, 64, 64), np.float32))
    assert y.shape == (1, 3, 64, 64) and np.isfinite(y).all()
