"""Shared helpers for the fixpo Python tests (run after scripts/setup-python.sh)."""
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def fixpo_cli():
    """Runs the `fixpo` CLI of this repository (cargo run), returning stdout."""

    def run(*args):
        cmd = ["cargo", "run", "--quiet", "--release", "-j1", "--bin", "fixpo", "--", *args]
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=os.environ.copy())
        assert out.returncode == 0, out.stderr
        return out.stdout

    return run
