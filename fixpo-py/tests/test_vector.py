"""Gymnasium vector environments (`SyncVectorEnv`, `AsyncVectorEnv`) in
each autoreset mode, collected in lockstep. How episodes' ends become
transitions is checked in Rust (fixpo-host/tests/lockstep.rs, against a
serial collection and a counting environment); here: the bridge's side."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

import fixpo


def make_vec(n, mode, cls=SyncVectorEnv, env_id="CartPole-v1"):
    return cls([lambda: gym.make(env_id) for _ in range(n)], autoreset_mode=mode)


def small(env, **kw):
    return fixpo.FixPO(env, seed=0, steps_per_env=128, minibatch=64, fixup_minibatch=256,
                       **kw)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP,
                                  AutoresetMode.DISABLED])
def test_each_autoreset_mode_trains_inside_the_trust_region(mode):
    seen = []

    def cb(m):
        assert m["max_kl"] <= m["eps_kl"], m
        seen.append(m)

    model = small(make_vec(3, mode))
    model.learn(3 * 128 * 3, callback=cb, progress_bar=False)
    assert [m["iter"] for m in seen] == [1, 2, 3]
    assert model.num_timesteps == 3 * 128 * 3
    # CartPole episodes are short at first: many ended and were counted.
    assert seen[-1]["episodes"] > 10, seen[-1]
    a, _ = model.predict(np.zeros(4, dtype=np.float32))
    assert a in (0, 1)


def test_vector_env_runs_are_deterministic(tmp_path):
    files = []
    for k in range(2):
        m = small(make_vec(2, AutoresetMode.NEXT_STEP, env_id="Pendulum-v1"))
        m.learn(2 * 128 * 2, progress_bar=False)
        m.save(tmp_path / f"{k}.fxp")
        files.append((tmp_path / f"{k}.fxp").read_bytes())
    assert files[0] == files[1]
    assert fixpo.load(tmp_path / "0.fxp").obs_size == 3


def test_async_vector_env():
    env = make_vec(2, AutoresetMode.NEXT_STEP, cls=AsyncVectorEnv)
    try:
        m = small(env)
        m.learn(2 * 128 * 2, progress_bar=False)
        assert m.num_timesteps == 512
    finally:
        env.close()


def test_n_envs_must_match_the_vector_env():
    with pytest.raises(ValueError, match="n_envs=3 but the vector environment has 2"):
        small(make_vec(2, AutoresetMode.NEXT_STEP), n_envs=3)


def test_an_exception_in_a_vector_step_propagates():
    class Boom(gym.Wrapper):
        def step(self, action):
            raise RuntimeError("boom in step")

    env = SyncVectorEnv([lambda: Boom(gym.make("CartPole-v1")) for _ in range(2)])
    m = small(env)
    with pytest.raises(RuntimeError, match="boom in step"):
        m.learn(512, progress_bar=False)
