#!/usr/bin/env bash
# The plugin on real QGIS builds: for each target, a fresh torch-free venv made by
# scripts/setup.sh, the plugin test tier (`make test-plugin`) and a qgis_process smoke run of
# s2o:translate, s2o:despeckle and s2o:evaluate with the plugin zip installed into a fresh
# profile (scripts/qgis_matrix.py smoke). Prints a table and writes docs/COMPATIBILITY.md.
#
#   scripts/qgis_matrix.sh [TARGET...]        (make qgis-matrix [MATRIX="host trixie"])
#   scripts/qgis_matrix.sh build [TARGET...]  only make (or find cached) the roots
#   scripts/qgis_matrix.sh shell TARGET [CMD]  a command (default: bash) in a root's copy of
#                                              the tree, /s2o, with its venv /opt/s2o-venv
#
# Targets (default: host trixie trixie-backports):
#   host              this machine's own QGIS (Debian 12: 3.22)
#   bookworm          Debian 12 root: QGIS 3.22, Python 3.11, numpy 1.24
#   trixie            Debian 13 root: QGIS 3.40 LTR, Python 3.13, numpy 2.2, GDAL 3.10
#   trixie-backports  Debian 13 root with QGIS from trixie-backports (3.44)
#
# Roots are made with mmdebstrap (installed with apt-get when missing) from the host's Debian
# mirror, about 2 GB and 6+ minutes each, and kept in $S2O_MATRIX_CACHE (default
# /var/cache/s2o-qgis-matrix) until their recipe changes (S2O_MATRIX_REBUILD=1 forces it). Each
# run tests a fresh copy of the project's tree (the working tree's tracked and untracked, not
# ignored files; S2O_MATRIX_SOURCE=HEAD or another commit: that commit's files), in the root
# at /s2o (the host: $S2O_MATRIX_CACHE/host/s2o). The host's pip configuration, the local paths
# it names and the CA bundle are put in a root before each run; proc, dev and sys are mounted
# in a private mount namespace, so nothing stays mounted when the run ends.
# Needs root (chroot). Every heavy step runs under `nice -n 19 ionice -c3`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${S2O_MATRIX_CACHE:-/var/cache/s2o-qgis-matrix}
MODE=run
case ${1:-} in build|shell) MODE=$1; shift ;; esac
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(host trixie trixie-backports)
LOW=(nice -n 19 ionice -c3)
# What `apt install qgis` gives a desktop, plus the tools the tests use (mount: the full-disk
# tests mount a small tmpfs). mmdebstrap installs no Recommends: proj-bin (recommended by GDAL)
# is named, as Debian's pyproj in a venv finds PROJ's data through the proj tool.
INCLUDE=qgis,python3-qgis,qgis-providers,python3-rasterio,python3-venv,proj-bin,make,procps,mount,ca-certificates,xvfb,xauth,openbox
RECIPE_VERSION=1  # bump when the way roots are made changes

log() { printf '[qgis-matrix] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap, chroot and mounts); run it with sudo"

# The host's Debian mirror (deb822 or one-line sources), for the roots' sources.
host_mirror() {
  local uri
  uri=$(grep -hoE '(URIs:[[:space:]]*|^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)[a-z]+://[^[:space:]]+/debian/?([[:space:]]|$)' \
        /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -oE '[a-z]+://[^[:space:]]+' | head -n1 || true)
  echo "${S2O_DEBIAN_MIRROR:-${uri:-http://deb.debian.org/debian}}"
}

# suite, sources and apt preferences of a target's root
recipe() {
  local mirror
  mirror=$(host_mirror)
  case $1 in
    bookworm|trixie) echo "suite=$1"; echo "source=deb $mirror $1 main" ;;
    trixie-backports)
      echo "suite=trixie"
      echo "source=deb $mirror trixie main"
      echo "source=deb $mirror trixie-backports main"
      echo "pin=qgis* libqgis* python3-qgis*" ;;
    *) die "unknown target '$1' (host, bookworm, trixie, trixie-backports)" ;;
  esac
  echo "include=$INCLUDE"
  echo "recipe=$RECIPE_VERSION"
}

# Proxy settings of the host's apt, for mmdebstrap's apt.
apt_proxy_opts() {
  apt-config dump 2>/dev/null | grep -iE '^Acquire::[a-z]+::Proxy ' \
    | sed -E 's/^([^ ]+) "(.*)";$/--aptopt=\1 "\2"/' || true
}

build_root() {
  local target=$1 dir=$CACHE/roots/$1 want
  want=$(recipe "$target")
  if [ -d "$dir" ] && [ "$(cat "$dir.recipe" 2>/dev/null)" = "$want" ] && [ "${S2O_MATRIX_REBUILD:-0}" != 1 ]; then
    log "$target: cached root $dir"
    return
  fi
  command -v mmdebstrap >/dev/null || { log "installing mmdebstrap"; "${LOW[@]}" apt-get install -y -qq mmdebstrap >/dev/null; }
  local suite sources=() pin hooks=() opts=()
  suite=$(sed -n 's/^suite=//p' <<<"$want")
  mapfile -t sources < <(sed -n 's/^source=//p' <<<"$want")
  pin=$(sed -n 's/^pin=//p' <<<"$want")
  if [ -n "$pin" ]; then
    hooks+=("--setup-hook=mkdir -p \"\$1/etc/apt/preferences.d\" && printf 'Package: $pin\nPin: release n=trixie-backports\nPin-Priority: 990\n' > \"\$1/etc/apt/preferences.d/s2o-qgis-backports\"")
  fi
  mapfile -t opts < <(apt_proxy_opts)
  log "$target: building root $dir with mmdebstrap ($suite; ${sources[*]}); several minutes"
  rm -rf "$dir.tmp" "$dir" "$dir.recipe"
  mkdir -p "$CACHE/roots"
  "${LOW[@]}" mmdebstrap --variant=apt --include="$INCLUDE" "${opts[@]}" "${hooks[@]}" \
    "$suite" "$dir.tmp" "${sources[@]}"
  mv "$dir.tmp" "$dir"
  echo "$want" > "$dir.recipe"
}

# Host files pip needs inside a root: its configuration files, the files and folders they (or
# PIP_* variables) name (constraints, find-links, file:// indexes: the folder above simple/, as
# their links point beside it) and the CA bundle.
pip_paths() {
  local f
  for f in /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf" \
           ${PIP_CONFIG_FILE:-} /etc/ssl/certs/ca-certificates.crt; do
    [ -e "$f" ] && echo "$f"
  done
  { cat /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf" \
        ${PIP_CONFIG_FILE:-} 2>/dev/null; env | grep -E '^(PIP_|SSL_CERT_FILE=|REQUESTS_CA_BUNDLE=)'; } \
    | grep -oE '(file://)?/[^[:space:],"]+' | sed -E 's#^file://##; s#/simple/?$##' | sort -u \
    | while read -r p; do [ -e "$p" ] && echo "$p"; done
}

# Run a command in a root: private mount namespace (mounts vanish with it), chroot, clean env.
in_root() {
  local dir=$1; shift
  local binds=() p
  while read -r p; do
    if [ -d "$p" ]; then binds+=("$p"); else mkdir -p "$dir$(dirname "$p")"; cp -L "$p" "$dir$p"; fi
  done < <(pip_paths | sort -u)
  local envs=(HOME=/root LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
              QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" DEBIAN_FRONTEND=noninteractive)
  while read -r p; do envs+=("$p"); done < <(env | grep -E '^(PIP_[A-Z_]+|SSL_CERT_FILE|REQUESTS_CA_BUNDLE|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY)=' || true)
  S2O_ROOTDIR=$dir S2O_BINDS="${binds[*]:-}" unshare --mount --propagation private -- bash -c '
    set -e
    R=$S2O_ROOTDIR
    mount -t proc proc "$R/proc"
    mount --rbind /dev "$R/dev"
    mount --rbind /sys "$R/sys"
    mount -t tmpfs tmpfs "$R/tmp"
    for b in $S2O_BINDS; do mkdir -p "$R$b"; mount --bind "$b" "$R$b"; mount -o remount,bind,ro "$R$b"; done
    exec chroot "$R" /usr/bin/env -i "$@"' bash "${envs[@]}" "$@"
}

# Copy the tree to test to DEST: the working tree (tracked and untracked, not ignored files), or
# with S2O_MATRIX_SOURCE=COMMIT (e.g. HEAD) that commit's files.
stage_tree() {
  local dest=$1
  rm -rf "$dest"; mkdir -p "$dest"
  if [ "${S2O_MATRIX_SOURCE:-worktree}" != worktree ]; then
    git -C "$ROOT" archive "$S2O_MATRIX_SOURCE" | tar -xf - -C "$dest"
    return
  fi
  (cd "$ROOT" && git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
     | tar --null -T - -cf -) | tar -xf - -C "$dest"
}
tree_id() {
  if [ "${S2O_MATRIX_SOURCE:-worktree}" != worktree ]; then
    git -C "$ROOT" rev-parse --short "$S2O_MATRIX_SOURCE"
  else
    git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown
  fi
}

# The steps of one run, in an environment whose repository root is the current directory:
# set-up (torch-free venv), the plugin test tier, the smoke run; results to $1 (JSON).
RUN_STEPS='
set -u
venv=$1; result=$2; logf=$3; commit=$4
{ S2O_TORCH=0 nice -n 19 ionice -c3 make setup VENV=$venv \
    && S2O_TORCH=0 nice -n 19 ionice -c3 env --default-signal make -i test-plugin VENV=$venv; } 2>&1 | tee "$logf" >&2
[ -x "$venv/bin/python" ] && nice -n 19 ionice -c3 "$venv/bin/python" scripts/qgis_matrix.py smoke \
  --log "$logf" --commit "$commit" --out "$result" >&2 || true
'

run_target() {
  local target=$1 t0=$SECONDS
  mkdir -p "$CACHE/results" "$CACHE/logs"
  local result=$CACHE/results/$target.json logf=$CACHE/logs/$target.log commit
  commit=$(tree_id)
  rm -f "$result"
  if [ "$target" = host ]; then
    log "host: tree $CACHE/host/s2o, venv $CACHE/host/venv, plugin test tier, smoke run"
    stage_tree "$CACHE/host/s2o"
    (cd "$CACHE/host/s2o" && bash -c "$RUN_STEPS" bash "$CACHE/host/venv" "$result" "$logf" "$commit") || true
  else
    build_root "$target"
    local dir=$CACHE/roots/$target
    stage_tree "$dir/s2o"
    mkdir -p "$dir/out"
    log "$target: plugin test tier and smoke run in the root (log: $logf)"
    in_root "$dir" bash -c "cd /s2o && $RUN_STEPS" bash /opt/s2o-venv /out/result.json /out/test.log "$commit" || true
    cp "$dir/out/test.log" "$logf" 2>/dev/null || true
    cp "$dir/out/result.json" "$result" 2>/dev/null || true
  fi
  [ -f "$result" ] || log "$target: no result (see $logf)"
  log "$target: done in $((SECONDS - t0)) s"
}

[ $MODE = shell ] || for t in "${TARGETS[@]}"; do
  [ "$t" = host ] || recipe "$t" >/dev/null
done
case $MODE in
  build) for t in "${TARGETS[@]}"; do [ "$t" = host ] || build_root "$t"; done; exit 0 ;;
  shell)
    t=${TARGETS[0]:?shell needs a target}; build_root "$t"; stage_tree "$CACHE/roots/$t/s2o"
    [ ${#TARGETS[@]} -gt 1 ] || TARGETS+=(bash)
    in_root "$CACHE/roots/$t" bash -c 'cd /s2o && exec "$@"' bash "${TARGETS[@]:1}"; exit ;;
esac
for t in "${TARGETS[@]}"; do run_target "$t"; done

PY=${S2O_VENV:-$ROOT/.venv}/bin/python
[ -x "$PY" ] || PY=$CACHE/host/venv/bin/python
[ -x "$PY" ] || PY=python3
"$PY" "$ROOT/scripts/qgis_matrix.py" report --results "$CACHE/results" --targets "${TARGETS[@]}" \
  --markdown "$ROOT/docs/COMPATIBILITY.md"
