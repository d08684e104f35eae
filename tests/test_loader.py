"""The training input: tf.data without its autotuning thread, the same batches as with it."""

import numpy as np
import tensorflow as tf

from pipeline.data.loader import StepPlan, training_dataset


def _batches(dataset) -> list[dict[str, np.ndarray]]:
    return [{key: value.numpy() for key, value in batch.items()} for batch in dataset]


def test_training_input_runs_without_autotune_and_yields_the_same_batches():
    images = np.random.default_rng(0).integers(0, 256, (96, 4, 4, 1), dtype=np.uint8)
    plan = StepPlan(96, 8, 2)
    dataset = training_dataset(
        images, plan, seed=3, latent_dim=5, epoch=1, draws=("alpha", "perturbation")
    )
    # Dropping an iterator waits for the autotune thread's sleep (up to a minute): off.
    assert dataset.options().autotune.enabled is False
    autotuned = tf.data.Options()
    autotuned.autotune.enabled = True
    with_autotune = dataset.with_options(autotuned)
    assert with_autotune.options().autotune.enabled is True

    batches, reference = _batches(dataset), _batches(with_autotune)
    assert len(batches) == len(reference) == plan.steps_per_epoch
    for ours, theirs in zip(batches, reference, strict=True):
        assert ours.keys() == theirs.keys() == {"real", "noise", "alpha", "perturbation"}
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    # and the epoch's batches are not all one batch
    assert not np.array_equal(batches[0]["real"], batches[1]["real"])
