"""Shared test set-up. QGIS tests live in tests/qgis and carry the `qgis` marker (set there),
so `pytest -p no:pytest_qgis -m "not qgis"` runs everything else without QGIS in the process.

The two test tiers (`--tier`): the torch tier is the folders in TORCH_TIER (training, export and
the benchmarks' smoke tests, which need torch); every other folder is the plugin tier: engine,
plugin, real QGIS and GUI tests, which need what a QGIS user has (QGIS, onnxruntime, rasterio,
numpy, scikit-image), and the optional Dask layer's (tests/cluster). `--tier plugin` also makes
torch unimportable in the test process, so a plugin test that reaches for torch fails even on a
machine that has torch.
"""

import importlib.abc
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
TORCH_TIER = ("training", "export", "benchmarks")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_addoption(parser):
    parser.addoption(
        "--tier", choices=("plugin", "torch"), default=None,
        help="plugin: every test folder but " + ", ".join(TORCH_TIER) + ", with torch made "
        "unimportable; torch: only those folders (default: all tests)",
    )


class NoTorch(importlib.abc.MetaPathFinder):
    """Refuses to import torch, as in a QGIS Python without it."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (the plugin test tier runs "
                                      "without torch)", name=name)
        return None


def pytest_configure(config):
    if config.getoption("--tier") == "plugin":
        if "torch" in sys.modules:
            raise pytest.UsageError("torch was imported before the plugin tier started")
        sys.meta_path.insert(0, NoTorch())


def in_torch_tier(path: Path) -> bool:
    try:
        parts = Path(path).resolve().relative_to(TESTS).parts
    except ValueError:
        return False
    return bool(parts) and parts[0] in TORCH_TIER


def pytest_ignore_collect(collection_path, config):
    tier = config.getoption("--tier")
    path = Path(collection_path).resolve()
    if tier is None or path == TESTS or TESTS not in path.parents:
        return None
    return True if in_torch_tier(path) == (tier == "plugin") else None
