"""Shared test set-up. QGIS tests live in tests/qgis and carry the `qgis` marker (set there),
so `pytest -p no:pytest_qgis -m "not qgis"` runs everything else without QGIS in the process."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
