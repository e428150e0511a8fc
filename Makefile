# The README's commands call these targets. Each one runs its own set-up first (idempotent).
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
export QT_QPA_PLATFORM ?= offscreen
export OMP_NUM_THREADS ?= 2

.PHONY: setup test test-plugin test-extras test-unit test-fast test-qgis test-gui qgis-matrix demo zip install-plugin bench lint clean

setup:
	@S2O_VENV=$(VENV) bash scripts/setup.sh

# The whole suite in two tiers (tests/conftest.py says which folders are which), then the GUI
# tier (the QGIS desktop under Xvfb, about 40 s; screenshots to a temporary folder).
test: test-plugin test-extras
	$(PY) -m pytest -p no:pytest_qgis --tier plugin -m gui tests/gui

# The plugin tier: engine and plugin tests (no QGIS in the process), then the real-QGIS tests;
# torch unimportable, as in a QGIS without it. Passes in a venv without torch (S2O_TORCH=0).
test-plugin: setup
	$(PY) -m pytest -p no:pytest_qgis --tier plugin -m "not qgis and not gui" tests
	$(PY) -m pytest --tier plugin -m qgis tests

# The extras tier: training, export, benchmarks (torch) and the Dask layer. Where setup installed
# no torch, the Dask layer's tests (which need none) still run.
test-extras: setup
	@if $(PY) -c "import torch" 2>/dev/null; then \
	  echo '$(PY) -m pytest -p no:pytest_qgis --tier extras tests'; \
	  $(PY) -m pytest -p no:pytest_qgis --tier extras tests; \
	else echo "test-extras: training, export and benchmark tests NOT RUN: no torch in $(VENV) (scripts/setup.sh: S2O_TORCH)"; \
	  echo '$(PY) -m pytest -p no:pytest_qgis --tier extras tests/cluster'; \
	  $(PY) -m pytest -p no:pytest_qgis --tier extras tests/cluster; fi

test-unit: setup
	$(PY) -m pytest -p no:pytest_qgis -m "not qgis and not gui" tests

# The developers' loop: the unit tier without the tests marked slow (each over ~10 s: whole
# training runs, torchrun, real-wheel data builds, the benchmarks' smoke runs, Dask clusters);
# about a third of test-unit's time. make test still runs everything.
test-fast: setup
	$(PY) -m pytest -p no:pytest_qgis -m "not qgis and not gui and not slow" tests

test-qgis: setup
	$(PY) -m pytest -m qgis tests

# The GUI tier alone, keeping its screenshots in docs/gui (the README shows them).
test-gui: setup
	S2O_GUI_SHOTS=$(CURDIR)/docs/gui $(PY) -m pytest -p no:pytest_qgis -m gui tests/gui

# The plugin on real QGIS builds (not part of make test: roots of ~2 GB, 10+ minutes each the
# first time): host, Debian 13 (3.40 LTR), trixie-backports (3.44); writes docs/COMPATIBILITY.md.
MATRIX ?= host trixie trixie-backports
qgis-matrix:
	bash scripts/qgis_matrix.sh $(MATRIX)

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
