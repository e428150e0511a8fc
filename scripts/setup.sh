#!/usr/bin/env bash
# Idempotent set-up for a Debian 12 or 13 machine (or a desktop where QGIS is already installed):
#  1. QGIS from Debian (qgis python3-qgis qgis-providers), python3-rasterio (built on the same
#     GDAL as QGIS) and python3-venv when they are missing, and xvfb + openbox for the GUI tests
#     (the QGIS desktop under a virtual display): needs root and apt-get;
#  2. a venv made by the Python QGIS's bindings were built for (the /usr/bin python3 that imports
#     qgis.core: Debian 12 python3.11, Debian 13 python3.13) with --system-site-packages, so it
#     sees QGIS's bindings and GDAL;
#  3. this project in editable mode with its dev and distributed (Dask) extras and affine<3, and
#     numpy<2 only where the system's numpy is 1.x (Debian 12: GDAL/QGIS built on numpy 1.24; on
#     Debian 13 the system's numpy 2.2 is kept: a numpy 1 in the venv would break GDAL's
#     bindings there);
#  4. the torch tier (training and export extras; torch==2.13.0 installed first, as a bare torch
#     pulls a CUDA build of GBs): S2O_TORCH=1 installs it, 0 leaves it out, auto (default) installs
#     it when the torch==2.13.0 pip would take for this Python is a CPU build (Debian 12 here) or
#     torch is already there. The plugin and engine need no torch (make test-plugin).
# A stamp (hash of this script, pyproject.toml, the Python and S2O_TORCH) makes a second run a
# no-op. S2O_VENV (default .venv) and S2O_SYSTEM_PYTHON override the venv and the Python.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${S2O_VENV:-$ROOT/.venv}
TORCH_MODE=${S2O_TORCH:-auto}
TORCH_PIN="torch==2.13.0"
APT_PACKAGES="qgis python3-qgis qgis-providers python3-rasterio python3-venv"
GUI_PACKAGES="xvfb openbox"  # tests/gui: QGIS desktop under Xvfb with a window manager

log() { printf '[setup] %s\n' "$*" >&2; }

# The Python QGIS's bindings were built for: the first /usr/bin python3(.X) importing qgis.core.
qgis_python() {
  if [ -n "${S2O_SYSTEM_PYTHON:-}" ]; then echo "$S2O_SYSTEM_PYTHON"; return; fi
  local p
  for p in /usr/bin/python3 /usr/bin/python3.[0-9]*; do
    [[ $p =~ /python3(\.[0-9]+)?$ ]] && [ -x "$p" ] || continue
    if "$p" -c "import qgis.core, rasterio, ensurepip" >/dev/null 2>&1; then readlink -f "$p"; return; fi
  done
}
PY=$(qgis_python)
have_qgis() { [ -n "$PY" ] && [ -n "$(qgis_bin)" ]; }
qgis_bin() { for c in /usr/bin/qgis_process.bin /usr/lib/qgis/qgis_process.bin "$(command -v qgis_process.bin 2>/dev/null)"; do [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return; }; done; }

if ! have_qgis; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $APT_PACKAGES from Debian (about a minute)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $APT_PACKAGES >/dev/null
    PY=$(qgis_python)
  else
    log "QGIS (with python3-qgis) or python3-rasterio is missing and I cannot install them (not root or no apt-get)."
    log "Install QGIS >= 3.22 with its Python bindings, then run me again."
    exit 1
  fi
fi

if ! command -v xvfb-run >/dev/null || ! command -v openbox >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $GUI_PACKAGES from Debian for the GUI tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $GUI_PACKAGES >/dev/null
  else
    log "xvfb-run or openbox is missing (Debian: apt-get install $GUI_PACKAGES): the GUI tests need them."
  fi
fi

[ -n "$PY" ] || { log "no Python in /usr/bin imports qgis.core, rasterio and ensurepip (python3-venv)"; exit 1; }

stamp_value=$({ cat "$ROOT/pyproject.toml" "$ROOT/scripts/setup.sh"; echo "$PY $TORCH_MODE"; } | sha256sum | cut -d' ' -f1)
if [ -f "$VENV/.s2o-stamp" ] && [ "$(cat "$VENV/.s2o-stamp")" = "$stamp_value" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv $VENV from $PY (--system-site-packages)"
  "$PY" -m venv --system-site-packages "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
quiet_pip() { "${PIP[@]}" "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }; }

NUMPY_PIN=()
if [ "$("$PY" -c 'import numpy; print(numpy.__version__.split(".")[0])')" = 1 ]; then
  NUMPY_PIN=("numpy>=1.24,<2")
fi

torch_wanted() {
  case $TORCH_MODE in 1|yes) return 0 ;; 0|no) return 1 ;; esac
  "$VENV/bin/python" -c "import torch" >/dev/null 2>&1 && return 0
  "${PIP[@]}" --dry-run --no-deps --report - "$TORCH_PIN" 2>/dev/null | "$VENV/bin/python" -c \
    'import json, sys; sys.exit("+cpu" not in json.load(sys.stdin)["install"][0]["metadata"]["version"])' \
    2>/dev/null
}

log "installing pinned packages into $VENV (Python $("$PY" -V | cut -d' ' -f2), ${NUMPY_PIN[*]:-system numpy})"
if torch_wanted; then
  quiet_pip "$TORCH_PIN"
  quiet_pip -e "$ROOT[training,export,dev,distributed]" "${NUMPY_PIN[@]}" "affine<3" "$TORCH_PIN"
else
  why="S2O_TORCH=$TORCH_MODE"
  [ "$TORCH_MODE" = auto ] && why="pip offers no CPU build of $TORCH_PIN for this Python; S2O_TORCH=1 installs it anyway"
  log "without torch ($why): the plugin tier only"
  quiet_pip -e "$ROOT[dev,distributed]" "${NUMPY_PIN[@]}" "affine<3"
fi
echo "$stamp_value" > "$VENV/.s2o-stamp"
log "ready: $VENV"
