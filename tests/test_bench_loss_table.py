"""bench/loss_table.py (and bench/stabilizers.py, which trains its runs the same way)
asks for a run's steps in whole epochs, because the loader caps an epoch at one pass."""

from __future__ import annotations

import argparse
import copy

import pytest

from tests.helpers import load_bench


@pytest.mark.parametrize(
    ("steps", "pass_steps", "expected"),
    [
        (400, 937, (1, 400)),  # within one pass: one epoch
        (1875, 1875, (1, 1875)),  # exactly one pass
        (2500, 1875, (2, 1250)),  # the DCGAN's default, not a capped 1875
        (3750, 1875, (2, 1875)),
        (7, 2, (7, 1)),  # a prime count still trains exactly that many steps
    ],
)
def test_steps_split_into_whole_epochs_of_at_most_one_pass(steps, pass_steps, expected):
    epochs, per_epoch = load_bench("loss_table").whole_epochs(steps, pass_steps)
    assert (epochs, per_epoch) == expected
    assert epochs * per_epoch == steps and per_epoch <= pass_steps


def test_a_run_longer_than_one_pass_trains_every_step_asked(tiny_params):
    """2500 steps of 32 over 60000 images were one capped epoch of 1875 before the fix."""
    from pipeline.data.loader import StepPlan
    from pipeline.gans.families import resolve_run

    bench = load_bench("loss_table")
    args = argparse.Namespace(
        steps=2500, batch_size=32, pass_steps=60000 // 32, variant="upsample", r1_gamma=1.0
    )
    params = bench.run_params(copy.deepcopy(tiny_params), "nonsaturating", 0, args)
    train = resolve_run(params, "dcgan").train
    plan = StepPlan(60000, train.batch_size, train.k_steps, train.steps_per_epoch)
    assert train.epochs * plan.steps_per_epoch == 2500
