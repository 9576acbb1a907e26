"""Ctrl-C during `learn`: KeyboardInterrupt after the current update; the
run directory holds the last update's policy file and every finished
iteration's metrics, and the model continues from that update. (A Python
environment's state cannot be saved, so there is no resumable
`checkpoint.bin` as `fixpo train` writes for its built-in tasks.)"""
import json
import os
import signal

import pytest

import fixpo


def test_ctrl_c_raises_keyboard_interrupt_and_leaves_a_valid_run(tmp_path, fixpo_cli):
    run = tmp_path / "run"
    iters = []

    def cb(m):
        iters.append(m["iter"])
        if m["iter"] == 2:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C does

    m = fixpo.FixPO("Pendulum-v1", seed=0, n_envs=2, steps_per_env=128, minibatch=64,
                    fixup_minibatch=256, out_dir=run)
    with pytest.raises(KeyboardInterrupt):
        m.learn(256 * 50, callback=cb, progress_bar=False)
    # Stopped at the first check after the signal: not 50 iterations.
    assert 2 <= len(iters) <= 3, iters
    assert m.num_timesteps == 256 * len(iters)
    info = json.loads(fixpo_cli("inspect", "--json", str(run / "policy.fxp")))
    assert info["obs"] == 3, info
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len(iters)
    # The model is still usable, and learning continues from where it stopped.
    m.learn(256, progress_bar=False)
    assert m.num_timesteps == 256 * (len(iters) + 1)


def test_progress_bar_writes_to_stdout(capfd):
    m = fixpo.FixPO("Pendulum-v1", seed=0, n_envs=2, steps_per_env=128, minibatch=64,
                    fixup_minibatch=256)
    m.learn(256, progress_bar=True)
    out = capfd.readouterr().out
    assert "training Pendulum-v1" in out, out
    m.learn(256, progress_bar=False)
    assert capfd.readouterr().out == ""
