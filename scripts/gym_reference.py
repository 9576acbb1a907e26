#!/usr/bin/env python3
"""Gymnasium v5 reference trajectories for fixpo's MuJoCo task conformance tests.

Runs the real Gymnasium environment from an exact physics state and prints,
as JSON lines, what Gymnasium returns at each step, so the Rust
implementation can be compared against it value by value.

Run it with the venv from scripts/setup-venv.sh:

    PY=$(scripts/setup-venv.sh)
    echo '{"qpos": [...], "qvel": [...], "actions": [[...], ...]}' \
        | "$PY" scripts/gym_reference.py Hopper-v5 --seed 0

Input (stdin): one JSON object, or several as JSON lines (one case per line).
Each case may have:
  actions        list of action vectors (required; may be empty)
  qpos, qvel     initial state; applied with env.unwrapped.set_state after
                 env.reset(seed=...). When absent, the state from the seeded
                 reset is used (and reported in the "reset" line).
  task, seed     override the command-line values for this case
  kwargs         extra keyword arguments for gym.make (e.g. reset_noise_scale)
  elapsed_steps  TimeLimit step counter to start from (default 0), to test
                 truncation without replaying a whole episode
  continue_after_done
                 true/false: this case's override of --continue-after-done

Output (stdout), per case:
  {"case": i, "event": "reset", "task", "seed", "obs", "qpos", "qvel",
   "dt", "frame_skip", "nq", "nv", "nu", "obs_dim", "action_low",
   "action_high", "max_episode_steps", "init_qpos", "init_qvel"}
  then one line per action:
  {"case": i, "event": "step", "t": k, "action", "obs", "reward",
   "terminated", "truncated", "qpos", "qvel"[, "info"]}
Stepping stops at the first terminated/truncated unless --continue-after-done.
Floats are printed with full round-trip precision (NaN/Infinity as in
Python's json module). Anything MuJoCo or Gymnasium prints goes to stderr.

Actions are passed to Gymnasium as float64, unclipped, as given: Gymnasium's
v5 envs do not clip actions (MuJoCo clamps ctrl to ctrlrange internally for
actuators with ctrllimited, but the control cost is computed on the raw
action).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

TASKS = (
    "Hopper-v5",
    "Walker2d-v5",
    "HalfCheetah-v5",
    "Swimmer-v5",
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
    "Reacher-v5",
    "Ant-v5",
)


def _redirect_stdout():
    """Keep a private handle on stdout for JSON; send fd 1 to stderr.

    MuJoCo's C library prints warnings (e.g. deprecated compiler attributes)
    straight to fd 1, which would corrupt the JSON lines otherwise.
    """
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def _to_jsonable(x):
    import numpy as np

    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, dict):
        return {str(k): _to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_to_jsonable(v) for v in x]
    return x


def _find_time_limit(env):
    from gymnasium.wrappers import TimeLimit

    e = env
    while e is not None:
        if isinstance(e, TimeLimit):
            return e
        e = getattr(e, "env", None)
    return None


def _read_cases(text: str) -> list[dict]:
    text = text.strip()
    if not text:
        raise SystemExit("gym_reference: no input on stdin")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        obj = [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(obj, dict):
        obj = [obj]
    if not isinstance(obj, list) or not all(isinstance(c, dict) for c in obj):
        raise SystemExit("gym_reference: input must be a JSON object or JSON lines of objects")
    return obj


def run_case(out, idx: int, case: dict, default_task: str | None, default_seed: int,
             with_info: bool, continue_after_done: bool) -> None:
    import gymnasium as gym
    import numpy as np

    task = case.get("task", default_task)
    if task is None:
        raise SystemExit(f"gym_reference: case {idx}: no task given")
    if task not in TASKS:
        print(f"gym_reference: warning: {task} is not one of {TASKS}", file=sys.stderr)
    seed = int(case.get("seed", default_seed))
    kwargs = dict(case.get("kwargs", {}))

    env = gym.make(task, disable_env_checker=True, **kwargs)
    try:
        u = env.unwrapped
        env.reset(seed=seed)
        if "qpos" in case or "qvel" in case:
            qpos = np.asarray(case.get("qpos", u.data.qpos), dtype=np.float64)
            qvel = np.asarray(case.get("qvel", u.data.qvel), dtype=np.float64)
            if qpos.shape != (u.model.nq,) or qvel.shape != (u.model.nv,):
                raise SystemExit(
                    f"gym_reference: case {idx}: qpos/qvel must have length "
                    f"{u.model.nq}/{u.model.nv}, got {qpos.shape}/{qvel.shape}"
                )
            u.set_state(qpos, qvel)
        tl = _find_time_limit(env)
        if "elapsed_steps" in case:
            if tl is None:
                raise SystemExit(f"gym_reference: case {idx}: env has no TimeLimit")
            tl._elapsed_steps = int(case["elapsed_steps"])

        reset_line = {
            "case": idx,
            "event": "reset",
            "task": task,
            "seed": seed,
            "obs": u._get_obs(),
            "qpos": u.data.qpos,
            "qvel": u.data.qvel,
            "dt": u.dt,
            "frame_skip": u.frame_skip,
            "nq": u.model.nq,
            "nv": u.model.nv,
            "nu": u.model.nu,
            "obs_dim": env.observation_space.shape[0],
            "action_low": env.action_space.low.astype(np.float64),
            "action_high": env.action_space.high.astype(np.float64),
            "max_episode_steps": tl.spec.max_episode_steps if tl is not None and tl.spec else None,
            "init_qpos": u.init_qpos,
            "init_qvel": u.init_qvel,
        }
        out.write(json.dumps(_to_jsonable(reset_line)) + "\n")

        for t, action in enumerate(case.get("actions", [])):
            a = np.asarray(action, dtype=np.float64)
            if a.shape != env.action_space.shape:
                raise SystemExit(
                    f"gym_reference: case {idx} step {t}: action shape {a.shape}, "
                    f"expected {env.action_space.shape}"
                )
            obs, reward, terminated, truncated, info = env.step(a)
            line = {
                "case": idx,
                "event": "step",
                "t": t,
                "action": a,
                "obs": obs,
                "reward": float(reward),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "qpos": u.data.qpos,
                "qvel": u.data.qvel,
            }
            if with_info:
                line["info"] = info
            out.write(json.dumps(_to_jsonable(line)) + "\n")
            if (terminated or truncated) and not case.get("continue_after_done",
                                                           continue_after_done):
                break
    finally:
        env.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("task", nargs="?", help=f"one of {', '.join(TASKS)} (or 'task' in the input)")
    ap.add_argument("--seed", type=int, default=0, help="seed for env.reset (default 0)")
    ap.add_argument("--info", action="store_true", help="include Gymnasium's info dict per step")
    ap.add_argument("--continue-after-done", action="store_true",
                    help="keep stepping after terminated/truncated")
    args = ap.parse_args()

    out = _redirect_stdout()
    import mujoco

    # Route MuJoCo warnings to stderr; this also stops MuJoCo from writing
    # MUJOCO_LOG.TXT into the current directory.
    mujoco.set_mju_user_warning(lambda msg: print(f"MuJoCo warning: {msg}", file=sys.stderr))
    cases = _read_cases(sys.stdin.read())
    for i, case in enumerate(cases):
        run_case(out, i, case, args.task, args.seed, args.info, args.continue_after_done)
    out.flush()


if __name__ == "__main__":
    main()
