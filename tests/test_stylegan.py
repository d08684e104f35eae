"""StyleGAN: the mapping, AdaIN, noise, style mixing and truncation each compute what the
paper says, a train step moves what it should, and the saved generator maps z to one image."""

import copy

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline.gans.blocks.style import AdaIN, ModulatedConv2D, NoiseInjection, WAverage
from pipeline.gans.families import get_family, resolve_run
from pipeline.gans.families.stylegan import mix_styles, style_sides
from pipeline.gans.latent import LatentSpace
from pipeline.training.build import build_gan
from pipeline.training.loop import train

SHAPE = (28, 28, 1)
TINY = {"filters": 8, "min_filters": 4, "w_dim": 8, "mapping_layers": 2}


@pytest.fixture
def run(tiny_params):
    params = copy.deepcopy(tiny_params)
    params["models"]["stylegan"].update(TINY)
    return resolve_run(params, "stylegan")


def test_six_style_layers_for_28_pixels_from_a_7x7_constant():
    assert style_sides((28, 28, 1)) == (7, 7, 14, 14, 28, 28)
    assert style_sides((32, 32, 3)) == (8, 8, 16, 16, 32, 32)


def test_the_generator_maps_z_to_an_image_through_named_parts(run):
    generator = get_family("stylegan").build_generator(run, SHAPE)
    z = np.random.default_rng(0).standard_normal((3, run.train.latent_dim)).astype("float32")
    assert generator(z).shape == (3, 28, 28, 1)
    assert generator.get_layer("mapping").output.shape == (None, 8)
    assert generator.get_layer("synthesis").input.shape == (None, 6, 8)
    # the mapping's dense layers learn at a hundredth of the rate: weights drawn 100x larger
    dense = generator.get_layer("mapping").get_layer("map0")
    assert dense.lr_multiplier == 0.01
    assert np.std(dense.kernel.numpy()) == pytest.approx(100, rel=0.2)


def test_adain_gives_each_channel_the_mean_and_std_of_its_style():
    x = tf.random.stateless_normal((2, 5, 5, 3), seed=(1, 2)) * 4.0 + 7.0
    styles = tf.ones((2, 2, 4))  # [B, L, w_dim]
    layer = AdaIN(index=1)
    layer([x, styles])  # builds the affine map
    # a style with scale offset s and bias b per channel: kernel 0, bias [s, b]
    offset, bias = np.array([0.5, -0.5, 1.0]), np.array([2.0, -1.0, 0.0])
    layer.affine.kernel.assign(np.zeros_like(layer.affine.kernel.numpy()))
    layer.affine.bias.assign(np.concatenate([offset, bias]).astype("float32"))
    out = layer([x, styles]).numpy()
    np.testing.assert_allclose(out.mean(axis=(1, 2)), np.tile(bias, (2, 1)), atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2)), np.tile(1 + offset, (2, 1)), rtol=1e-4)


def test_adain_reads_its_own_layer_of_the_styles():
    x = tf.random.stateless_normal((2, 4, 4, 2), seed=(3, 4))
    layer = AdaIN(index=0)
    same = tf.stack([tf.ones((2, 3)), tf.zeros((2, 3))], axis=1)  # layer 0's w is ones
    layer([x, same])
    changed = tf.stack([tf.ones((2, 3)), 5 * tf.ones((2, 3))], axis=1)  # only layer 1's moved
    np.testing.assert_array_equal(layer([x, same]).numpy(), layer([x, changed]).numpy())


def test_noise_is_fixed_in_inference_and_fresh_in_training():
    x = tf.zeros((2, 4, 4, 3))
    layer = NoiseInjection(seed=1)
    layer(x)
    np.testing.assert_array_equal(layer(x).numpy(), 0.0)  # strength starts at 0
    layer.strength.assign([1.0, 2.0, 0.0])
    inference = layer(x).numpy()
    np.testing.assert_array_equal(inference, layer(x).numpy())
    fixed = layer.fixed.numpy()[0, :, :, 0]
    np.testing.assert_array_equal(inference[1, :, :, 1], 2.0 * fixed)  # one draw per pixel
    np.testing.assert_array_equal(inference[:, :, :, 2], 0.0)
    first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert not np.array_equal(first, second)  # a new draw per call
    assert not np.array_equal(first[0], first[1])  # and per example


def test_style_mixing_takes_the_second_w_from_the_crossover_on():
    styles = tf.zeros((4, 6, 2))
    other = tf.ones((4, 2))
    # p = 0.5: u < 0.5 mixes at 1 + floor(u / 0.5 * 5); u >= 0.5 keeps every layer
    draw = tf.constant([0.0, 0.25, 0.45, 0.7])
    mixed = mix_styles(styles, other, draw, 0.5).numpy()[:, :, 0]
    expected = np.array(
        [
            [0, 1, 1, 1, 1, 1],  # crossover 1
            [0, 0, 0, 1, 1, 1],  # 1 + floor(2.5) = 3
            [0, 0, 0, 0, 0, 1],  # 1 + floor(4.5) = 5
            [0, 0, 0, 0, 0, 0],  # not mixed
        ]
    )
    np.testing.assert_array_equal(mixed, expected)
    assert not mix_styles(styles, other, draw, 0.0).numpy().any()  # p = 0: never


def test_the_running_mean_of_w_moves_by_one_minus_beta():
    layer = WAverage(beta=0.9)
    layer(tf.zeros((1, 3)))
    layer.follow(tf.constant([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(layer.mean.numpy(), [0.1, 0.2, 0.3], rtol=1e-6)


def test_truncation_at_psi_zero_draws_the_mean_w_for_every_latent(run):
    generator = get_family("stylegan").build_generator(run, SHAPE)
    generator.get_layer("w_avg").mean.assign(np.linspace(-1, 1, 8).astype("float32"))
    space = LatentSpace(generator)
    z = space.latents(np.random.default_rng(0), 3)
    images = space.render_z(z, psi=0.0)  # (equal up to the batch rows' rounding)
    np.testing.assert_allclose(images[1:], np.stack([images[0]] * 2), atol=1e-5)
    untruncated = space.render_z(z)
    assert np.abs(untruncated[0] - untruncated[1]).max() > 1e-3
    np.testing.assert_allclose(space.render_z(z), generator(z).numpy(), atol=1e-6)  # psi = 1


def test_a_train_step_moves_both_networks_the_mean_w_and_the_mixing_draws(run, tiny_images):
    gan = build_gan(run, SHAPE)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    gan.build_optimizers()
    mapping = gan.generator.get_layer("mapping").trainable_variables
    synthesis = gan.generator.get_layer("synthesis").trainable_variables
    before = [v.numpy() for v in (*mapping, *synthesis, *gan.discriminator.trainable_variables)]
    seed_before = gan.mixing_seed.state.numpy()
    real = tf.convert_to_tensor(tiny_images[:8, None] / 127.5 - 1.0, tf.float32)
    noise = tf.random.stateless_normal((8, 2, run.train.latent_dim), seed=(0, 1))
    gan.train_step((real, noise))
    after = [v.numpy() for v in (*mapping, *synthesis, *gan.discriminator.trainable_variables)]
    moved = [not np.array_equal(a, b) for a, b in zip(before, after, strict=True)]
    assert all(moved[: len(mapping)]), "every mapping layer learns"
    assert sum(moved[len(mapping) : len(mapping) + len(synthesis)]) >= len(synthesis) - 1
    assert any(moved[len(mapping) + len(synthesis) :])
    assert np.abs(gan.generator.get_layer("w_avg").mean.numpy()).sum() > 0
    assert not np.array_equal(gan.mixing_seed.state.numpy(), seed_before)
    assert "mixing/seed" in gan.checkpointed()


def test_the_trained_generator_saves_and_loads_as_the_same_function(run, tiny_images, tmp_path):
    result = train(run, tiny_images, checkpoint_dir=tmp_path / "ckpt", progress=False)
    generator = result.generator  # the averaged one (ema 0.999 in params.yaml)
    assert result.generator is not result.gan.generator
    path = tmp_path / "generator.keras"
    generator.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    z = np.random.default_rng(1).standard_normal((4, run.train.latent_dim)).astype("float32")
    np.testing.assert_array_equal(loaded(z).numpy(), generator(z).numpy())
    np.testing.assert_array_equal(generator(z).numpy(), generator(z).numpy())  # one image per z
    # the averaged generator copies the running mean of w (a buffer, not averaged)
    np.testing.assert_array_equal(
        LatentSpace(loaded).w_avg, result.gan.generator.get_layer("w_avg").mean.numpy()
    )


def test_truncation_without_a_mapping_network_scales_z(tiny_params):
    from pipeline.gans.inputs import generate

    run = resolve_run(tiny_params, "dcgan")
    generator = get_family("dcgan").build_generator(run, SHAPE)
    z = np.random.default_rng(5).standard_normal((3, run.train.latent_dim)).astype("float32")
    expected = generator(0.5 * z, training=False).numpy()
    np.testing.assert_allclose(generate(generator, 3, seed=5, psi=0.5), expected, atol=1e-6)
    np.testing.assert_array_equal(  # psi 1 is the untruncated path, bit for bit
        generate(generator, 3, seed=5), generator(z, training=False).numpy()
    )


def test_the_modulated_conv_is_a_per_example_conv_with_a_demodulated_kernel():
    """StyleGAN2's unfused form (scale x, one conv, scale y) equals convolving each example
    with its own kernel w * s, each output channel divided by that kernel's norm."""
    x = tf.random.stateless_normal((3, 5, 5, 4), seed=(5, 6))
    styles = tf.random.stateless_normal((3, 2, 6), seed=(7, 8))
    layer = ModulatedConv2D(2, 3, index=1, seed=3)
    layer([x, styles])
    layer.conv.bias.assign([0.5, -0.25])
    out = layer([x, styles]).numpy()
    kernel = layer.conv.kernel.numpy() * layer.conv.scale  # [3, 3, 4, 2]
    scale = 1.0 + layer.affine(styles[:, 1]).numpy()  # [3, 4]
    for b in range(3):
        own = kernel * scale[b][None, None, :, None]
        own = own / np.sqrt(np.sum(own**2, axis=(0, 1, 2)) + 1e-8)
        expected = tf.nn.conv2d(x[b : b + 1], own, 1, "SAME").numpy()[0] + [0.5, -0.25]
        np.testing.assert_allclose(out[b], expected, rtol=1e-4, atol=1e-5)


def test_a_modulated_stylegan_trains_and_keeps_its_parts(tiny_params, tiny_images, tmp_path):
    tiny_params["models"]["stylegan"].update(TINY, style="modulated")
    run = resolve_run(tiny_params, "stylegan")
    result = train(run, tiny_images, checkpoint_dir=tmp_path / "ckpt", progress=False)
    synthesis = result.generator.get_layer("synthesis")
    assert not [layer for layer in synthesis.layers if isinstance(layer, AdaIN)]
    assert result.generator(np.zeros((2, run.train.latent_dim), "float32")).shape == (2, 28, 28, 1)
