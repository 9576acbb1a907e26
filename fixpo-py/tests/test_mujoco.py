"""A short training run on Gymnasium's own Hopper-v5 (MuJoCo through the
`mujoco` Python package, as `gymnasium[mujoco]` installs it): 11
observations padded to 16, 3 Box actions, the trust region checked on
every iteration, the file at the env's real size."""
import json

import gymnasium as gym
import numpy as np

import fixpo


def test_hopper_v5_smoke(tmp_path, fixpo_cli):
    kls = []

    def check_kl(m):
        assert m["max_kl"] <= m["eps_kl"], m
        kls.append(m["max_kl"])

    model = fixpo.FixPO("Hopper-v5", seed=0, n_envs=4, steps_per_env=512, hidden=64)
    assert (model.padded_obs_size, model.action_size) == (16, 3)
    model.learn(4 * 512 * 3, callback=check_kl)
    assert len(kls) == 3 and model.num_timesteps == 4 * 512 * 3
    env = gym.make("Hopper-v5")
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs)
    assert action.shape == (3,) and action.dtype == np.float32
    assert np.all(action >= env.action_space.low) and np.all(action <= env.action_space.high)
    path = tmp_path / "hopper.fxp"
    model.save(path)
    info = json.loads(fixpo_cli("inspect", "--json", str(path)))
    assert (info["kind"], info["obs"], info["hid"], info["act"]) == ("gaussian", 11, 64, 3), info
    loaded = fixpo.load(path)
    np.testing.assert_array_equal(loaded.predict(obs)[0], action)
