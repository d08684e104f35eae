"""The hinge loss (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, "Spectral
Normalization for Generative Adversarial Networks").

D is a margin classifier: it is penalised only for reals scored below +1 and fakes above
-1, so confidently classified examples stop pulling on it. G raises its fakes' raw score,
as in WGAN. Scores are raw margins, not logits of a probability.
"""

from __future__ import annotations

import tensorflow as tf

from pipeline.gans.objectives.base import Loss
from pipeline.gans.objectives.scores import flat, mean_score


class Hinge(Loss):
    """D: relu(1 - real) + relu(1 + fake); G: -fake (each averaged over the patch grid)."""

    name = "hinge"
    scores_are_probabilities = False

    def discriminator(self, real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
        real = tf.reduce_mean(tf.nn.relu(1.0 - flat(real_logits)), axis=1)  # [b]
        fake = tf.reduce_mean(tf.nn.relu(1.0 + flat(fake_logits)), axis=1)  # [b]
        return real + fake

    def generator(self, fake_logits: tf.Tensor) -> tf.Tensor:
        return -mean_score(fake_logits)  # [b]
