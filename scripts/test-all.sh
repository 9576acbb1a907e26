#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine (idempotent) and runs
# every test: formatting, lints, the workspace tests (MuJoCo tasks included,
# with the conformance tests against Gymnasium), the no_std build of
# fixpo-core for Cortex-M4F, the firmware's host tests and its QEMU test,
# and the Python package's pytest suite (fixpo-py, built with maturin).
#
#   scripts/test-all.sh            # everything
#   FIXPO_SKIP_SETUP=1 scripts/test-all.sh   # skip the installs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { printf '\n==== %s\n' "$*"; }

if [ "${FIXPO_SKIP_SETUP:-0}" != 1 ]; then
  step "setup: Cortex-M toolchain, QEMU, defmt-print"
  scripts/setup-firmware-toolchain.sh
  step "setup: MuJoCo 3.17.0 library and Gymnasium 1.4.0 models (cache outside git)"
  scripts/setup-mujoco.sh
  step "setup: Python venv with gymnasium 1.4.0 + mujoco 3.17.0 for conformance tests"
  scripts/setup-venv.sh >/dev/null
  step "setup: Python venv for fixpo-py (maturin 1.16, gymnasium[mujoco] 1.4.0, pytest)"
  FIXPO_PY_SKIP_BUILD=1 scripts/setup-python.sh >/dev/null
fi
# shellcheck disable=SC1091
source "${FIXPO_CACHE:-$root/.cache/mujoco}/env.sh"
export PATH="$HOME/.cargo/bin:$PATH"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets, MuJoCo feature on) -D warnings"
cargo clippy --workspace --all-targets --features fixpo-host/mujoco -- -D warnings

step "cargo test (workspace, MuJoCo feature on)"
# fixpo-py's tests are Python (below); its cdylib is built by maturin there.
cargo test --workspace --exclude fixpo-py --features fixpo-host/mujoco

step "cargo test -p fixpo-host --lib without the MuJoCo feature (the registry's and the configuration's 'needs --features mujoco' errors)"
# Unit tests only: the CLI's error is checked on the binary the Python step
# builds without the feature (below), which saves rebuilding every
# integration test. The dev profile: these are checks of lookups and
# messages, not of speed, and the optimised rebuild of fixpo-host alone
# took 5 minutes of a 2-core CI run.
cargo test -p fixpo-host --lib --profile dev -- tasks:: config::

step "fixpo-core for thumbv7em-none-eabihf: no std, no alloc, each feature; size probe"
scripts/build-core-thumb.sh

step "firmware: host tests of the library and fixpo-plant, clippy, fmt"
scripts/firmware.sh test

step "firmware boards: clippy -D warnings and fmt of qemu-mps2, stm32f4 (F446, F405, qemu), rp2350"
scripts/firmware.sh clippy

step "firmware boards: footprint (builds every board; stack measured under QEMU)"
# The policy the QEMU tests trained (cargo test above wrote it).
fw_policy=target/tmp/firmware_qemu/policy.fxp
if [ -f "$fw_policy" ]; then
  scripts/firmware.sh footprint --policy "$fw_policy"
else
  scripts/firmware.sh footprint
fi

step "fixpo-py: maturin develop --release, then pytest (Gymnasium's own envs)"
vpy=$(scripts/setup-python.sh)
fixpo_bin=$(cargo build --quiet --profile test --bin fixpo --message-format=json |
  "$vpy" -c 'import json, sys; print([m for m in map(json.loads, sys.stdin) if m.get("executable")][-1]["executable"])')
FIXPO_BIN="$fixpo_bin" "$vpy" -m pytest fixpo-py/tests -q -rs --durations=5

step "fixpo without the MuJoCo feature: a MuJoCo task is a one-line error"
if err=$("$fixpo_bin" train --env hopper --out "$(mktemp -d)/run" 2>&1); then
  echo "expected an error, got success:"; echo "$err"; exit 1
fi
echo "$err"
[[ $(printf '%s\n' "$err" | wc -l) -eq 1 && $err == *"--features fixpo-host/mujoco"* ]] ||
  { echo "not the one-line 'needs --features' error"; exit 1; }
if "$fixpo_bin" envs | grep -qw hopper; then echo "fixpo envs lists hopper without the feature"; exit 1; fi

step "all tests passed"
