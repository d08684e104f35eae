"""tf.data input pipelines built from the raw uint8 arrays.

Training batches are a pure function of (seed, epoch, step): each epoch's order is a
seeded permutation, and the latent noise of step s is drawn with a stateless RNG keyed on
(seed, s). That is what lets a killed run resume mid-epoch and end with the same weights
as an uninterrupted one, and one device match two: nothing depends on iterator state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf


def to_unit_range(images: tf.Tensor) -> tf.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1], the range of the generators' tanh."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


@dataclass(frozen=True)
class StepPlan:
    """How the training split is cut into steps.

    One step consumes `batch_size * k_steps` real images (one minibatch per discriminator
    update, as in Goodfellow et al.'s algorithm) and `batch_size * (k_steps + 1)` latents.
    """

    num_images: int
    batch_size: int
    k_steps: int
    steps_per_epoch_cap: int | None = None

    @property
    def images_per_step(self) -> int:
        return self.batch_size * self.k_steps

    @property
    def steps_per_epoch(self) -> int:
        full = self.num_images // self.images_per_step
        return min(full, self.steps_per_epoch_cap) if self.steps_per_epoch_cap else full


def epoch_order(num_images: int, seed: int, epoch: int) -> np.ndarray:
    """The seeded permutation of image indices for one epoch."""
    return np.random.default_rng([seed, epoch]).permutation(num_images)


def latent_noise(seed: int, step: tf.Tensor, shape) -> tf.Tensor:
    """Standard normal latents for global step `step`, independent of any RNG state."""
    key = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
    return tf.random.stateless_normal(shape, seed=key)


def training_dataset(
    images: np.ndarray,
    plan: StepPlan,
    *,
    seed: int,
    latent_dim: int,
    epoch: int,
    first_step_in_epoch: int = 0,
    augment=None,
    labels=None,
    draws: tuple[str, ...] = (),
) -> tf.data.Dataset:
    """One epoch of global batches {"real": [B, k, H, W, C], "noise": [B, k+1, latent]},
    with "labels" [B, k] (int32, -1 where hidden) when `labels` (a
    `pipeline.data.labels.TrainingLabels`) is given, and the per-example U(0, 1) draws a
    loss's penalty needs (`draws`, pipeline.gans.objectives): "alpha" [B, k] and
    "perturbation" [B, k, H, W, C], keyed on (seed, step) apart from the latents, so they
    split across replicas with their examples and a resumed run draws them again.

    Starts at `first_step_in_epoch` (resume). The batch axis comes first so a strategy
    splits every step's k minibatches evenly across replicas. `augment(batch, seed,
    step)`, when given, transforms each uint8 batch [B, k, H, W, C] in numpy (e.g.
    pix2pix's paired jitter); it must be a pure function of its arguments, so a resumed
    run sees the same augmented batches. With `labels.per_batch` = m, the last m slots of
    every minibatch are images of the labelled subset (`labelled_slots`).
    """
    steps = plan.steps_per_epoch
    order = epoch_order(len(images), seed, epoch)[: steps * plan.images_per_step]
    # [steps, B, k]: step s, discriminator update i uses order[s, :, i]
    order = order.reshape(steps, plan.batch_size, plan.k_steps)
    if labels is not None and labels.per_batch:
        order[:, -labels.per_batch :, :] = labelled_slots(labels, plan, seed, epoch)
    order = order[first_step_in_epoch:]
    first_global_step = epoch * steps + first_step_in_epoch
    step_ids = np.arange(first_global_step, first_global_step + len(order), dtype=np.int64)
    pixels = tf.constant(images)  # uint8 [N, H, W, C]; a few MB, kept as one tensor
    noise_shape = (plan.batch_size, plan.k_steps + 1, latent_dim)

    def augmented(batch, step):
        out = tf.numpy_function(
            lambda b, s: augment(b, seed, int(s)), [batch, step], tf.uint8, stateful=False
        )
        out.set_shape(batch.shape)
        return out

    classes = None if labels is None else tf.constant(labels.labels, tf.int32)  # [N]

    def make_step(indices, step):
        batch = tf.gather(pixels, indices)  # uint8 [B, k, H, W, C]
        if augment is not None:
            batch = augmented(batch, step)
        out = {"real": to_unit_range(batch), "noise": latent_noise(seed, step, noise_shape)}
        if classes is not None:
            out["labels"] = tf.gather(classes, indices)  # [B, k]
        out |= penalty_draws(draws, seed, step, batch.shape)
        return out

    dataset = tf.data.Dataset.from_tensor_slices((order, step_ids))
    dataset = dataset.map(make_step, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return without_autotune(dataset.prefetch(tf.data.AUTOTUNE))


def without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` without tf.data's autotuning model. Its optimisation thread sleeps for up
    to a minute between passes, and dropping an iterator (at every epoch or phase change
    and at the end of training) waits for that thread to wake: 109 s of progan's 1000-step
    run on a 2-core AVX2 EPYC (docs/operations.md, Where the time goes). Without it,
    AUTOTUNE map parallelism is the number of cores and prefetch grows its buffer when
    the consumer waits; the elements and their order are the same."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


# Leading axes of each draw (None: all): alpha, replay and caption (stackgan's choice of
# phrasing) are per example, [B, k].
DRAW_SHAPES = {"alpha": 2, "perturbation": None, "replay": 2, "caption": 2, "mismatch": 2}


def penalty_draws(names, seed: int, step: tf.Tensor, batch_shape) -> dict[str, tf.Tensor]:
    """U(0, 1) draws for global step `step`, each under its own key folded from (seed,
    step) so that they never repeat the latents' stream: "alpha" [B, k], "perturbation"
    shaped like the real batch [B, k, H, W, C]."""
    key = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
    out = {}
    for index, name in enumerate(sorted(names), start=1):
        if name not in DRAW_SHAPES:
            raise ValueError(f"unknown draw {name!r}; known: {sorted(DRAW_SHAPES)}")
        rank = DRAW_SHAPES[name] or len(batch_shape)
        own_key = tf.random.experimental.stateless_fold_in(key, 0xD7A + index)
        out[name] = tf.random.stateless_uniform(batch_shape[:rank], seed=own_key)
    return out


def labelled_slots(labels, plan: StepPlan, seed: int, epoch: int) -> np.ndarray:
    """The labelled images of one epoch's minibatches: indices into the training split,
    [steps, per_batch, k], drawn from `labels.labelled` with (seed, epoch). The SGAN
    baseline trains on exactly these, so both see the same labelled examples."""
    rng = np.random.default_rng([seed, epoch, 0x1ABE1])
    shape = (plan.steps_per_epoch, labels.per_batch, plan.k_steps)
    return rng.choice(labels.labelled, size=shape, replace=True)


def fixed_latents(count: int, latent_dim: int, seed: int) -> np.ndarray:
    """The latents behind every samples.png and per-epoch grid: same seed, same picture."""
    return (
        np.random.default_rng([seed, 0x5A]).standard_normal((count, latent_dim)).astype(np.float32)
    )
