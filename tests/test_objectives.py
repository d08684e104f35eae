"""The adversarial objectives of pipeline.gans.objectives against hand-computed values."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline.errors import ConfigError
from pipeline.gans.objectives import LOSSES, LossSettings, get_loss, gradient_norm, r1_penalty

PROBABILITY_LOSSES = {"nonsaturating", "minimax", "dragan"}
SHAPE = (3, 4, 4, 2)  # a D input [b, H, W, C]

# Patch-grid logits [2, 2, 2, 1] whose per-position terms are easy to do by hand.
REAL = tf.constant([[[0.5, 2.0], [-1.0, 1.0]], [[3.0, 3.0], [3.0, 3.0]]])[..., None]
FAKE = tf.constant([[[-2.0, 0.0], [0.5, -1.0]], [[1.0, 1.0], [1.0, 1.0]]])[..., None]


def softplus(x):
    return math.log1p(math.exp(x))


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def random_inputs(seed, shape=SHAPE):
    return tf.constant(np.random.default_rng(seed).normal(size=shape), tf.float32)


def draws_for(loss, seed=0, shape=SHAPE):
    rng = np.random.default_rng(seed)
    values = {"alpha": rng.uniform(size=shape[0]), "perturbation": rng.uniform(size=shape)}
    return {name: tf.constant(values[name], tf.float32) for name in loss.draws}


def linear_critic(seed=0, norm=2.5):
    """f(x) = w.x + 0.3 over all of x [b, H, W, C] -> [b, 1], with |w| = norm; and w."""
    w = np.random.default_rng(seed).normal(size=SHAPE[1:])
    w = (w * norm / np.linalg.norm(w)).astype(np.float32)
    return lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3])[:, None] + 0.3, w


def dense_critic(zero=False):
    """A keras linear critic, Flatten then Dense(1, use_bias=True), whose kernel is
    linear_critic's w (|w| = 2.5, far from the penalty's target 1) or zero."""
    critic = keras.Sequential(
        [
            keras.Input(SHAPE[1:]),
            keras.layers.Flatten(),
            keras.layers.Dense(1, bias_initializer="ones"),
        ]
    )
    w = np.zeros(SHAPE[1:], np.float32) if zero else linear_critic()[1]
    critic.layers[-1].kernel.assign(w.reshape(-1, 1))
    return critic


def quadratic_critic(x):
    """f(x) = |x|^2 / 2: its input gradient is x itself, which shows where it was taken."""
    return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])[:, None]


# --- values ----------------------------------------------------------------------------


def test_hinge_on_a_patch_grid():
    loss = get_loss("hinge")
    # relu(1 - real): (0.5 + 0 + 2 + 0) / 4 and 0; relu(1 + fake): (0 + 1 + 1.5 + 0) / 4 and 2
    np.testing.assert_allclose(loss.discriminator(REAL, FAKE).numpy(), [1.25, 2.0], rtol=1e-6)
    np.testing.assert_allclose(loss.generator(FAKE).numpy(), [0.625, -1.0], rtol=1e-6)
    np.testing.assert_allclose(loss.discriminator([[2.0]], [[-0.5]]).numpy(), [0.5])


def test_lsgan_on_a_patch_grid():
    loss = get_loss("lsgan")
    # 0.5 (real - 1)^2: (0.125 + 0.5 + 2 + 0) / 4 and 2; 0.5 fake^2: (2 + 0 + 0.125 + 0.5) / 4
    # and 0.5; 0.5 (fake - 1)^2: (4.5 + 0.5 + 0.125 + 2) / 4 and 0.
    np.testing.assert_allclose(loss.discriminator(REAL, FAKE).numpy(), [1.3125, 2.5], rtol=1e-6)
    np.testing.assert_allclose(loss.generator(FAKE).numpy(), [1.78125, 0.0], rtol=1e-6)


@pytest.mark.parametrize("name", ["wgan", "wgan_gp"])
def test_wasserstein_values_are_score_gaps(name):
    loss = get_loss(name)
    # mean scores: real 0.625 and 3, fake -0.625 and 1
    np.testing.assert_allclose(loss.discriminator(REAL, FAKE).numpy(), [-1.25, -2.0], rtol=1e-6)
    np.testing.assert_allclose(loss.generator(FAKE).numpy(), [0.625, -1.0], rtol=1e-6)


@pytest.mark.parametrize("name", ["nonsaturating", "minimax", "dragan"])
def test_cross_entropy_values(name):
    loss = get_loss(name)
    d = loss.discriminator(tf.constant([[2.0]]), tf.constant([[-1.0]])).numpy()
    np.testing.assert_allclose(d, [softplus(-2.0) + softplus(-1.0)], rtol=1e-6)
    g = loss.generator(tf.constant([[-1.0]])).numpy()
    expected = math.log(1 - sigmoid(-1.0)) if name == "minimax" else -math.log(sigmoid(-1.0))
    np.testing.assert_allclose(g, [expected], rtol=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_report_is_a_sigmoid_mean_or_a_raw_mean(name):
    loss = get_loss(name)
    probability = name in PROBABILITY_LOSSES
    assert loss.scores_are_probabilities == probability
    expected = [np.mean([sigmoid(v) for v in (0.5, 2.0, -1.0, 1.0)]), sigmoid(3.0)]
    if not probability:
        expected = [0.625, 3.0]
    np.testing.assert_allclose(loss.report(REAL).numpy(), expected, rtol=1e-6)


# --- gradient penalties ------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0, None])
@pytest.mark.parametrize("name", ["wgan_gp", "dragan"])
def test_penalty_of_a_linear_critic_is_the_slope_gap_squared(name, alpha):
    loss = get_loss(name, LossSettings(gp_weight=7.0))
    draws = draws_for(loss)
    if alpha is not None:
        draws["alpha"] = tf.fill([SHAPE[0]], alpha)
    critic, w = linear_critic()
    got = loss.penalty(critic, random_inputs(1), random_inputs(2), draws).numpy()
    expected = 7.0 * (np.linalg.norm(w.astype(np.float64)) - 1) ** 2
    np.testing.assert_allclose(got, [expected] * SHAPE[0], rtol=1e-6)


def test_penalty_of_a_keras_linear_critic():
    critic = dense_critic()
    w = critic.layers[-1].kernel.numpy().astype(np.float64)
    loss = get_loss("wgan_gp")
    got = loss.penalty(critic, random_inputs(1), random_inputs(2), draws_for(loss)).numpy()
    np.testing.assert_allclose(got, [10.0 * (np.linalg.norm(w) - 1) ** 2] * 3, rtol=1e-6)


def test_a_patch_critic_is_differentiated_through_its_grid_mean():
    # Dense(1) on the channels: a [b, 4, 4, 1] grid; the mean over its n = 16 positions has
    # gradient w / n at each pixel, whose norm is |w| / sqrt(n).
    critic = keras.Sequential([keras.Input(SHAPE[1:]), keras.layers.Dense(1)])
    critic.layers[-1].kernel.assign([[3.0], [4.0]])  # |w| = 5 over the C = 2 channels
    loss = get_loss("wgan_gp")
    got = loss.penalty(critic, random_inputs(1), random_inputs(2), draws_for(loss)).numpy()
    np.testing.assert_allclose(got, [10.0 * (5 / 4 - 1) ** 2] * 3, rtol=1e-6)


def test_wgan_gp_takes_the_gradient_between_real_and_fake():
    loss = get_loss("wgan_gp", LossSettings(gp_weight=2.0))
    real, fake, draws = random_inputs(1), random_inputs(2), draws_for(loss)
    alpha = draws["alpha"].numpy().astype(np.float64)[:, None, None, None]
    x_hat = alpha * real.numpy() + (1 - alpha) * fake.numpy()
    expected = 2.0 * (np.linalg.norm(x_hat.reshape(3, -1), axis=1) - 1) ** 2
    got = loss.penalty(quadratic_critic, real, fake, draws).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_dragan_perturbs_each_real_by_its_own_std():
    loss = get_loss("dragan", LossSettings(gp_weight=2.0))
    # Examples of very different spread, so a batch std would give other points.
    real = random_inputs(1) * tf.constant([0.1, 1.0, 5.0])[:, None, None, None]
    draws = draws_for(loss)
    x = real.numpy().astype(np.float64)
    std = x.reshape(3, -1).std(axis=1)[:, None, None, None]
    x_p = x + 0.5 * std * draws["perturbation"].numpy()
    x_hat = x + draws["alpha"].numpy()[:, None, None, None] * (x_p - x)
    expected = 2.0 * (np.linalg.norm(x_hat.reshape(3, -1), axis=1) - 1) ** 2
    got = loss.penalty(quadratic_critic, real, random_inputs(2), draws).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_penalty_gradient_reaches_the_critic_weights():
    """The nested tape is recorded by the outer one: d/dw lambda (|w| - 1)^2."""
    critic = dense_critic()
    kernel = critic.layers[-1].kernel
    loss = get_loss("wgan_gp")
    with tf.GradientTape() as tape:
        penalty = loss.penalty(critic, random_inputs(1), random_inputs(2), draws_for(loss))
        total = tf.reduce_sum(penalty)
    w = kernel.numpy().astype(np.float64)
    norm = np.linalg.norm(w)
    expected = 3 * 10.0 * 2 * (norm - 1) * w / norm  # three examples
    np.testing.assert_allclose(tape.gradient(total, kernel).numpy(), expected, rtol=1e-5)


def test_r1_of_a_linear_critic():
    critic, _ = linear_critic(norm=1.7)
    got = r1_penalty(critic, random_inputs(1), gamma=4.0).numpy()
    np.testing.assert_allclose(got, [4.0 / 2 * 1.7**2] * 3, rtol=1e-6)


def test_r1_is_added_to_any_loss_when_gamma_is_set():
    critic, _ = linear_critic(norm=1.7)
    real, fake = random_inputs(1), random_inputs(2)
    r1 = 0.5 * 4.0 * 1.7**2
    hinge = get_loss("hinge", LossSettings(r1_gamma=4.0))
    np.testing.assert_allclose(hinge.penalty(critic, real, fake, {}).numpy(), [r1] * 3, rtol=1e-6)
    assert get_loss("hinge").penalty(critic, real, fake, {}) is None
    gp = get_loss("wgan_gp", LossSettings(r1_gamma=4.0))
    got = gp.penalty(critic, real, fake, draws_for(gp)).numpy()
    np.testing.assert_allclose(got, [10.0 * 0.7**2 + r1] * 3, rtol=1e-6)


@pytest.mark.parametrize("name", LOSSES)
def test_penalty_needs_only_the_draws_the_loss_declares(name):
    loss = get_loss(name)
    penalty = loss.penalty(quadratic_critic, random_inputs(1), random_inputs(2), draws_for(loss))
    if name in ("wgan_gp", "dragan"):
        assert penalty.shape == (3,)
    else:
        assert penalty is None and loss.draws == ()


# --- the norm at zero ----------------------------------------------------------------------


def test_gradient_norm_is_exact_and_its_gradient_finite_at_zero():
    g = tf.constant([[3.0, 4.0], [0.0, 0.0]])
    with tf.GradientTape() as tape:
        tape.watch(g)
        norm = gradient_norm(g)
    np.testing.assert_array_equal(norm.numpy(), [5.0, 0.0])
    np.testing.assert_allclose(tape.gradient(norm, g).numpy(), [[0.6, 0.8], [0.0, 0.0]])


@pytest.mark.parametrize("name", ["wgan_gp", "dragan"])
def test_a_constant_critic_gives_no_nan_gradients(name):
    critic = dense_critic(zero=True)  # f(x) = 1: a zero input gradient
    loss = get_loss(name)
    with tf.GradientTape() as tape:
        penalty = loss.penalty(critic, random_inputs(1), random_inputs(2), draws_for(loss))
    np.testing.assert_allclose(penalty.numpy(), [10.0] * 3)  # lambda (0 - 1)^2
    # The penalty does not depend on the last bias: its gradient is None, not checked.
    kernel = tape.gradient(penalty, critic.layers[-1].kernel)
    assert np.all(np.isfinite(kernel.numpy()))


# --- wgan's clipping, the registry -------------------------------------------------------


def test_wgan_clips_every_trainable_weight():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:
        variable.assign(rng.uniform(-0.2, 0.2, variable.shape).astype(np.float32))
    before = [v.numpy() for v in model.trainable_variables]
    get_loss("wgan_gp").after_discriminator_update(model)  # no clipping there
    for variable, old in zip(model.trainable_variables, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), old)
    get_loss("wgan", LossSettings(clip=0.05)).after_discriminator_update(model)
    for variable, old in zip(model.trainable_variables, before, strict=True):
        new = variable.numpy()
        assert np.all(np.abs(new) <= 0.05)
        assert np.any(np.abs(old) > 0.05)
        np.testing.assert_array_equal(new, np.clip(old, -0.05, 0.05))


def test_an_unknown_loss_names_the_valid_ones():
    with pytest.raises(ConfigError) as error:
        get_loss("wasserstein")
    assert all(name in str(error.value) for name in LOSSES)
    assert {get_loss(name).name for name in LOSSES} == set(LOSSES)


def test_settings_out_of_range_are_config_errors():
    for bad in ({"gp_weight": -1.0}, {"clip": 0.0}, {"r1_gamma": -0.1}):
        with pytest.raises(ConfigError):
            LossSettings(**bad)


# --- inside a replica context ------------------------------------------------------------


def test_penalty_under_mirrored_strategy_matches_one_device():
    """Each replica sees half the batch; per-example penalties and their summed weight
    gradients must be those of one device (a batch std in dragan would break this)."""
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    seeded = keras.initializers.GlorotUniform
    with strategy.scope():
        critic = keras.Sequential(
            [
                keras.Input(SHAPE[1:]),
                keras.layers.Flatten(),
                keras.layers.Dense(8, activation="tanh", kernel_initializer=seeded(0)),
                keras.layers.Dense(1, kernel_initializer=seeded(1)),
            ]
        )
    loss = get_loss("dragan")
    shape = (4, *SHAPE[1:])
    real = random_inputs(1, shape) * tf.constant([0.1, 1.0, 3.0, 5.0])[:, None, None, None]
    fake, draws = random_inputs(2, shape), draws_for(loss, shape=shape)

    def step(real, fake, draws):
        with tf.GradientTape() as tape:
            penalty = loss.penalty(critic, real, fake, draws)
            total = tf.reduce_sum(penalty)
        gradients = tape.gradient(total, critic.trainable_variables)
        # The last bias does not reach the penalty: None, compared as zeros.
        zeros = [tf.zeros(v.shape) for v in critic.trainable_variables]
        return penalty, [z if g is None else g for g, z in zip(gradients, zeros, strict=True)]

    one_penalty, one_grads = step(real, fake, draws)

    def halves(ctx):
        i = ctx.replica_id_in_sync_group
        return tf.nest.map_structure(lambda t: t[2 * i : 2 * i + 2], (real, fake, draws))

    inputs = strategy.experimental_distribute_values_from_function(halves)
    penalties, grads = tf.function(lambda a: strategy.run(step, args=a))(inputs)
    got = tf.concat(strategy.experimental_local_results(penalties), axis=0)
    np.testing.assert_allclose(got.numpy(), one_penalty.numpy(), rtol=1e-5)
    for per_replica, expected in zip(grads, one_grads, strict=True):
        summed = sum(t.numpy() for t in strategy.experimental_local_results(per_replica))
        # Each replica sums its own examples' terms: float32 rounding of O(1) terms.
        np.testing.assert_allclose(summed, expected.numpy(), rtol=1e-4, atol=5e-5)
