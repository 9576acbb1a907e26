"""Asserted learning on Gymnasium's own environments (not fixpo's Rust
copies), evaluated deterministically on fresh `gymnasium.make` envs seeded
0..19, with the trust-region guarantee (max_kl <= eps_kl) checked by the
callback on every iteration.

Select with `pytest -m learning`; skip with `-m "not learning"`.
"""
import json
import time

import gymnasium as gym
import pytest

import fixpo

pytestmark = pytest.mark.learning


def deterministic_return(model, env_id, episodes=20):
    """Mean undiscounted return of `predict(deterministic=True)` over fresh
    envs seeded 0..episodes-1."""
    total = 0.0
    for seed in range(episodes):
        env = gym.make(env_id)
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        env.close()
    return total / episodes


def train_checked(env_id, steps):
    """Trains with seed 0, asserting the KL bound on every iteration."""
    iters = []

    def check_kl(metrics):
        assert metrics["max_kl"] <= metrics["eps_kl"], metrics
        iters.append(metrics["iter"])

    model = fixpo.FixPO(env_id, seed=0)
    t0 = time.perf_counter()
    model.learn(steps, callback=check_kl)
    seconds = time.perf_counter() - t0
    assert iters == list(range(1, len(iters) + 1)) and iters, iters
    return model, seconds, len(iters)


def test_pendulum_v1_learns(tmp_path, fixpo_cli):
    model, seconds, n_iters = train_checked("Pendulum-v1", 60_000)
    ret = deterministic_return(model, "Pendulum-v1")
    print(f"\nPendulum-v1: {model.num_timesteps} steps, {n_iters} iterations, "
          f"{seconds:.1f} s training, deterministic return {ret:.1f} (seeds 0..19)")
    assert ret > -200, ret
    # The saved file is the firmware's shape (3 -> 32x32 -> 1) and acts as the model.
    path = tmp_path / "pendulum.fxp"
    model.save(path)
    assert deterministic_return(fixpo.load(path), "Pendulum-v1") == ret
    info = json.loads(fixpo_cli("inspect", "--json", str(path)))
    assert (info["kind"], info["obs"], info["hid"], info["act"]) == ("gaussian", 3, 32, 1), info


def test_cartpole_v1_learns():
    model, seconds, n_iters = train_checked("CartPole-v1", 50_000)
    ret = deterministic_return(model, "CartPole-v1")
    print(f"\nCartPole-v1: {model.num_timesteps} steps, {n_iters} iterations, "
          f"{seconds:.1f} s training, deterministic return {ret:.1f} (seeds 0..19)")
    assert ret >= 475, ret
