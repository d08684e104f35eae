"""Logits to per-example values: the flattening every objective shares.

The discriminator (or critic) outputs logits [b, ...], a single unit [b, 1] or a patch
grid [b, h, w, 1]; each example's n positions are flattened to [b, n] and averaged.
"""

from __future__ import annotations

import tensorflow as tf


def flat(logits: tf.Tensor) -> tf.Tensor:
    """[b, ...] logits (a patch grid or a single unit) to [b, n] float32.

    The same ops as pipeline.gans.losses._flat, so the ported losses stay bit-identical.
    """
    logits = tf.cast(logits, tf.float32)
    return tf.reshape(logits, [tf.shape(logits)[0], -1])


def mean_score(logits: tf.Tensor) -> tf.Tensor:
    """[b, ...] -> [b]: the raw score averaged over the patch grid."""
    return tf.reduce_mean(flat(logits), axis=1)


def mean_probability(logits: tf.Tensor) -> tf.Tensor:
    """[b, ...] -> [b]: D(.) = sigmoid(logit) averaged over the patch grid."""
    return tf.reduce_mean(tf.sigmoid(flat(logits)), axis=1)


def mean_square(logits: tf.Tensor) -> tf.Tensor:
    """[b, ...] -> [b]: the squared score averaged over the patch grid (ProGAN's drift)."""
    return tf.reduce_mean(tf.square(flat(logits)), axis=1)
