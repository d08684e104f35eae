"""pix2pix: the U-Net's shapes, the PatchGAN's measured receptive field, the objective and
one train step on one and on two devices."""

import numpy as np
import pytest
import tensorflow as tf

from pipeline.errors import ConfigError
from pipeline.gans.adversarial import METRIC_NAMES, AdversarialGAN
from pipeline.gans.families import pix2pix, resolve_run
from pipeline.gans.losses import l1_loss
from pipeline.training.build import build_compiled_gan, distributed_step
from tests.helpers import repo_params

S = 32  # padded Fashion-MNIST
BATCH = 8


def _run(train=None, **family):
    """A resolved pix2pix run with tiny widths; params.yaml may not have the section yet."""
    params = repo_params()
    params["train"].update(train or {})
    section = params["models"].setdefault("pix2pix", {})
    section.update({"batch_size": BATCH, "dropout": 0.0, "filters": 4, "d_filters": 4, **family})
    return resolve_run(params, "pix2pix")


def _gan(run, image_shape=(S, S, 2), strategy=None):
    return build_compiled_gan(run, image_shape, strategy or tf.distribute.get_strategy())


def _batch(run, image_shape=(S, S, 2), batch=BATCH, seed=1):
    """(pairs [b, k, S, S, 1 + C], noise [b, k + 1, latent]) as the training loop feeds."""
    k = run.train.k_steps
    rng = np.random.default_rng(seed)
    real = rng.uniform(-1, 1, (batch, k, *image_shape)).astype(np.float32)
    real[..., 0] = np.sign(real[..., 0])  # an edge map is (almost) binary
    noise = rng.standard_normal((batch, k + 1, run.train.latent_dim)).astype(np.float32)
    return tf.constant(real), tf.constant(noise)


def _weights(model):
    return [v.numpy().copy() for v in model.trainable_variables]


# --- architecture --------------------------------------------------------------------------


@pytest.mark.parametrize("side", [32, 64, 128, 256])
@pytest.mark.parametrize("channels", [1, 3])
def test_unet_translates_at_the_input_size(side, channels):
    run = _run()
    generator = pix2pix.build_generator(run, (side, side, 1 + channels))
    assert generator.name == "generator"
    assert generator.input_shape == (None, side, side, 1)
    edges = tf.random.uniform([2, side, side, 1], -1, 1)
    image = generator(edges, training=False)
    assert image.shape == (2, side, side, channels)
    assert image.dtype == tf.float32
    # log2(S) encoder blocks down to 1x1, log2(S) - 1 decoder blocks with skips
    levels = side.bit_length() - 1
    downs = [layer for layer in generator.layers if layer.name.endswith("_conv")]
    skips = [layer for layer in generator.layers if layer.name.startswith("g_skip")]
    assert len(downs) == levels and downs[-1].output.shape[1:3] == (1, 1)
    assert len(skips) == levels - 1


def test_unet_widths_dropout_and_normalisation_follow_the_paper():
    run = _run(filters=64, decoder_dropout=0.5)
    generator = pix2pix.build_generator(run, (256, 256, 4))
    widths = [layer.filters for layer in generator.layers if layer.name.endswith("_conv")]
    assert widths == [64, 128, 256, 512, 512, 512, 512, 512]  # C64-C128-C256-C512 ... C512
    ups = [layer.filters for layer in generator.layers if layer.name.endswith("_deconv")]
    assert ups == [512, 512, 512, 512, 256, 128, 64]
    dropouts = [layer.name for layer in generator.layers if "dropout" in layer.name]
    assert dropouts == ["g_up1_dropout", "g_up2_dropout", "g_up3_dropout"]
    norms = [layer for layer in generator.layers if "BatchNormalization" in type(layer).__name__]
    # none on the first block, none at the 1x1 bottleneck (see the module docstring)
    assert "g_down1_bn" not in {layer.name for layer in norms}
    assert all(layer.output.shape[1] > 1 for layer in norms)
    kernel = generator.get_layer("g_down4_conv").kernel.numpy()
    assert abs(kernel.mean()) < 1e-3 and abs(kernel.std() - 0.02) < 1e-3  # N(0, 0.02)


def test_every_layer_draws_its_own_initial_weights():
    """Every layer draws its own N(0, 0.02) weights (a shared unseeded initializer would
    give all layers of one shape the same ones)."""
    generator = pix2pix.build_generator(_run(), (S, S, 2))
    kernels = [layer.kernel.numpy() for layer in generator.layers if hasattr(layer, "kernel")]
    same_shape = [(a, b) for i, a in enumerate(kernels) for b in kernels[i + 1 :]]
    assert all(not np.array_equal(a, b) for a, b in same_shape if a.shape == b.shape)


def _support_side(gradient: np.ndarray) -> tuple[int, int, bool]:
    """Rows and columns with a nonzero gradient, and whether they touch the border."""
    mask = np.abs(gradient).sum(axis=-1) > 0
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    side = mask.shape[0]
    touches = rows[0] == 0 or cols[0] == 0 or rows[-1] == side - 1 or cols[-1] == side - 1
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1, touches


@pytest.mark.parametrize("patch", [1, 16, 34, 70, 142, 286])
def test_patchgan_receptive_field_is_the_patch(patch):
    """The gradient of one interior logit w.r.t. the pair is nonzero on exactly a
    patch x patch square (inference mode: BatchNorm is then an affine map)."""
    side = max(16, 1 << (2 * patch - 1).bit_length())  # at least twice the patch: 512 for 286
    run = _run(patch=patch, d_filters=2)
    discriminator = pix2pix.build_discriminator(run, (side, side, 2))
    assert discriminator.name == "discriminator"
    blocks = pix2pix.patch_blocks(patch, side)
    grid = side // 2**blocks
    pair = tf.Variable(tf.random.uniform([1, side, side, 2], -1, 1, seed=3))
    with tf.GradientTape() as tape:
        logits = discriminator(pair, training=False)
        unit = logits[0, grid // 2, grid // 2, 0]
    assert logits.shape == (1, grid, grid, 1) and logits.dtype == tf.float32
    height, width, touches = _support_side(tape.gradient(unit, pair)[0].numpy())
    assert not touches, "the input is too small to measure the whole field"
    assert (height, width) == (patch, patch)


@pytest.mark.parametrize(("side", "patch"), [(16, 16), (16, 142), (32, 286), (256, 70)])
def test_patchgan_grid_is_side_over_two_to_the_blocks(side, patch):
    run = _run(patch=patch)
    discriminator = pix2pix.build_discriminator(run, (side, side, 4))
    blocks = {16: 1, 34: 2, 70: 3, 142: 4, 286: 5}[patch]
    grid = side // 2**blocks
    assert discriminator.output_shape == (None, grid, grid, 1)


def test_a_patch_too_large_for_the_image_is_a_config_error():
    """286 needs five halvings: a 16x16 pair has only four (32x32 gives a 1x1 grid)."""
    run = _run(patch=286)
    with pytest.raises(ConfigError, match=r"models\.pix2pix\.patch=286 .*image side is 16"):
        pix2pix.build_discriminator(run, (16, 16, 2))


def test_the_pixelgan_judges_every_pixel():
    run = _run(patch=1)
    discriminator = pix2pix.build_discriminator(run, (S, S, 4))
    assert discriminator.output_shape == (None, S, S, 1)
    kernels = {layer.kernel.shape[0] for layer in discriminator.layers if hasattr(layer, "kernel")}
    assert kernels == {1}


@pytest.mark.parametrize(
    ("shape", "message"),
    [((28, 28, 2), "power of two"), ((32, 16, 2), "square"), ((32, 32, 1), "pairs")],
)
def test_pair_shapes_are_checked(shape, message):
    with pytest.raises(ConfigError, match=message):
        pix2pix.build_generator(_run(), shape)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("patch", 50, r"models\.pix2pix\.patch must be one of"),
        ("l1_weight", -1.0, r"models\.pix2pix\.l1_weight must be >= 0"),
        ("loss", "l2", r"models\.pix2pix\.loss must be one of 'l1', 'cgan', 'l1\+cgan'"),
        ("decoder_dropout", 1.0, r"models\.pix2pix\.decoder_dropout must be in \[0, 1\)"),
        ("jitter_scale", 0.9, r"models\.pix2pix\.jitter_scale must be >= 1"),
    ],
)
def test_bad_params_name_their_key(key, value, message):
    with pytest.raises(ConfigError, match=message):
        _run(**{key: value})


def test_models_pix2pix_loss_is_the_objective_not_train_loss():
    """models.pix2pix.loss (l1 | cgan | l1+cgan) is the family's own param; train.loss
    (the adversarial term's form) still reaches the model from train.*."""
    run = _run(loss="l1", train={"loss": "minimax"})
    assert (run.family.loss, run.train.loss) == ("l1", "minimax")
    gan = _gan(run)
    assert (gan.objective, gan.loss.name) == ("l1", "minimax")


def test_no_jitter_means_no_augmentation():
    run = _run(jitter=False)
    assert pix2pix.augmentation(run, (S, S, 2)) is None


# --- the objective -------------------------------------------------------------------------


def test_l1_loss_is_the_mean_absolute_difference_per_example():
    target = np.zeros((2, 2, 2, 1), np.float32)
    output = np.array(
        [np.full((2, 2, 1), 0.5), [[[1.0], [-1.0]], [[0.5], [-0.5]]]], np.float32
    )  # example 0: |0.5| everywhere; example 1: (1 + 1 + 0.5 + 0.5) / 4
    np.testing.assert_allclose(l1_loss(target, output).numpy(), [0.5, 0.75], rtol=1e-6)


def _softplus(x):
    return np.log1p(np.exp(x))


@pytest.mark.parametrize("objective", ["l1+cgan", "cgan", "l1"])
def test_generator_objective_matches_a_hand_computation(objective):
    run = _run(loss=objective, l1_weight=7.0, train={"loss": "nonsaturating"})
    gan = _gan(run)
    rng = np.random.default_rng(5)
    real = rng.uniform(-1, 1, (BATCH, S, S, 2)).astype(np.float32)
    fake = rng.uniform(-1, 1, (BATCH, S, S, 1)).astype(np.float32)
    logits = rng.normal(0, 2, (BATCH, S // 2, S // 2, 1)).astype(np.float32)
    got = {k: float(v) for k, v in gan._generator_objective(real, None, fake, logits, None).items()}
    # -log sigmoid(l) = softplus(-l), averaged over the patch grid, then over the batch
    g_gan = np.mean([_softplus(-logits[i]).mean() for i in range(BATCH)])
    g_l1 = np.mean([np.abs(real[i, ..., 1:] - fake[i]).mean() for i in range(BATCH)])
    expected = {"l1+cgan": g_gan + 7.0 * g_l1, "cgan": g_gan, "l1": 7.0 * g_l1}[objective]
    np.testing.assert_allclose(got["g_gan"], g_gan, rtol=1e-5)
    np.testing.assert_allclose(got["g_l1"], g_l1, rtol=1e-5)
    np.testing.assert_allclose(got["g_loss"], expected, rtol=1e-5)


def test_metric_names_extend_the_base_ones():
    assert AdversarialGAN.metric_names == METRIC_NAMES
    assert pix2pix.Pix2Pix.metric_names == (*METRIC_NAMES, "g_gan", "g_l1")
    assert pix2pix.FAMILY.model is pix2pix.Pix2Pix


# --- training ------------------------------------------------------------------------------


@pytest.mark.parametrize("update", ["simultaneous", "alternating"])
def test_one_step_trains_every_weight_of_both_networks(update):
    run = _run(loss="l1+cgan", train={"update": update})
    gan = _gan(run)
    assert isinstance(gan, pix2pix.Pix2Pix)
    step = distributed_step(gan, tf.distribute.get_strategy(), jit_compile=False)
    d_before, g_before = _weights(gan.discriminator), _weights(gan.generator)
    out = {k: float(v) for k, v in step(_batch(run)).items()}
    for before, model in ((d_before, gan.discriminator), (g_before, gan.generator)):
        for value, variable in zip(before, model.trainable_variables, strict=True):
            assert not np.array_equal(value, variable.numpy()), f"{variable.path} did not move"
    assert tuple(out) == (*METRIC_NAMES, "g_gan", "g_l1")
    assert gan(tf.zeros([2, S, S, 1])).shape == (2, S, S, 1)  # the wrapper's call() is G
    assert all(np.isfinite(v) for v in out.values())
    # the logged parts add up to the logged objective (all global-batch means)
    np.testing.assert_allclose(out["g_loss"], out["g_gan"] + 100.0 * out["g_l1"], rtol=1e-5)


def test_k_steps_with_alternating_updates():
    run = _run(train={"k_steps": 2, "update": "alternating"})
    gan = _gan(run)
    out = gan.train_step(_batch(run))
    assert set(out) == set(pix2pix.Pix2Pix.metric_names)
    assert (int(gan.d_optimizer.iterations), int(gan.g_optimizer.iterations)) == (2, 1)


@pytest.mark.parametrize("update", ["simultaneous", "alternating"])
def test_with_l1_alone_the_generator_does_not_listen_to_the_discriminator(update):
    """Two discriminators with different weights: after one step the generators are the
    same with loss l1, and differ with l1+cgan (the control)."""

    def generators_after_one_step(objective):
        result = []
        for scale in (1.0, 3.0):
            run = _run(loss=objective, train={"update": update})
            gan = _gan(run)
            for variable in gan.discriminator.trainable_variables:
                variable.assign(variable * scale + 0.01 * (scale - 1.0))
            gan.train_step(_batch(run))
            result.append(_weights(gan.generator))
        return result

    same = generators_after_one_step("l1")
    for a, b in zip(*same, strict=True):
        np.testing.assert_array_equal(a, b)
    differ = generators_after_one_step("l1+cgan")
    assert any(not np.array_equal(a, b) for a, b in zip(*differ, strict=True))


def test_mixed_precision_keeps_images_and_logits_float32():
    from pipeline.training.distribute import precision_policy

    run = _run(train={"precision": "mixed_bfloat16"})
    with precision_policy("mixed_bfloat16"):
        gan = _gan(run)
        assert gan.generator.dtype_policy.compute_dtype == "bfloat16"
        images = gan.generator(tf.zeros([2, S, S, 1]))
        assert images.dtype == tf.float32
        pairs = tf.concat([tf.zeros([2, S, S, 1]), images], axis=-1)
        assert gan.discriminator(pairs).dtype == tf.float32
        out = gan.train_step(_batch(run))
    assert all(np.isfinite(float(v)) for v in out.values())


def _train_steps(run, strategy, batches):
    """Weights (both networks, with BatchNorm's moving statistics) and the step values."""
    gan = _gan(run, strategy=strategy)
    step = distributed_step(gan, strategy, jit_compile=False)
    real, noise = batches
    dataset = tf.data.Dataset.from_tensor_slices((real, noise)).batch(BATCH)
    values = []
    for batch in strategy.experimental_distribute_dataset(dataset):
        values.append([float(v) for v in step(batch).values()])
    weights = [v.numpy() for v in gan.generator.weights + gan.discriminator.weights]
    return weights, np.array(values)


def test_mirrored_on_two_devices_matches_one_device():
    from pipeline.training.distribute import make_strategy

    assert len(tf.config.list_logical_devices("CPU")) == 2, "conftest makes two logical CPUs"
    # Dropout masks are drawn per replica, so they cannot match one device's; the
    # equivalence is about gradients, losses and (synchronised) batch statistics.
    run = _run(decoder_dropout=0.0, filters=8, d_filters=8)
    real, noise = _batch(run, batch=2 * BATCH)  # two steps of BATCH
    one, one_values = _train_steps(run, tf.distribute.get_strategy(), (real, noise))
    two, two_values = _train_steps(run, make_strategy("mirrored"), (real, noise))
    np.testing.assert_allclose(one_values, two_values, rtol=1e-4, atol=1e-6)
    # 2 Adam steps of lr move a weight by at most ~2 lr; where a gradient is at rounding
    # level Adam turns the noise into a full step (see test_distribute.py).
    lr = run.train.lr
    close = total = 0
    for a, b in zip(one, two, strict=True):
        difference = np.abs(a - b)
        assert difference.max() <= 2 * 2 * lr + 1e-3 * np.abs(a).max()
        close += int((difference <= 5e-5 + 1e-3 * np.abs(a)).sum())
        total += a.size
    assert close / total > 0.9999, f"{total - close} of {total} weights differ"
