"""Penalties on the critic's input gradient: the norm, R1 and the two-sided penalty.

Each differentiates the critic's score, averaged over its patch grid per example and
summed over the batch, w.r.t. the critic's *input*; examples are independent, so row i of
that gradient is the gradient of example i's own score. The input gradient is taken on a
nested tape: the caller's outer tape (D's update) records it, so the penalty itself can
be differentiated w.r.t. D's weights (double backpropagation). A tape is local to a
device, so all of this works unchanged inside a tf.distribute replica context.
"""

from __future__ import annotations

import tensorflow as tf

from pipeline.gans.objectives.scores import flat


def per_example(values: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """[b] -> [b, 1, ..., 1], broadcastable against `like` [b, ...]."""
    values = tf.cast(values, tf.float32)
    return tf.reshape(values, [-1] + [1] * (like.shape.rank - 1))


def input_gradients(critic, inputs: tf.Tensor) -> tf.Tensor:
    """grad_x sum_i mean_n critic(x)_i,n at x = inputs: [b, ...] like the inputs, float32.

    A critic whose output does not depend on its input gives zeros, not None.
    """
    inputs = tf.cast(inputs, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        score = tf.reduce_sum(tf.reduce_mean(flat(critic(inputs)), axis=1))  # [] sum of [b]
    return tape.gradient(score, inputs, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def gradient_norm(gradients: tf.Tensor) -> tf.Tensor:
    """[b, ...] -> [b]: ||g_i||_2 over every non-batch axis, float32.

    d sqrt(s)/ds is infinite at s = 0, and the chain rule multiplies it by ds/dg = 2g = 0:
    NaN, which an optimizer would spread into every weight. Where s = 0 the sqrt is taken
    of a harmless 1 and its result discarded (the double-where trick), so the gradient there
    is 0; elsewhere the value is exactly sqrt(s), with no epsilon to bias it.
    """
    squared = tf.reduce_sum(tf.square(flat(gradients)), axis=1)  # [b]
    positive = squared > 0
    safe = tf.where(positive, squared, tf.ones_like(squared))
    return tf.where(positive, tf.sqrt(safe), tf.zeros_like(squared))


def two_sided_penalty(critic, points: tf.Tensor, weight: float) -> tf.Tensor:
    """[b]: weight * (||grad_x critic(x)||_2 - 1)^2 at x = points [b, ...].

    Gulrajani et al. 2017 ("Improved Training of Wasserstein GANs", eq. 3): the optimal
    critic has unit gradient norm on the lines between the two distributions; pushing the
    norm towards 1 from both sides replaces weight clipping. DRAGAN uses the same term
    around the reals. The norm is per example, so the critic must not mix examples (no
    batch normalisation; Gulrajani et al. use layer normalisation instead).
    """
    norm = gradient_norm(input_gradients(critic, points))  # [b]
    return weight * tf.square(norm - 1.0)


def r1_penalty(critic, real_inputs: tf.Tensor, gamma: float) -> tf.Tensor:
    """[b]: gamma / 2 * ||grad_x critic(x)||_2^2 at the reals.

    Mescheder et al. 2018 ("Which Training Methods for GANs do actually Converge?", eq. 9):
    penalising D's gradient on the data alone makes the Dirac-GAN equilibrium locally
    convergent for any loss. Squared, so no square root and no trouble at zero.
    """
    gradients = input_gradients(critic, real_inputs)  # [b, ...]
    return 0.5 * gamma * tf.reduce_sum(tf.square(flat(gradients)), axis=1)
