"""The Wasserstein GAN with weight clipping (Arjovsky et al. 2017, "Wasserstein GAN").

The critic f estimates W1(P_r, P_g) = max_{||f||_L <= 1} E f(x) - E f(G(z)) (Kantorovich-
Rubinstein duality, eq. 2), so it maximises the score gap and G raises its fakes' score.
Its outputs are raw scores, not logits of a probability. Algorithm 1 keeps f Lipschitz by
clipping every weight to [-c, c] after each critic update.
"""

from __future__ import annotations

import tensorflow as tf

from pipeline.gans.objectives.base import Loss
from pipeline.gans.objectives.scores import mean_score


class WassersteinLoss(Loss):
    """D: f(G(z)) - f(x); G: -f(G(z)) (scores averaged over the patch grid); no
    constraint on f: a subclass supplies one (clipping here, a penalty in wgan_gp)."""

    scores_are_probabilities = False

    def discriminator(self, real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
        return mean_score(fake_logits) - mean_score(real_logits)  # [b]

    def generator(self, fake_logits: tf.Tensor) -> tf.Tensor:
        return -mean_score(fake_logits)  # [b]


class WGAN(WassersteinLoss):
    """Wasserstein losses, the critic's weights clipped to [-clip, clip] after each update."""

    name = "wgan"

    def after_discriminator_update(self, discriminator) -> None:
        # Every trainable weight, biases and normalisation scales included, as in the
        # paper; a crude constraint (the paper says so), which wgan_gp replaces.
        bound = self.settings.clip
        for variable in discriminator.trainable_variables:
            variable.assign(tf.clip_by_value(variable, -bound, bound))
