#!/usr/bin/env bash
# Create a Python venv with Gymnasium[mujoco] 1.4.0 + MuJoCo 3.17.0 (+ numpy,
# imageio, packaging as gymnasium requires) for conformance tests of fixpo's MuJoCo tasks against
# the Gymnasium v5 reference (scripts/gym_reference.py).
#
# Idempotent: an existing venv whose versions already match is left alone.
# Location: $FIXPO_CACHE/venv, FIXPO_CACHE defaulting to <repo>/.cache/mujoco
# (the same cache scripts/setup-mujoco.sh uses; .cache is gitignored).
# Prints the venv's python path on stdout (last line); progress goes to stderr.
set -euo pipefail

MUJOCO_VERSION=3.17.0
GYMNASIUM_VERSION=1.4.0

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${FIXPO_CACHE:-$REPO/.cache/mujoco}"
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"
VENV="$CACHE/venv"
BASE_PY="${PYTHON:-python3}"
VPY="$VENV/bin/python"

log() { echo "setup-venv: $*" >&2; }

versions_ok() {
  [[ -x "$VPY" ]] && "$VPY" - "$MUJOCO_VERSION" "$GYMNASIUM_VERSION" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
assert version("mujoco") == sys.argv[1], version("mujoco")
assert version("gymnasium") == sys.argv[2], version("gymnasium")
import numpy, mujoco, gymnasium  # noqa: F401  (imports must work too)
import gymnasium.envs.mujoco  # noqa: F401  (needs the [mujoco] extra: imageio, packaging)
EOF
}

if versions_ok; then
  log "venv ok: $VENV"
else
  if [[ ! -x "$VPY" ]]; then
    "$BASE_PY" -c 'import sys; assert sys.version_info[:2] >= (3, 10), sys.version' \
      || { log "need python >= 3.10 (set PYTHON=...)"; exit 1; }
    log "creating $VENV"
    rm -rf "$VENV"
    "$BASE_PY" -m venv "$VENV"
  fi
  log "installing gymnasium[mujoco]==$GYMNASIUM_VERSION mujoco==$MUJOCO_VERSION (+ deps)"
  # The [mujoco] extra brings imageio and packaging, which gymnasium.envs.mujoco imports.
  "$VPY" -m pip install --quiet --disable-pip-version-check \
    "gymnasium[mujoco]==$GYMNASIUM_VERSION" "mujoco==$MUJOCO_VERSION" numpy >&2
  versions_ok || { log "venv check failed after install"; exit 1; }
  log "venv ready: $VENV"
fi

echo "$VPY"
