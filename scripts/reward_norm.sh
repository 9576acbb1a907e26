#!/usr/bin/env bash
# Reward normalisation on the MuJoCo presets: `reward-scale` (rewards ÷ σ_R)
# against `value-targets` (Tianshou's rew_norm: value targets ÷ σ_R,
# advantages in raw reward units), then docs/reward-norm.md.
#
#   TASKS  (default: hopper walker2d halfcheetah)
#   SEEDS  (default: 0 1 2)
#   STEPS  (default: 1000000)
#   OUT    (default: runs/reward-norm)
#   FIXPO  (default: target/release/fixpo, built with the mujoco feature)
# A run whose log ends with the CLI's `done:` line is skipped. SKIP_RUNS=1
# only regenerates the page.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
TASKS="${TASKS:-hopper walker2d halfcheetah}"
SEEDS="${SEEDS:-0 1 2}"
STEPS="${STEPS:-1000000}"
OUT="${OUT:-runs/reward-norm}"
FIXPO="${FIXPO:-target/release/fixpo}"
if [[ -f .cache/mujoco/env.sh && -z "${FIXPO_MJCF_DIR:-}" ]]; then
  # shellcheck disable=SC1091
  source .cache/mujoco/env.sh
fi
if [[ "${SKIP_RUNS:-0}" != 1 ]]; then
  mkdir -p "$OUT"
  for seed in $SEEDS; do
    for task in $TASKS; do
      for mode in value-targets reward-scale; do
        d="$OUT/$task-$mode-s$seed"
        if [[ -f "$d.log" ]] && grep -q '^done:' "$d.log"; then continue; fi
        echo "reward-norm: $d"
        "$FIXPO" train --env "$task" --seed "$seed" --steps "$STEPS" --quiet --no-plot --force \
          --out "$d" --set eval_every=10 --set "reward_norm=$mode" > "$d.log" 2>&1 \
          || echo "reward-norm: FAILED $d (see $d.log)"
      done
    done
  done
fi
python3 scripts/reward_norm_table.py "$OUT" > docs/reward-norm.md
echo "wrote docs/reward-norm.md"
