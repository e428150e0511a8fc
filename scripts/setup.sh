#!/usr/bin/env bash
# Idempotent set-up for a Debian machine (or a desktop where QGIS is already installed):
#  1. QGIS from Debian (qgis python3-qgis qgis-providers) and python3-rasterio (built on the same
#     GDAL as QGIS) when they are missing, and xvfb + openbox for the GUI tests (the QGIS desktop
#     under a virtual display): needs root and apt-get;
#  2. a venv made by Debian's own python3.11 with --system-site-packages, so it sees QGIS's
#     bindings and GDAL;
#  3. the pinned Python packages: torch==2.13.0 first (a bare torch pulls a CUDA build of GBs),
#     then this project in editable mode with its training, export, dev and distributed extras,
#     numpy<2 (Debian's GDAL/QGIS are built on numpy 1.24) and affine<3.
# A stamp (hash of this script and pyproject.toml) makes a second run a no-op.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${S2O_VENV:-$ROOT/.venv}
PY=${S2O_SYSTEM_PYTHON:-/usr/bin/python3.11}
APT_PACKAGES="qgis python3-qgis qgis-providers python3-rasterio"
GUI_PACKAGES="xvfb openbox"  # tests/gui: QGIS desktop under Xvfb with a window manager

log() { printf '[setup] %s\n' "$*" >&2; }

have_qgis() { [ -x "$PY" ] && "$PY" -c "import qgis.core, rasterio" >/dev/null 2>&1 && [ -n "$(qgis_bin)" ]; }
qgis_bin() { for c in /usr/bin/qgis_process.bin /usr/lib/qgis/qgis_process.bin "$(command -v qgis_process.bin 2>/dev/null)"; do [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return; }; done; }

if ! have_qgis; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $APT_PACKAGES from Debian (about a minute)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $APT_PACKAGES >/dev/null
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

stamp_value=$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/setup.sh" | sha256sum | cut -d' ' -f1)
if [ -f "$VENV/.s2o-stamp" ] && [ "$(cat "$VENV/.s2o-stamp")" = "$stamp_value" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv $VENV from $PY (--system-site-packages)"
  "$PY" -m venv --system-site-packages "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
log "installing pinned packages into $VENV"
"${PIP[@]}" "torch==2.13.0" 2>&1 | { grep -v "is ignored: it is neither" || true; }
"${PIP[@]}" -e "$ROOT[training,export,dev,distributed]" "numpy>=1.24,<2" "affine<3" "torch==2.13.0" 2>&1 | { grep -v "is ignored: it is neither" || true; }
echo "$stamp_value" > "$VENV/.s2o-stamp"
log "ready: $VENV"
