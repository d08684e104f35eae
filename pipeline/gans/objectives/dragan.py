"""DRAGAN (Kodali et al. 2017, "On Convergence and Stability of GANs").

The non-saturating losses plus a gradient penalty around the *reals*, where mode
collapse shows up as sharp gradients of D: lambda * (||grad D(x_hat)||_2 - 1)^2 with
    x_p   = x + 0.5 * std(x) * delta,   delta ~ U(0, 1) per value,
    x_hat = x + alpha * (x_p - x),      alpha ~ U(0, 1) per example.
"""

from __future__ import annotations

import tensorflow as tf

from pipeline.gans.objectives.gradients import per_example, two_sided_penalty
from pipeline.gans.objectives.nonsaturating import NonSaturating
from pipeline.gans.objectives.scores import flat


def perturbed_reals(real: tf.Tensor, perturbation: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """x_hat [b, ...] around the reals [b, ...], given delta [b, ...] and alpha [b].

    std is each example's own standard deviation over its values, not the batch's as in
    the reference code: a batch statistic would change with how the batch is split
    across devices, and so would the penalty; a per-example one does not.
    """
    real = tf.cast(real, tf.float32)
    std = per_example(tf.math.reduce_std(flat(real), axis=1), real)  # [b, 1, ..., 1]
    perturbed = real + 0.5 * std * tf.cast(perturbation, tf.float32)  # x_p, [b, ...]
    return real + per_example(alpha, real) * (perturbed - real)


class DRAGAN(NonSaturating):
    """Non-saturating losses plus gp_weight * (||grad D(x_hat)|| - 1)^2 near the reals."""

    name = "dragan"
    draws = ("alpha", "perturbation")

    def gradient_penalty(self, critic, real_inputs, fake_inputs, draws: dict) -> tf.Tensor:
        points = perturbed_reals(real_inputs, draws["perturbation"], draws["alpha"])
        return two_sided_penalty(critic, points, self.settings.gp_weight)  # [b]
