"""The non-saturating GAN loss (Goodfellow et al. 2014, "Generative Adversarial Nets", §3).

D minimises binary cross-entropy with real = 1, fake = 0; `softplus` is it with the
sigmoid folded in: -log sigmoid(l) = softplus(-l), -log(1 - sigmoid(l)) = softplus(l).
G minimises -log D(G(z)) rather than log(1 - D(G(z))): the same fixed point, but a strong
gradient while D still confidently rejects the fakes.

The op sequences are those of pipeline.gans.losses, so the numbers are bit-identical.
"""

from __future__ import annotations

import tensorflow as tf

from pipeline.gans.objectives.base import Loss
from pipeline.gans.objectives.scores import flat


def cross_entropy(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """[b]: -log D(x) - log(1 - D(G(z))) = softplus(-real) + softplus(fake), the negated
    GAN value function (the two terms summed, not halved, as the old module did)."""
    real = tf.reduce_mean(tf.nn.softplus(-flat(real_logits)), axis=1)  # [b]
    fake = tf.reduce_mean(tf.nn.softplus(flat(fake_logits)), axis=1)  # [b]
    return real + fake


class NonSaturating(Loss):
    """D: softplus(-real) + softplus(fake); G: softplus(-fake) = -log D(G(z))."""

    name = "nonsaturating"
    scores_are_probabilities = True

    def discriminator(self, real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
        return cross_entropy(real_logits, fake_logits)

    def generator(self, fake_logits: tf.Tensor) -> tf.Tensor:
        per_unit = tf.nn.softplus(-flat(fake_logits))  # [b, n]
        return tf.reduce_mean(per_unit, axis=1)
