"""The cross-entropy losses (seed 001's two generator losses) against values computed by hand."""

import math

import numpy as np
import tensorflow as tf

from pipeline.gans.objectives import get_loss


def discriminator_loss(real, fake):
    return get_loss("nonsaturating").discriminator(real, fake)


def generator_loss(fake, kind):
    return get_loss(kind).generator(fake)


def mean_probability(logits):
    return get_loss("nonsaturating").report(logits)


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_discriminator_loss_is_binary_cross_entropy_with_real_one_fake_zero():
    real, fake = 2.0, -1.0
    expected = -math.log(sigmoid(real)) - math.log(1 - sigmoid(fake))
    got = discriminator_loss(tf.constant([[real]]), tf.constant([[fake]]))
    np.testing.assert_allclose(got.numpy(), [expected], rtol=1e-6)


def test_generator_losses_match_their_formulas():
    logit = 0.7
    d = sigmoid(logit)
    ns = generator_loss(tf.constant([[logit]]), "nonsaturating").numpy()
    mm = generator_loss(tf.constant([[logit]]), "minimax").numpy()
    np.testing.assert_allclose(ns, [-math.log(d)], rtol=1e-6)
    np.testing.assert_allclose(mm, [math.log(1 - d)], rtol=1e-6)


def test_minimax_gradient_vanishes_where_nonsaturating_does_not():
    """Seed 001's argument: when D confidently rejects a fake (D(G(z)) ~ 0), log(1 - D)
    gives the generator almost no gradient while -log D gives a strong one."""
    logit = tf.Variable([[-8.0]])
    grads = {}
    for kind in ("minimax", "nonsaturating"):
        with tf.GradientTape() as tape:
            loss = generator_loss(logit, kind)
        grads[kind] = abs(float(tape.gradient(loss, logit)[0, 0]))
    assert grads["minimax"] < 1e-3
    assert grads["nonsaturating"] > 0.99


def test_patch_logits_are_averaged_per_example():
    logits = tf.constant([[[0.0, 0.0], [0.0, 0.0]], [[5.0, 5.0], [5.0, 5.0]]])  # [2, 2, 2]
    got = mean_probability(logits).numpy()
    np.testing.assert_allclose(got, [0.5, sigmoid(5.0)], rtol=1e-6)
