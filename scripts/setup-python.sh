#!/usr/bin/env bash
# Creates the Python venv for fixpo-py (maturin 1.16.0, gymnasium 1.4.0
# with its MuJoCo extra on mujoco 3.17.0, numpy, pytest; no torch) and
# builds the `fixpo` package into it with `maturin develop --release`.
#
#   scripts/setup-python.sh            # venv + build; prints the venv's python
#   FIXPO_PY_SKIP_BUILD=1 scripts/setup-python.sh   # venv only
#
# Idempotent: an existing venv whose versions match is kept (the package is
# rebuilt every time: maturin only recompiles what changed).
# Location: $FIXPO_PY_VENV, defaulting to <repo>/.cache/python/venv (.cache
# is gitignored). Cargo's target directory is CARGO_TARGET_DIR when set.
# Progress goes to stderr; the venv's python path is the last line on stdout.
# Then: "$VPY" -m pytest fixpo-py/tests
set -euo pipefail

MATURIN_VERSION=1.16.0
GYMNASIUM_VERSION=1.4.0
MUJOCO_VERSION=3.17.0

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FIXPO_PY_VENV:-$REPO/.cache/python/venv}"
BASE_PY="${PYTHON:-python3}"
VPY="$VENV/bin/python"

log() { echo "setup-python: $*" >&2; }

versions_ok() {
  [[ -x "$VPY" ]] && "$VPY" - "$MATURIN_VERSION" "$GYMNASIUM_VERSION" "$MUJOCO_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
assert version("maturin") == sys.argv[1], version("maturin")
assert version("gymnasium") == sys.argv[2], version("gymnasium")
assert version("mujoco") == sys.argv[3], version("mujoco")
import numpy, gymnasium, pytest, mujoco  # noqa: F401  (imports must work too)
PY
}

if versions_ok; then
  log "venv ok: $VENV"
else
  if [[ ! -x "$VPY" ]]; then
    "$BASE_PY" -c 'import sys; assert sys.version_info[:2] >= (3, 9), sys.version' \
      || { log "need python >= 3.9 (set PYTHON=...)"; exit 1; }
    log "creating $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$BASE_PY" -m venv "$VENV"
  fi
  log "installing maturin==$MATURIN_VERSION gymnasium[mujoco]==$GYMNASIUM_VERSION mujoco==$MUJOCO_VERSION numpy pytest"
  "$VPY" -m pip install --quiet --disable-pip-version-check \
    "maturin==$MATURIN_VERSION" "gymnasium[mujoco]==$GYMNASIUM_VERSION" \
    "mujoco==$MUJOCO_VERSION" numpy pytest >&2
  versions_ok || { log "venv check failed after install"; exit 1; }
  log "venv ready: $VENV"
fi

if [[ "${FIXPO_PY_SKIP_BUILD:-0}" != 1 ]]; then
  log "maturin develop --release (fixpo-py)"
  # maturin runs cargo; keep the caller's CARGO_* settings (target dir, jobs).
  (cd "$REPO/fixpo-py" && VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" \
    "$VENV/bin/maturin" develop --release --quiet >&2)
  "$VPY" -c 'import fixpo' || { log "import fixpo failed after the build"; exit 1; }
  log "fixpo built into $VENV"
fi

echo "$VPY"
