#!/usr/bin/env bash
# Run QGIS's command-line tool with this project's venv visible to QGIS's Python.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${S2O_VENV:-$ROOT/.venv}
SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
for c in /usr/bin/qgis_process.bin /usr/lib/qgis/qgis_process.bin; do [ -x "$c" ] && exec "$c" "$@"; done
echo "qgis_process.bin not found: run 'make setup' first" >&2; exit 1
