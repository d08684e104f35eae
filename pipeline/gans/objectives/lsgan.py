"""The least-squares GAN (Mao et al. 2017, "Least Squares Generative Adversarial
Networks", eq. 2) with the 0-1 coding a = 0 (fake), b = 1 (real), c = 1.

Squared distance to the target label instead of cross-entropy: fakes that D already
classifies correctly but that lie far from the reals still get a gradient, and the loss
does not saturate. Scores are raw regression outputs, not logits of a probability.
"""

from __future__ import annotations

import tensorflow as tf

from pipeline.gans.objectives.base import Loss
from pipeline.gans.objectives.scores import flat

REAL, FAKE, GENERATOR_TARGET = 1.0, 0.0, 1.0  # b, a, c


def half_squared_distance(logits: tf.Tensor, target: float) -> tf.Tensor:
    """[b]: 0.5 * (score - target)^2, averaged over the patch grid."""
    return tf.reduce_mean(0.5 * tf.square(flat(logits) - target), axis=1)


class LSGAN(Loss):
    """D: 0.5 (real - 1)^2 + 0.5 fake^2; G: 0.5 (fake - 1)^2."""

    name = "lsgan"
    scores_are_probabilities = False

    def discriminator(self, real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
        real = half_squared_distance(real_logits, REAL)  # [b]
        fake = half_squared_distance(fake_logits, FAKE)  # [b]
        return real + fake

    def generator(self, fake_logits: tf.Tensor) -> tf.Tensor:
        return half_squared_distance(fake_logits, GENERATOR_TARGET)  # [b]
