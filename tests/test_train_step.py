"""One train step changes the right weights, and only them."""

import copy

import numpy as np
import pytest
import tensorflow as tf

from pipeline.errors import ConfigError
from pipeline.gans.families import resolve_run
from pipeline.training.build import build_compiled_gan


def _weights(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def _changed(before, model):
    return [
        not np.array_equal(b, v.numpy())
        for b, v in zip(before, model.trainable_variables, strict=True)
    ]


def _batch(run, batch=8, shape=(28, 28, 1)):
    k = run.train.k_steps
    rng = np.random.default_rng(1)
    real = rng.uniform(-1, 1, (batch, k, *shape)).astype(np.float32)
    noise = rng.standard_normal((batch, k + 1, run.train.latent_dim)).astype(np.float32)
    return tf.constant(real), tf.constant(noise)


def _gan(params, model, **train):
    params = copy.deepcopy(params)
    params["train"].update(train)
    run = resolve_run(params, model)
    return run, build_compiled_gan(run, (28, 28, 1), tf.distribute.get_strategy())


@pytest.mark.parametrize("model", ["gan", "dcgan"])
@pytest.mark.parametrize("update", ["simultaneous", "alternating"])
def test_one_step_trains_both_networks(tiny_params, model, update):
    """The defect of seed 000's loop under Keras 3 is a discriminator that never moves;
    here every trainable weight of both networks changes after one step."""
    run, gan = _gan(tiny_params, model, update=update, batch_size=8)
    d_before, g_before = _weights(gan.discriminator), _weights(gan.generator)
    out = gan.train_step(_batch(run))
    assert all(_changed(d_before, gan.discriminator)), "a discriminator weight did not move"
    assert all(_changed(g_before, gan.generator)), "a generator weight did not move"
    assert all(np.isfinite(float(v)) for v in out.values())


@pytest.mark.parametrize("model", ["gan", "dcgan"])
def test_discriminator_update_leaves_the_generator_alone(tiny_params, model):
    run, gan = _gan(tiny_params, model)
    real, noise = _batch(run)
    d_before, g_before = _weights(gan.discriminator), _weights(gan.generator)
    gan._discriminator_update(real[:, 0], None, noise[:, 0])
    assert not any(_changed(g_before, gan.generator))
    assert all(_changed(d_before, gan.discriminator))


def test_generator_update_leaves_the_discriminator_weights_alone(tiny_params):
    run, gan = _gan(tiny_params, "dcgan")
    real, noise = _batch(run)
    d_before, g_before = _weights(gan.discriminator), _weights(gan.generator)
    gan._generator_update(noise[:, 0], real[:, 0], None)
    assert not any(_changed(d_before, gan.discriminator))
    assert all(_changed(g_before, gan.generator))


@pytest.mark.parametrize("passes", ["joint", "separate"])
def test_discriminator_passes_choose_the_batch_norm_statistics(tiny_params, passes):
    """joint: the DCGAN's BatchNorm D normalises real and fake with the statistics of the
    mixed batch; separate: each kind with its own (seed 000's real batch, then fake)."""
    run, gan = _gan(tiny_params, "dcgan", discriminator_passes=passes, dropout=0.0)
    real, _ = _batch(run)
    real = real[:, 0]
    fake = 0.5 * real[::-1] - 0.3  # other statistics than the real batch's
    real_out, fake_out = gan._judge(real, None, fake)
    alone = gan.discriminator(real, training=True)
    mixed = gan.discriminator(tf.concat([real, fake], axis=0), training=True)[: len(real)]
    expected, other = (alone, mixed) if passes == "separate" else (mixed, alone)
    np.testing.assert_allclose(real_out, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(real_out, other, atol=1e-3)
    assert fake_out.shape == real_out.shape == (len(real), 1)


def test_k_steps_updates_the_discriminator_k_times(tiny_params):
    run, gan = _gan(tiny_params, "gan", k_steps=3)
    gan.train_step(_batch(run))
    d_iterations = int(gan.d_optimizer.iterations.numpy())
    g_iterations = int(gan.g_optimizer.iterations.numpy())
    assert (d_iterations, g_iterations) == (3, 1)


def test_dropout_param_reaches_the_discriminator(tiny_params):
    _, gan = _gan(tiny_params, "dcgan", dropout=0.4)
    rates = [layer.rate for layer in gan.discriminator.layers if "dropout" in layer.name]
    assert rates and set(rates) == {0.4}


@pytest.mark.parametrize(
    ("variant", "layer_types"),
    [("upsample", {"UpSampling2D", "BatchNormalization"}), ("transposed", {"Conv2DTranspose"})],
)
def test_dcgan_variants_build_the_seed_architectures(tiny_params, variant, layer_types):
    params = copy.deepcopy(tiny_params)
    params["models"]["dcgan"]["generator"] = variant
    run = resolve_run(params, "dcgan")
    gan = build_compiled_gan(run, (28, 28, 1), tf.distribute.get_strategy())
    types = {type(layer).__name__ for layer in gan.generator.layers}
    assert layer_types <= types
    z = tf.zeros([3, run.train.latent_dim])
    assert gan.generator(z).shape == (3, 28, 28, 1)
    assert gan.discriminator(gan.generator(z)).shape == (3, 1)


def _conv_channels(model):
    return [
        layer.filters
        for layer in model.layers
        if type(layer).__name__ in ("Conv2D", "Conv2DTranspose")
    ]


@pytest.mark.parametrize(
    ("variant", "seed_g", "seed_d"),
    [("upsample", [128, 64, 1], [32, 64, 128, 256]), ("transposed", [64, 1], [64, 128])],
)
@pytest.mark.parametrize("model", ["dcgan", "cgan", "sgan", "catgan"])
def test_trunk_widths_scale_every_convolution_but_the_image(
    tiny_params, model, variant, seed_g, seed_d
):
    params = copy.deepcopy(tiny_params)
    params["models"][model].update(generator=variant, g_width=0.5, d_width=0.25)
    run = resolve_run(params, model)
    gan = build_compiled_gan(run, (28, 28, 1), tf.distribute.get_strategy(), num_classes=10)
    # the image layer keeps its channel; the projection's reshape follows the first width
    assert _conv_channels(gan.generator) == [c // 2 for c in seed_g[:-1]] + [1]
    assert _conv_channels(gan.discriminator) == [c // 4 for c in seed_d]
    reshape = next(layer for layer in gan.generator.layers if type(layer).__name__ == "Reshape")
    assert reshape.target_shape == (7, 7, 64)


def test_stylegan_d_width_scales_the_dcgan_discriminator(tiny_params):
    params = copy.deepcopy(tiny_params)
    params["models"]["stylegan"]["d_width"] = 0.5
    run = resolve_run(params, "stylegan")
    gan = build_compiled_gan(run, (28, 28, 1), tf.distribute.get_strategy())
    assert _conv_channels(gan.discriminator) == [16, 32, 64, 128]
    assert gan.discriminator(tf.zeros([2, 28, 28, 1])).shape == (2, 1)


def test_a_width_out_of_range_names_the_key(tiny_params):
    params = copy.deepcopy(tiny_params)
    params["models"]["cgan"]["g_width"] = 0
    with pytest.raises(ConfigError, match=r"models\.cgan\.g_width must be in \(0, 8\], got 0"):
        resolve_run(params, "cgan")


@pytest.mark.parametrize("arch", ["leaky256", "selu"])
def test_mlp_gan_architectures_have_the_seed_widths(tiny_params, arch):
    params = copy.deepcopy(tiny_params)
    params["models"]["gan"]["arch"] = arch
    run = resolve_run(params, "gan")
    gan = build_compiled_gan(run, (28, 28, 1), tf.distribute.get_strategy())
    widths = [layer.units for layer in gan.generator.layers if hasattr(layer, "units")]
    expected = {"leaky256": [256, 256, 784], "selu": [100, 150, 784]}[arch]
    assert widths == expected
    assert gan.generator.input_shape == (None, run.train.latent_dim)


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize(
    ("model", "variant"),
    [("gan", "leaky256"), ("gan", "selu"), ("dcgan", "upsample"), ("dcgan", "transposed")],
)
def test_mixed_precision_keeps_images_and_logits_float32(tiny_params, precision, model, variant):
    """Under a mixed policy the hidden layers compute in 16 bits but the image and the logit
    stay float32, so real and generated batches can be concatenated and the loss is exact."""
    from pipeline.training.distribute import precision_policy

    params = copy.deepcopy(tiny_params)
    key = "arch" if model == "gan" else "generator"
    params["models"][model][key] = variant
    params["train"].update(precision=precision, batch_size=8)
    run = resolve_run(params, model)
    with precision_policy(precision):
        gan = build_compiled_gan(run, (28, 28, 1), tf.distribute.get_strategy())
        assert gan.generator.dtype_policy.compute_dtype != "float32"
        images = gan.generator(tf.zeros([2, run.train.latent_dim]))
        assert images.dtype == tf.float32
        assert gan.discriminator(images).dtype == tf.float32
        out = gan.train_step(_batch(run))
    assert all(np.isfinite(float(v)) for v in out.values())
