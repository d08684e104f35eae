"""train.lr_decay: both learning rates constant, then falling linearly toward 0 over the
run's last share of steps; off by default, and the steps before its window untouched."""

import copy

import numpy as np
import pytest

from pipeline.gans.families import resolve_run
from pipeline.training.build import learning_rate_at
from pipeline.training.loop import train


def _run(tiny_params, **train_keys):
    params = copy.deepcopy(tiny_params)
    params["train"].update(
        {"epochs": 2, "steps_per_epoch": 4, "log_every": 1, "checkpoint_every": 4, **train_keys}
    )
    return resolve_run(params, "dcgan")


def test_the_rate_is_constant_then_falls_linearly_over_the_last_share(tiny_params):
    run = _run(tiny_params, lr=1e-3, lr_decay=0.5)
    rates = [learning_rate_at(run, step, 8) for step in range(8)]
    # steps 1-4 at train.lr; step 5 starts the window of 4: 4/4, 3/4, 2/4, 1/4 of it
    np.testing.assert_allclose(rates, [1e-3] * 4 + [1e-3, 7.5e-4, 5e-4, 2.5e-4])
    whole = _run(tiny_params, lr=1e-3, lr_decay=1.0)
    np.testing.assert_allclose(
        [learning_rate_at(whole, s, 4) for s in range(4)], [1e-3, 7.5e-4, 5e-4, 2.5e-4]
    )
    off = _run(tiny_params, lr=1e-3)
    assert [learning_rate_at(off, s, 8) for s in range(8)] == [1e-3] * 8


def _state_at(store, step: int) -> dict[str, np.ndarray]:
    with np.load(store / f"ckpt-{step:09d}" / "state.npz") as state:
        return {name: state[name] for name in state.files}


def test_decay_changes_only_the_steps_in_its_window(tiny_params, tiny_images, tmp_path):
    # 8 steps with a 0.5 share: steps 1-4 at train.lr, 5-8 at 4/4 .. 1/4 of it
    decayed = train(
        _run(tiny_params, lr_decay=0.5), tiny_images, checkpoint_dir=tmp_path / "d", progress=False
    )
    assert [row["lr"] for row in decayed.history] == pytest.approx([4e-4] * 5 + [3e-4, 2e-4, 1e-4])
    for optimizer in (decayed.gan.d_optimizer, decayed.gan.g_optimizer):
        assert float(optimizer.learning_rate) == pytest.approx(1e-4)

    # the first 4 steps without the decay (an epoch's checkpoint at step 4 in both)
    plain = train(
        _run(tiny_params, epochs=1), tiny_images, checkpoint_dir=tmp_path / "p", progress=False
    )
    assert "lr" not in plain.history[-1]  # off: nothing new is logged
    before, after = _state_at(tmp_path / "p", 4), _state_at(tmp_path / "d", 4)
    assert before.keys() == after.keys()
    for name in before:  # every weight, slot and counter bit for bit
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)
    # and the window's steps moved the weights (the last checkpoint differs from step 4's)
    last = _state_at(tmp_path / "d", 8)
    assert not np.array_equal(
        last["generator/g_to_image/kernel"], after["generator/g_to_image/kernel"]
    )
