# The README's commands call these targets. Each one runs its own set-up first (idempotent).
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
export QT_QPA_PLATFORM ?= offscreen
export OMP_NUM_THREADS ?= 2

.PHONY: setup test test-unit test-qgis test-gui demo zip install-plugin bench lint clean

setup:
	@bash scripts/setup.sh

# The whole suite: unit tests (no QGIS in the process), the real-QGIS tests apart, then the
# GUI tier (the QGIS desktop under Xvfb, about 40 s; screenshots to a temporary folder).
test: setup
	$(PY) -m pytest -p no:pytest_qgis -m "not qgis and not gui" tests
	$(PY) -m pytest -m qgis tests
	$(PY) -m pytest -p no:pytest_qgis -m gui tests/gui

test-unit: setup
	$(PY) -m pytest -p no:pytest_qgis -m "not qgis and not gui" tests

test-qgis: setup
	$(PY) -m pytest -m qgis tests

# The GUI tier alone, keeping its screenshots in docs/gui (the README shows them).
test-gui: setup
	S2O_GUI_SHOTS=$(CURDIR)/docs/gui $(PY) -m pytest -p no:pytest_qgis -m gui tests/gui

# The main job: translate a real Sentinel-1 scene through the plugin's Processing algorithm.
demo: setup
	$(PY) scripts/demo.py

# An installable plugin zip in dist/ (plugin folder with metadata.txt; no tests, no training).
zip: setup
	$(PY) scripts/build_plugin.py zip

# Install the zip onto QGIS's plugin path and enable it, so qgis_process lists provider s2o.
install-plugin: setup
	$(PY) scripts/build_plugin.py install

bench: setup
	$(PY) benchmarks/run_all.py

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf dist build out .pytest_cache
