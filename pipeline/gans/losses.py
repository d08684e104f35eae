"""The families' own loss terms beside the adversarial objective (pipeline.gans.objectives):
pix2pix's L1, SGAN's classes and feature matching, CatGAN's entropies.

Every function returns a per-example loss of shape [batch] (or a scalar where noted); the
caller averages with the *global* batch size (`tf.nn.compute_average_loss`) so the
gradient is the same on one device and split across many.
"""

from __future__ import annotations

import tensorflow as tf


def l1_loss(target: tf.Tensor, output: tf.Tensor) -> tf.Tensor:
    """Per-example mean |target - output| over every pixel and channel: [batch].

    pix2pix's reconstruction term (Isola et al., eq. 3): L1 rather than L2 because it
    blurs less; it carries the low frequencies, the PatchGAN the high ones.
    """
    difference = tf.abs(tf.cast(target, tf.float32) - tf.cast(output, tf.float32))
    return tf.reduce_mean(tf.reshape(difference, [tf.shape(difference)[0], -1]), axis=1)


# --- the label-aware families: SGAN's K+1 classes, CatGAN's entropies ------------------------


def real_fake_logit(class_logits: tf.Tensor) -> tf.Tensor:
    """[batch, K + 1] logits (K classes, then "fake") -> [batch] logit of "real".

    P(real) = sum_k exp(l_k) / sum_j exp(l_j) over the K + 1 outputs, so its logit is
    log sum_k exp(l_k) - l_fake. With it SGAN's unsupervised terms are the usual GAN
    losses: -log P(real | x) = softplus(-s) and -log P(fake | G(z)) = softplus(s).
    """
    logits = tf.cast(class_logits, tf.float32)
    return tf.reduce_logsumexp(logits[:, :-1], axis=1) - logits[:, -1]


def supervised_loss(class_logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """Per-example cross-entropy of the labelled rows: [batch], 0 where the label is hidden
    (< 0). `class_logits` [batch, K] are the K real classes' only: SGAN's labelled image
    is real, so its class probability is p(y | x, real) (Salimans et al. 2016) and the
    fake output takes no part.
    """
    labels = tf.cast(labels, tf.int32)
    labelled = labels >= 0
    logits = tf.cast(class_logits, tf.float32)
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.where(labelled, labels, 0), logits=logits
    )
    return tf.where(labelled, per_example, 0.0)


def entropy(probabilities: tf.Tensor) -> tf.Tensor:
    """Shannon entropy in nats over the last axis: [..., K] -> [...]. 0 log 0 = 0."""
    p = tf.cast(probabilities, tf.float32)
    return -tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(p), p), axis=-1)


def feature_matching(real_mean: tf.Tensor, fake_mean: tf.Tensor) -> tf.Tensor:
    """||E f(x) - E f(G(z))||^2 / F, the generator's loss of Salimans et al. (mean over the
    F features rather than the sum, so its scale does not grow with D's width). The real
    side is a target: no gradient flows into it."""
    difference = tf.stop_gradient(tf.cast(real_mean, tf.float32)) - tf.cast(fake_mean, tf.float32)
    return tf.reduce_mean(tf.square(difference))
