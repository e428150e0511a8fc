"""Shared test set-up. QGIS tests live in tests/qgis and carry the `qgis` marker (set there),
so `pytest -p no:pytest_qgis -m "not qgis"` runs everything else without QGIS in the process.

The two test tiers (`--tier`). The plugin tier: engine, plugin, real-QGIS and GUI tests, which
need only what a QGIS user has (QGIS, onnxruntime, rasterio, numpy, scikit-image) and no torch;
`--tier plugin` makes torch unimportable in the test process, so a plugin test that reaches for
torch fails even on a machine that has it. The extras tier: the folders in EXTRAS_TIER, which
need the project's extras: torch (training, export, the benchmarks' smoke tests) or Dask (the
optional scale-out layer, never a dependency of the plugin).
"""

import importlib.abc
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
EXTRAS_TIER = {"training": "torch", "export": "torch", "benchmarks": "torch", "cluster": "dask"}
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_addoption(parser):
    parser.addoption(
        "--tier", choices=("plugin", "extras"), default=None,
        help="plugin: every test folder but " + ", ".join(EXTRAS_TIER) + ", with torch made "
        "unimportable; extras: only those folders (default: all tests)",
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


def in_extras_tier(path: Path) -> bool:
    try:
        parts = Path(path).resolve().relative_to(TESTS).parts
    except ValueError:
        return False
    return bool(parts) and parts[0] in EXTRAS_TIER


def pytest_ignore_collect(collection_path, config):
    tier = config.getoption("--tier")
    path = Path(collection_path).resolve()
    if tier is None or path == TESTS or TESTS not in path.parents:
        return None
    return True if in_extras_tier(path) == (tier == "plugin") else None
