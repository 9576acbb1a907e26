"""Throughput of the Python bridge on Gymnasium's Hopper-v5.

Measures, in one process and alternating run by run:
  raw     env steps/s of a plain Python loop (`env.step` on fixed random
          actions, `env.reset` when an episode ends): the env's own rate;
  bridge  env steps/s of fixpo's collection through the bridge while
          training (steps / the iterations' `collect_s`): policy and value
          forward passes, normalisation and the Rust <-> Python crossing
          included;
  train   env steps/s of the whole `learn` (collection + updates).
Prints the median of each, the ratio bridge/raw (target >= 0.8) and the
bridge's per-step overhead (1/bridge - 1/raw) in microseconds, as text and
as one JSON line.

    python fixpo-py/bench/hopper_throughput.py [--steps N] [--repeats K]
"""
import argparse
import json
import platform
import statistics
import time

import gymnasium as gym
import numpy as np

import fixpo


def raw_rate(steps, seed):
    env = gym.make("Hopper-v5")
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    actions = rng.uniform(low, high, size=(steps, low.size)).astype(np.float32)
    env.reset(seed=seed)
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    dt = time.perf_counter() - t0
    env.close()
    return steps / dt


def bridge_rates(steps, seed, n_envs, steps_per_env):
    collect = []
    model = fixpo.FixPO("Hopper-v5", seed=seed, n_envs=n_envs, steps_per_env=steps_per_env)
    t0 = time.perf_counter()
    model.learn(steps, callback=lambda m: collect.append(m["collect_s"]), progress_bar=False)
    wall = time.perf_counter() - t0
    n = model.num_timesteps
    return n / sum(collect), n / wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=32_768, help="env steps per measurement")
    ap.add_argument("--repeats", type=int, default=3, help="alternated measurements of each")
    ap.add_argument("--n-envs", type=int, default=8)
    ap.add_argument("--steps-per-env", type=int, default=512)
    args = ap.parse_args()
    raw, bridge, train = [], [], []
    for k in range(args.repeats):
        raw.append(raw_rate(args.steps, k))
        b, t = bridge_rates(args.steps, k, args.n_envs, args.steps_per_env)
        bridge.append(b)
        train.append(t)
    r, b, t = (statistics.median(x) for x in (raw, bridge, train))
    out = {
        "env": "Hopper-v5",
        "steps": args.steps,
        "repeats": args.repeats,
        "raw_sps": round(r),
        "bridge_collect_sps": round(b),
        "train_sps": round(t),
        "ratio_bridge_raw": round(b / r, 3),
        "overhead_us_per_step": round((1 / b - 1 / r) * 1e6, 2),
        "python": platform.python_version(),
        "fixpo": fixpo.__version__,
    }
    print(f"Hopper-v5, median of {args.repeats} alternated runs of {args.steps} steps:")
    print(f"  Python loop        {r:10.0f} steps/s")
    print(f"  bridge collection  {b:10.0f} steps/s  ({b / r:.1%} of the loop; "
          f"{out['overhead_us_per_step']} us/step overhead)")
    print(f"  training overall   {t:10.0f} steps/s  (collection + updates)")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
