"""WGAN with gradient penalty (Gulrajani et al. 2017, "Improved Training of Wasserstein
GANs", Algorithm 1).

The Wasserstein losses of wgan.py, with the Lipschitz constraint enforced softly instead
of by clipping: lambda * (||grad f(x_hat)||_2 - 1)^2 at x_hat = alpha x + (1 - alpha) G(z),
a random point on the line between a real and a fake, alpha ~ U(0, 1) per example.
"""

from __future__ import annotations

import tensorflow as tf

from pipeline.gans.objectives.gradients import per_example, two_sided_penalty
from pipeline.gans.objectives.wgan import WassersteinLoss


def interpolate(real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """x_hat = alpha * real + (1 - alpha) * fake: [b, ...], alpha [b] per example."""
    real = tf.cast(real, tf.float32)
    fake = tf.cast(fake, tf.float32)
    alpha = per_example(alpha, real)  # [b, 1, ..., 1]
    return alpha * real + (1.0 - alpha) * fake


class WGANGP(WassersteinLoss):
    """Wasserstein losses plus gp_weight * (||grad f(x_hat)|| - 1)^2; no clipping."""

    name = "wgan_gp"
    draws = ("alpha",)

    def gradient_penalty(self, critic, real_inputs, fake_inputs, draws: dict) -> tf.Tensor:
        points = interpolate(real_inputs, fake_inputs, draws["alpha"])  # [b, ...]
        return two_sided_penalty(critic, points, self.settings.gp_weight)  # [b]
