#!/usr/bin/env bash
# Results matrix: `fixpo train` over algos × tasks × seeds at one step
# budget, plus a C_β sweep on Hopper, then docs/results.md and
# docs/figures/*.png via scripts/make_results.py.
#
# Everything is configurable through the environment:
#   TASKS   space-separated task names   (default: the 8 MuJoCo tasks)
#   ALGOS   update rules                 (default: fixpo ppo-clip fixpo-nofixup)
#   SEEDS   seeds                        (default: 0 1 2)
#   STEPS   env steps per run            (default: 1000000, the paper's budget)
#   CBETAS  C_β values for the Hopper sweep, algo fixpo (default: 1 2 5; empty: no sweep)
#   SWEEP_TASK  task of the C_β sweep    (default: hopper)
#   EVAL_EVERY  iterations between evaluations (default: 10)
#   OUT     results root                 (default: runs/results)
#   FIXPO   the binary                   (default: target/release/fixpo, built with the mujoco feature)
#   BENCH   1 (default) also runs `fixpo bench --env $SWEEP_TASK` into OUT/bench.json
#   EXTRA   extra `--set` arguments for every run, e.g. "--set eval_episodes=5"
# Runs go one at a time (each uses every core). A run whose log already
# ends with the CLI's `done:` line is skipped, so the script can be
# re-run to fill in a matrix (an interrupted run starts again). Set SKIP_RUNS=1 to only regenerate the docs.
#
# Full protocol (paper: 1M steps, 3 seeds):
#   scripts/setup-mujoco.sh && source .cache/mujoco/env.sh
#   cargo build --release --bin fixpo --features fixpo-host/mujoco
#   scripts/results.sh
# Short budget (what docs/results.md currently shows, see its header):
#   SEEDS="0 1" STEPS=100000 EVAL_EVERY=4 scripts/results.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
TASKS="${TASKS:-hopper walker2d halfcheetah swimmer inverted-pendulum inverted-double-pendulum reacher ant}"
ALGOS="${ALGOS:-fixpo ppo-clip fixpo-nofixup}"
SEEDS="${SEEDS:-0 1 2}"
STEPS="${STEPS:-1000000}"
CBETAS="${CBETAS-1 2 5}"
SWEEP_TASK="${SWEEP_TASK:-hopper}"
EVAL_EVERY="${EVAL_EVERY:-10}"
OUT="${OUT:-runs/results}"
FIXPO="${FIXPO:-target/release/fixpo}"
EXTRA="${EXTRA:-}"
if [[ -f .cache/mujoco/env.sh && -z "${FIXPO_MJCF_DIR:-}" ]]; then
  # shellcheck disable=SC1091
  source .cache/mujoco/env.sh
fi

run() { # dir, then fixpo train args
  local dir="$1"; shift
  if [[ -f "$dir.log" ]] && grep -q '^done:' "$dir.log"; then
    echo "results: skip $dir (done)"; return
  fi
  echo "results: $dir"
  # shellcheck disable=SC2086
  "$FIXPO" train --quiet --no-plot --force --out "$dir" --steps "$STEPS" \
    --set "eval_every=$EVAL_EVERY" $EXTRA "$@" > "$dir.log" 2>&1 || {
      echo "results: FAILED $dir (see $dir.log)"; return 0; }
}

if [[ "${SKIP_RUNS:-0}" != 1 ]]; then
  mkdir -p "$OUT"
  for task in $TASKS; do
    for algo in $ALGOS; do
      for seed in $SEEDS; do
        mkdir -p "$OUT/main/$task/$algo"
        run "$OUT/main/$task/$algo/s$seed" --env "$task" --algo "$algo" --seed "$seed"
      done
    done
  done
  for cb in $CBETAS; do
    for seed in $SEEDS; do
      mkdir -p "$OUT/cbeta/$SWEEP_TASK/c$cb"
      run "$OUT/cbeta/$SWEEP_TASK/c$cb/s$seed" --env "$SWEEP_TASK" --algo fixpo --seed "$seed" --set "c_beta=$cb"
    done
  done
fi

if [[ "${SKIP_RUNS:-0}" != 1 && "${BENCH:-1}" == 1 ]]; then
  # Throughput of this machine at the reference settings (20 iterations).
  "$FIXPO" bench --env "$SWEEP_TASK" --json > "$OUT/bench.json" || rm -f "$OUT/bench.json"
fi

python3 scripts/make_results.py --root "$OUT" --fixpo "$FIXPO" \
  --steps "$STEPS" --seeds "$SEEDS" --cbetas "$CBETAS" --sweep-task "$SWEEP_TASK" \
  --cmd "SEEDS=\"$SEEDS\" STEPS=$STEPS EVAL_EVERY=$EVAL_EVERY scripts/results.sh"
