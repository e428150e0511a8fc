"""The GUI tier: the real QGIS desktop under Xvfb (driver.py runs inside it). Every test in this
folder carries the `gui` marker; `make test-gui` runs them (`pytest -m gui tests/gui`)."""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.gui)
