"""Shared helpers for the fixpo Python tests (run after scripts/setup-python.sh)."""
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def fixpo_cli():
    """Runs the `fixpo` CLI of this repository, returning stdout: the
    binary at $FIXPO_BIN when set (scripts/test-all.sh passes the one it
    built), else through `cargo run --release`."""
    exe = os.environ.get("FIXPO_BIN")
    base = [exe] if exe else ["cargo", "run", "--quiet", "--release", "-j1", "--bin", "fixpo", "--"]

    def run(*args):
        out = subprocess.run([*base, *args], cwd=REPO, capture_output=True, text=True,
                             env=os.environ.copy())
        assert out.returncode == 0, out.stderr
        return out.stdout

    return run
