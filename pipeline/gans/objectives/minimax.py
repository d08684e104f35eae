"""The minimax GAN loss (Goodfellow et al. 2014, "Generative Adversarial Nets", eq. 1).

G minimises the value function itself, log(1 - D(G(z))) = -softplus(fake). Its gradient
vanishes exactly when D confidently rejects the fakes (early in training), which is why
the non-saturating form is used in practice; this one is kept to show that.
"""

from __future__ import annotations

import tensorflow as tf

from pipeline.gans.objectives.nonsaturating import NonSaturating
from pipeline.gans.objectives.scores import flat


class Minimax(NonSaturating):
    """D as in the non-saturating loss; G: -softplus(fake) = log(1 - D(G(z)))."""

    name = "minimax"

    def generator(self, fake_logits: tf.Tensor) -> tf.Tensor:
        per_unit = -tf.nn.softplus(flat(fake_logits))  # [b, n]
        return tf.reduce_mean(per_unit, axis=1)
