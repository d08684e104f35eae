"""A run killed with SIGKILL resumes from its checkpoint and ends as if never stopped."""

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("train_worker.py")


def _run(*args, expect=0):
    result = subprocess.run(
        [sys.executable, str(WORKER), *map(str, args)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == expect, result.stderr[-2000:]
    return result


def _weights(npz):
    with np.load(npz) as data:
        return [
            data[k]
            for k in sorted((k for k in data.files if k.startswith("w")), key=lambda k: int(k[1:]))
        ]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["dcgan", "sgan", "pix2pix", "phased"])
def test_killed_run_resumes_to_the_same_weights(tmp_path, model):
    _run(model, tmp_path / "straight", tmp_path / "straight.npz")

    # 2 epochs x 4 steps, checkpoints every 5 steps and at epoch ends, a logged point every
    # 3 steps and at epoch ends: killed after step 5, mid-epoch 2, with step 5's losses
    # waiting in the logging window.
    _run(model, tmp_path / "killed", tmp_path / "never.npz", 5, expect=-signal.SIGKILL)
    assert not (tmp_path / "never.npz").exists()
    assert [p.name for p in (tmp_path / "killed").iterdir()] == ["ckpt-000000005"]

    _run(model, tmp_path / "killed", tmp_path / "resumed.npz")

    straight, resumed = np.load(tmp_path / "straight.npz"), np.load(tmp_path / "resumed.npz")
    assert int(resumed["resumed_from"]) == 5
    assert int(resumed["steps"]) == int(straight["steps"]) == 8
    # the loss history survives the kill: the same points with the same values
    assert list(resumed["history_steps"]) == list(straight["history_steps"]) == [3, 4, 6, 8]
    np.testing.assert_array_equal(resumed["history"], straight["history"])
    for a, b in zip(
        _weights(tmp_path / "straight.npz"), _weights(tmp_path / "resumed.npz"), strict=True
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [5, 12])
def test_progan_killed_in_a_fade_in_resumes_to_the_same_weights(tmp_path, kill_at):
    """ProGAN's phases: 7px [0, 3), fade-14px [3, 7), 14px [7, 10), fade-28px [10, 14),
    28px [14, 17). Killed at step 5 or 12 (mid fade-in, alpha 0.5), it must rebuild the
    grown networks, their fade-in weights, fresh optimizers and averaged generator, and
    end where a run never killed ends."""
    _run("progan", tmp_path / "straight", tmp_path / "straight.npz")
    _run("progan", tmp_path / "killed", tmp_path / "never.npz", kill_at, expect=-signal.SIGKILL)
    assert [p.name for p in (tmp_path / "killed").iterdir()] == [f"ckpt-{kill_at:09d}"]
    _run("progan", tmp_path / "killed", tmp_path / "resumed.npz")

    straight, resumed = np.load(tmp_path / "straight.npz"), np.load(tmp_path / "resumed.npz")
    assert int(resumed["resumed_from"]) == kill_at
    assert int(resumed["steps"]) == int(straight["steps"]) == 17
    assert list(resumed["history_steps"]) == list(straight["history_steps"])
    np.testing.assert_array_equal(resumed["history"], straight["history"])
    for a, b in zip(
        _weights(tmp_path / "straight.npz"), _weights(tmp_path / "resumed.npz"), strict=True
    ):
        np.testing.assert_array_equal(a, b)
