"""Gymnasium's own environments through the bridge: training, prediction,
saving, configuration keys, spaces and errors."""
import json
import time

import gymnasium as gym
import numpy as np
import pytest

import fixpo


def eval_return(model, env_id, episodes, seed=1000):
    env = gym.make(env_id)
    total = 0.0
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, r, term, trunc, _ = env.step(action)
            total += r
            done = term or trunc
    return total / episodes


def test_pendulum_trains_and_saves(tmp_path, fixpo_cli):
    model = fixpo.FixPO("Pendulum-v1", seed=0)
    t0 = time.perf_counter()
    model.learn(60_000)
    dt = time.perf_counter() - t0
    ret = eval_return(model, "Pendulum-v1", 20)
    print(f"Pendulum-v1: {model.num_timesteps} steps in {dt:.1f} s "
          f"({model.num_timesteps / dt:.0f} steps/s incl. updates), eval return {ret:.1f}")
    assert ret > -400, ret
    path = tmp_path / "pendulum.fxp"
    model.save(path)
    assert path.stat().st_size > 0
    out = fixpo_cli("inspect", str(path))
    assert "gaussian" in out.lower(), out


def test_same_seed_same_file(tmp_path):
    files = []
    for k in range(2):
        m = fixpo.FixPO("Pendulum-v1", seed=3, num_envs=2, steps_per_env=128, minibatch=64,
                        fixup_minibatch=256)
        m.learn(512)
        p = tmp_path / f"p{k}.fxp"
        m.save(p)
        files.append(p.read_bytes())
    assert files[0] == files[1]


def test_cartpole_discrete_predict():
    m = fixpo.FixPO("CartPole-v1", seed=0, n_envs=2, steps_per_env=64, minibatch=64)
    m.learn(128)
    obs, _ = gym.make("CartPole-v1").reset(seed=0)
    a, state = m.predict(obs)
    assert state is None and a in (0, 1)
    batch, _ = m.predict(np.stack([obs, obs]))
    assert batch.shape == (2,)


def test_predict_shapes():
    m = fixpo.FixPO("Pendulum-v1", seed=0)
    a, _ = m.predict(np.zeros(3, dtype=np.float32))
    assert a.shape == (1,) and -2.0 <= a[0] <= 2.0
    a, _ = m.predict(np.zeros((5, 3)), deterministic=False)
    assert a.shape == (5, 1)
    with pytest.raises(ValueError, match="expected"):
        m.predict(np.zeros(4))


def test_unknown_key_lists_valid_keys():
    with pytest.raises(TypeError, match="valid keys: .*eps_kl"):
        fixpo.FixPO("Pendulum-v1", not_a_key=1)


def test_bad_value():
    with pytest.raises(ValueError, match="num_envs"):
        fixpo.FixPO("Pendulum-v1", n_envs=0)


class MultiAction(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.MultiDiscrete([2, 3])


def test_unsupported_spaces():
    with pytest.raises(TypeError, match="Box and Discrete"):
        fixpo.FixPO(MultiAction)
    with pytest.raises(TypeError, match="Box observation"):
        fixpo.FixPO("FrozenLake-v1")
    with pytest.raises(TypeError, match="Box observation"):
        fixpo.FixPO("Blackjack-v1")
    with pytest.raises(ValueError, match="1000 values, more than this build"):
        fixpo.FixPO(_wide)
    with pytest.raises(ValueError, match="5 dimensions, which this build"):
        fixpo.FixPO(_five_actions)
    with pytest.raises(ValueError, match="hidden=128 is not compiled"):
        fixpo.FixPO("Pendulum-v1", hidden=128)
    # What the menu lists is what the errors say.
    assert fixpo.MENU[64] == {"obs": [4, 8, 16, 32], "act": [1, 2, 3, 4, 6, 8]}


def _five_actions():
    env = Boom()
    env.action_space = gym.spaces.Box(-1.0, 1.0, (5,), np.float32)
    return env


def _wide():
    env = Boom()
    env.observation_space = gym.spaces.Box(-1.0, 1.0, (1000,), np.float32)
    return env


class Boom(gym.Env):
    """Raises in step after a few steps."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self):
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        self.t += 1
        if self.t == 50:
            raise RuntimeError("boom from step")
        return np.zeros(3, np.float32), 0.0, False, self.t % 20 == 0, {}


def test_exception_in_step_propagates():
    m = fixpo.FixPO(Boom, n_envs=1, steps_per_env=64, minibatch=64)
    with pytest.raises(RuntimeError, match="boom from step") as info:
        m.learn(1000)
    # The traceback reaches into the environment's own frame.
    assert info.traceback[-1].name == "step"


def test_saved_file_is_stripped_and_acts_the_same(tmp_path, fixpo_cli):
    """The file says Pendulum's 3 observations (not the padded 4), and the
    stripped policy acts exactly as the model on real observations."""
    m = fixpo.FixPO("Pendulum-v1", seed=1, num_envs=2, steps_per_env=128, minibatch=64,
                    fixup_minibatch=256)
    m.learn(1024)
    assert m.padded_obs_size == 4
    path = tmp_path / "p.fxp"
    m.save(path)
    p = fixpo.load(path)
    assert (p.obs_size, p.action_size, p.kind) == (3, 1, "gaussian")
    obs = np.random.default_rng(0).uniform(-8.0, 8.0, (200, 3)).astype(np.float32)
    before, _ = m.predict(obs)
    after, _ = p.predict(obs)
    assert after.shape == (200, 1)
    np.testing.assert_array_equal(before, after)
    one, state = p.predict(obs[0])
    assert state is None and one.shape == (1,) and one[0] == before[0, 0]
    with pytest.raises(ValueError, match="expected"):
        p.predict(np.zeros(4))
    info = json.loads(fixpo_cli("inspect", "--json", str(path)))
    assert (info["obs"], info["act"]) == (3, 1) and "pendulum" in info["fits_tasks"], info
    out = fixpo_cli("eval", "--env", "pendulum", "--episodes", "2", str(path))
    assert "deterministic" in out, out


def test_load_discrete(tmp_path):
    m = fixpo.FixPO("CartPole-v1", seed=0, n_envs=2, steps_per_env=64, minibatch=64)
    m.learn(128)
    m.save(tmp_path / "c.fxp")
    p = fixpo.load(tmp_path / "c.fxp")
    assert (p.obs_size, p.kind) == (4, "categorical")
    obs = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    np.testing.assert_array_equal(m.predict(obs)[0], p.predict(obs)[0])
    a, _ = p.predict(obs[0])
    assert a in (0, 1)


def test_load_rejects_garbage(tmp_path):
    bad = tmp_path / "bad.fxp"
    bad.write_bytes(b"not a policy")
    with pytest.raises(ValueError, match="not a valid policy file"):
        fixpo.load(bad)


def _small(**kw):
    return fixpo.FixPO("Pendulum-v1", seed=0, num_envs=2, steps_per_env=128, minibatch=64,
                       fixup_minibatch=256, **kw)


def test_callback_metrics_and_out_dir(tmp_path, fixpo_cli):
    run = tmp_path / "run"
    seen = []

    def cb(metrics):
        seen.append(metrics)
        return len(seen) < 3  # False on the third: stop there

    m = _small(out_dir=run)
    m.learn(256 * 10, callback=cb)
    assert [s["iter"] for s in seen] == [1, 2, 3], seen
    assert m.num_timesteps == 3 * 256
    assert all(s["max_kl"] <= s["eps_kl"] for s in seen)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == seen
    # A later learn continues the directory's metrics.
    m.learn(256)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["iter"] for line in lines] == [1, 2, 3, 4]
    info = json.loads(fixpo_cli("inspect", "--json", str(run / "policy.fxp")))
    assert info["obs"] == 3, info
    png = tmp_path / "curve.png"
    fixpo_cli("plot", "--out", str(png), str(run))
    assert png.stat().st_size > 0
    # Another model refuses a directory holding a run.
    with pytest.raises(FileExistsError, match="already holds a run"):
        _small(out_dir=run).learn(256)


def test_learn_out_dir_argument_and_callback_error(tmp_path):
    m = _small()
    m.learn(256, out_dir=tmp_path / "r")
    assert len((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()) == 1

    def bad(metrics):
        raise ValueError("callback says no")

    with pytest.raises(ValueError, match="callback says no"):
        m.learn(1024, callback=bad)
    assert m.num_timesteps == 512


def test_run_dir_checkpoint_policy_is_stripped(tmp_path):
    run = tmp_path / "run"
    sizes = []

    def cb(metrics):
        if metrics["iter"] >= 2:  # iteration 1's checkpoint is written by now
            sizes.append(fixpo.load(run / "policy.fxp").obs_size)

    _small(out_dir=run, checkpoint_every=1).learn(256 * 3, callback=cb)
    assert sizes == [3, 3]
    assert fixpo.load(run / "policy.fxp").obs_size == 3
