#!/usr/bin/env python3
"""One Gymnasium step from each given state, for fixpo's conformance test.

Reads one JSON object on stdin:

    {"task": "pendulum", "cases": [{"state": [...], "action": [...]}, ...]}

`task` is a fixpo task name (see `fixpo envs`): pendulum, cartpole,
cartpole-continuous, mountaincar-continuous, acrobot. `state` is the
unwrapped environment's `state` in fixpo's layout (which is Gymnasium's);
`action` is fixpo's action vector: continuous values, or one score per
choice for a discrete task (the index of the largest is taken, first on
ties, as fixpo does).

For every case the script resets the environment, sets `env.unwrapped.state`
and calls `env.unwrapped.step` once (the time limit is not exercised).
Numbers read as f32 by fixpo are handed to Gymnasium as the same f32 values,
widened to f64 where Gymnasium keeps its state in f64.

Output, one line per case after a `#` header line:

    obs... reward terminated(0|1) next_state... d_obs... d_reward d_next_state...

with every float printed by `repr`, so it reads back exactly. The `d_`
fields measure how well-conditioned the step is: for each output, the sum
over state components of the largest change that moving that one component
by one f32 ulp (either way) causes in Gymnasium's own f64 step. An f32
implementation cannot be expected to agree more closely than that.

`cartpole-continuous` has no Gymnasium id: it is CartPole-v1 with the push
`force_mag * clip(action, -1, 1)`, done here by setting the unwrapped
environment's `force_mag` to that force and pushing right.
"""

import json
import sys

import numpy as np

import gymnasium as gym

GYM_IDS = {
    "pendulum": "Pendulum-v1",
    "cartpole": "CartPole-v1",
    "cartpole-continuous": "CartPole-v1",
    "mountaincar-continuous": "MountainCarContinuous-v0",
    "acrobot": "Acrobot-v1",
}


def f32(values):
    return np.asarray(values, dtype=np.float32)


def first_argmax(scores):
    return int(np.argmax(f32(scores)))


def step_case(task, env, state, action):
    """Returns (obs, reward, terminated, next_state) for one case."""
    env.reset(seed=0)
    raw = env.unwrapped
    if task == "mountaincar-continuous":
        # Gymnasium keeps this state in float32 after every step.
        raw.state = f32(state)
    else:
        raw.state = f32(state).astype(np.float64)

    if task == "pendulum" or task == "mountaincar-continuous":
        act = f32(action)
    elif task == "cartpole":
        act = first_argmax(action)
    elif task == "cartpole-continuous":
        raw.force_mag = 10.0 * float(np.clip(f32(action)[0], -1.0, 1.0))
        act = 1
    elif task == "acrobot":
        act = first_argmax(action)
    else:
        raise ValueError(f"unknown task {task!r}")

    obs, reward, terminated, _truncated, _info = raw.step(act)
    next_state = np.asarray(raw.state, dtype=np.float64)
    return obs, float(reward), bool(terminated), next_state


def outputs(result):
    obs, reward, _terminated, next_state = result
    return np.concatenate([np.asarray(obs, dtype=np.float64).ravel(), [reward], next_state.ravel()])


def sensitivity(task, env, state, action, base):
    """Per output, the summed effect of one-ulp moves of each state component."""
    base = outputs(base)
    total = np.zeros_like(base)
    for i in range(len(state)):
        worst = np.zeros_like(base)
        for direction in (np.inf, -np.inf):
            moved = f32(state).copy()
            moved[i] = np.nextafter(moved[i], np.float32(direction))
            out = outputs(step_case(task, env, moved.tolist(), action))
            worst = np.maximum(worst, np.abs(out - base))
        total += worst
    return total


def main():
    request = json.load(sys.stdin)
    task = request["task"]
    if task not in GYM_IDS:
        sys.exit(f"gym_classic_reference.py: unknown task {task!r}; expected one of {sorted(GYM_IDS)}")
    env = gym.make(GYM_IDS[task])
    out = [f"# gymnasium {gym.__version__} task {task} id {GYM_IDS[task]} "
           f"fields obs reward terminated next_state d_obs d_reward d_next_state"]
    for case in request["cases"]:
        obs, reward, terminated, next_state = step_case(task, env, case["state"], case["action"])
        fields = [repr(float(v)) for v in np.asarray(obs).ravel()]
        fields.append(repr(reward))
        fields.append("1" if terminated else "0")
        fields.extend(repr(float(v)) for v in next_state.ravel())
        base = (obs, reward, terminated, next_state)
        fields.extend(repr(float(v)) for v in sensitivity(task, env, case["state"], case["action"], base))
        out.append(" ".join(fields))
    env.close()
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
