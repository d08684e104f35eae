"""Seed 004's stabilisers and ProGAN's layers: minibatch std and minibatch discrimination
(pipeline.gans.blocks.stabilizers), pixel norm, the equalized learning rate and its
conversion to built-in layers (pipeline.gans.blocks.equalized), the fade-in
(pipeline.gans.blocks.progressive), and how the families put them into their networks."""

import copy
import math
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline.gans.blocks.equalized import EqualizedConv2D, EqualizedDense, to_builtin
from pipeline.gans.blocks.progressive import FadeIn, scheduled_layers
from pipeline.gans.blocks.stabilizers import (
    BatchFeatures,
    MinibatchDiscrimination,
    MinibatchStd,
    pixel_norm,
)
from pipeline.gans.families import get_family, resolve_run
from tests.helpers import assert_weights_alike


def _appended(layer, x, count: int = 1) -> np.ndarray:
    """The features `layer` appends to `x`: [B, ..., count]."""
    return np.asarray(layer(tf.constant(x, tf.float32)))[..., -count:]


# --- minibatch standard deviation -------------------------------------------------------


def test_minibatch_std_of_identical_images_is_the_epsilon_floor():
    """No variation in a group: the feature is sqrt(0 + 1e-8), not 0 and not NaN."""
    x = np.broadcast_to(np.random.default_rng(0).normal(size=(1, 5, 5, 3)), (8, 5, 5, 3))
    feature = _appended(MinibatchStd(4), x)
    np.testing.assert_allclose(feature, 1e-4, rtol=1e-3)


def test_minibatch_std_is_the_mean_population_std_of_consecutive_rows():
    """Rows 0-3 and 4-7 form the groups. Group 0 has per-feature spreads 1 and 10 around
    their means; group 1 is constant but for one feature. Catches a sample std (n - 1), a
    std over the whole batch, strided groups (0, 2, 4, 6), or a mean taken before the std."""
    x = np.zeros((8, 2), np.float32)
    x[:4, 0] = [0, 2, 0, 2]  # population std 1
    x[:4, 1] = [10, -10, 10, -10]  # population std 10
    x[4:, 0] = [5, 5, 5, 5]  # std 0 (+ epsilon)
    x[4:, 1] = [0, 0, 0, 8]  # mean 2, deviations -2, -2, -2, 6: var 12
    out = np.asarray(MinibatchStd(4)(tf.constant(x)))
    assert out.shape == (8, 3)
    np.testing.assert_array_equal(out[:, :2], x)  # the input passes through
    group1 = (math.sqrt(1e-8) + math.sqrt(12 + 1e-8)) / 2
    expected = [(1 + 10) / 2] * 4 + [group1] * 4
    np.testing.assert_allclose(out[:, 2], expected, rtol=1e-5)


def test_minibatch_std_shapes_for_feature_maps_and_flat_features():
    rng = np.random.default_rng(1)
    maps = rng.normal(size=(8, 3, 5, 2)).astype(np.float32)
    out = np.asarray(MinibatchStd(4)(maps))
    assert out.shape == (8, 3, 5, 3)
    # one constant per group, broadcast over every pixel
    for group in (out[:4, ..., -1], out[4:, ..., -1]):
        np.testing.assert_allclose(group, group.flat[0], rtol=1e-6)
    assert np.asarray(MinibatchStd(4)(maps.reshape(8, -1))).shape == (8, 31)
    symbolic = MinibatchStd(4)(keras.Input((3, 5, 2)))
    assert tuple(symbolic.shape) == (None, 3, 5, 3)


def test_minibatch_std_groups_split_with_the_batch():
    """Consecutive groups: a batch split in halves whose size is a multiple of the group
    (how MirroredStrategy splits it) gives each half the features of the whole batch,
    and D's [real; fake] batch never puts reals and fakes in one group."""
    x = np.random.default_rng(2).normal(size=(16, 4, 4, 3)).astype(np.float32)
    layer = MinibatchStd(4)
    whole = _appended(layer, x)
    halves = np.concatenate([_appended(layer, x[:8]), _appended(layer, x[8:])])
    np.testing.assert_allclose(halves, whole, rtol=1e-6)
    other = x.copy()
    other[8:] *= 3.0  # other "fakes"
    np.testing.assert_allclose(_appended(layer, other)[:8], whole[:8], rtol=1e-6)


def test_minibatch_std_on_a_batch_the_group_does_not_divide_uses_the_gcd():
    """6 rows with group 4: groups of gcd(6, 4) = 2 consecutive rows, not an error."""
    x = np.array([[0.0], [2.0], [5.0], [5.0], [1.0], [-3.0]], np.float32)
    feature = _appended(MinibatchStd(4), x)[:, 0]
    np.testing.assert_allclose(feature, [1, 1, 1e-4, 1e-4, 2, 2], rtol=1e-3)


def test_minibatch_std_group_divides_the_replica_minibatch(tiny_params):
    """train.minibatch_std 4 with a minibatch of 6: D's [real; fake] batch of 12 rows would
    be grouped by 4 (gcd(12, 4)), putting reals 4-5 with fakes 0-1. The group must divide
    the minibatch, so the reals' outputs do not depend on the fakes."""
    params = copy.deepcopy(tiny_params)
    params["train"].update(minibatch_std=4, batch_size=6, dropout=0.0)
    run = resolve_run(params, "gan")
    discriminator = get_family("gan").build_discriminator(run, (28, 28, 1))
    rng = np.random.default_rng(3)
    real = rng.uniform(-1, 1, (6, 28, 28, 1)).astype(np.float32)
    fake = rng.uniform(-1, 1, (6, 28, 28, 1)).astype(np.float32)
    first = discriminator(np.concatenate([real, fake]), training=True).numpy()
    second = discriminator(np.concatenate([real, fake * 0.1]), training=True).numpy()
    np.testing.assert_allclose(second[:6], first[:6], rtol=1e-6, atol=1e-7)
    assert np.abs(second[6:] - first[6:]).max() > 1e-6  # the fakes' outputs did change


# --- minibatch discrimination -----------------------------------------------------------


def test_minibatch_discrimination_shape_and_identical_rows():
    """[B, F] -> [B, F + kernels]; identical rows are at L1 distance 0 from the other
    group_size - 1 rows: each kernel's feature is exactly group_size - 1 (an image is not
    compared with itself)."""
    layer = MinibatchDiscrimination(kernels=3, kernel_dim=4, group_size=4)
    x = np.broadcast_to(np.random.default_rng(4).normal(size=(1, 10)), (8, 10))
    out = np.asarray(layer(tf.constant(x, tf.float32)))
    assert out.shape == (8, 13)
    np.testing.assert_allclose(out[:, 10:], 3.0, rtol=1e-6)
    whole = MinibatchDiscrimination(kernels=2, kernel_dim=4)  # group 0: the whole batch
    np.testing.assert_allclose(_appended(whole, x, 2), 7.0, rtol=1e-6)
    assert tuple(whole(keras.Input((10,))).shape) == (None, 12)


def test_minibatch_discrimination_is_exp_of_minus_the_l1_distance():
    """Two rows, T the identity: the feature is exp(-(|0 - 1| + |0 - 2|)) for both."""
    layer = MinibatchDiscrimination(kernels=1, kernel_dim=2)
    layer.build((None, 2))
    layer.projection.assign(np.eye(2, dtype=np.float32))
    feature = _appended(layer, np.array([[0.0, 0.0], [1.0, 2.0]]))
    np.testing.assert_allclose(feature[:, 0], [math.exp(-3)] * 2, rtol=1e-6)


def test_minibatch_discrimination_falls_as_images_move_apart():
    """Fakes that look alike score high: spreading the same rows wider lowers every
    feature strictly (each L1 distance grows by the same factor)."""
    layer = MinibatchDiscrimination(kernels=4, kernel_dim=3)
    rng = np.random.default_rng(5)
    centre, spread = rng.normal(size=(1, 16)), rng.normal(size=(6, 16))
    close = _appended(layer, centre + 0.5 * spread, 4)
    far = _appended(layer, centre + 2.0 * spread, 4)
    assert (far < close).all()
    assert (close > 0).all() and (close < 5).all()


def test_minibatch_discrimination_compares_reals_and_fakes_apart():
    """group_size b on D's [real; fake] batch of 2b rows: two groups, so a real's features
    do not depend on the fakes (nor the other way round)."""
    layer = MinibatchDiscrimination(kernels=3, kernel_dim=5, group_size=4)
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    first = _appended(layer, np.concatenate([real, fake]), 3)
    second = _appended(layer, np.concatenate([real, 5.0 * fake]), 3)
    np.testing.assert_allclose(second[:4], first[:4], rtol=1e-6)
    assert not np.allclose(second[4:], first[4:])
    np.testing.assert_allclose(first[:4], _appended(layer, real, 3), rtol=1e-6)  # G's pass


# --- pixel norm -------------------------------------------------------------------------


def test_pixel_norm_gives_every_pixel_unit_mean_square_over_its_channels():
    """Catches a norm over the wrong axis, a unit L2 norm left without its sqrt(C)
    rescale, or a direction changed on the way."""
    x = np.random.default_rng(7).normal(size=(2, 3, 3, 5)).astype(np.float32)
    x *= np.geomspace(1e-2, 1e2, 9).reshape(1, 3, 3, 1)  # very different pixel scales
    inputs = keras.Input((3, 3, 5))
    model = keras.Model(inputs, pixel_norm(inputs, "norm"))
    out = np.asarray(model(x))
    np.testing.assert_allclose((out**2).mean(axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        out / np.linalg.norm(out, axis=-1, keepdims=True),
        x / np.linalg.norm(x, axis=-1, keepdims=True),
        rtol=1e-5,
    )


# --- the equalized learning rate --------------------------------------------------------


@pytest.mark.parametrize("fan_in", [16, 1024])
def test_equalized_dense_has_unit_weights_and_he_scale_output(fan_in):
    """N(0, 1) weights scaled at run time by sqrt(2 / fan_in): on N(0, 1) inputs the output
    std is the gain, sqrt(2), whatever the fan-in."""
    layer = EqualizedDense(256, seed=1)
    x = np.random.default_rng(8).normal(size=(256, fan_in)).astype(np.float32)
    out = np.asarray(layer(x))
    assert out.shape == (256, 256)
    assert layer.kernel.numpy().std() == pytest.approx(1.0, rel=0.05)
    assert out.std() == pytest.approx(math.sqrt(2), rel=0.1)


@pytest.mark.parametrize("channels", [2, 128])  # fan-in 18 and 1152
def test_equalized_conv_has_unit_weights_and_he_scale_output(channels):
    layer = EqualizedConv2D(64, 3, seed=2)
    x = np.random.default_rng(9).normal(size=(4, 10, 10, channels)).astype(np.float32)
    out = np.asarray(layer(x))
    assert out.shape == (4, 10, 10, 64)  # 'same' padding, stride 1
    assert layer.kernel.numpy().std() == pytest.approx(1.0, rel=0.1)
    interior = out[:, 1:-1, 1:-1]  # the border sees zero padding
    assert interior.std() == pytest.approx(math.sqrt(2), rel=0.1)


def test_equalized_seed_makes_the_same_weights():
    """A phase that adds a layer mid-run must build it as a resumed process does."""
    x = np.ones((1, 3, 3, 4), np.float32)
    a, b, c = EqualizedConv2D(8, seed=5), EqualizedConv2D(8, seed=5), EqualizedConv2D(8, seed=6)
    for layer in (a, b, c):
        layer(x)
    np.testing.assert_array_equal(a.kernel.numpy(), b.kernel.numpy())
    assert not np.array_equal(a.kernel.numpy(), c.kernel.numpy())
    d, e = EqualizedDense(8, seed=5), EqualizedDense(8, seed=5)
    d(x[0, 0]), e(x[0, 0])
    np.testing.assert_array_equal(d.kernel.numpy(), e.kernel.numpy())
    clone = EqualizedConv2D.from_config(a.get_config())
    clone(x)
    np.testing.assert_array_equal(clone.kernel.numpy(), a.kernel.numpy())


def test_equalized_lr_multiplier_shrinks_the_weights_not_the_output():
    """lr_multiplier m: weights N(0, 1/m^2), times m at run time (the bias too), so the
    function at initialisation is unchanged and Adam's lr-sized step moves the effective
    weights m times as fast as an m = 1 layer's."""
    x = np.random.default_rng(10).normal(size=(256, 64)).astype(np.float32)
    layer = EqualizedDense(256, lr_multiplier=0.01, seed=3)
    out = np.asarray(layer(x))
    assert layer.kernel.numpy().std() == pytest.approx(100.0, rel=0.05)
    assert out.std() == pytest.approx(math.sqrt(2), rel=0.1)
    layer.bias.assign(np.full(256, 50.0, np.float32))
    np.testing.assert_allclose(np.asarray(layer(x)) - out, 0.5, atol=1e-4)


def _mixed_model() -> keras.Model:
    """Equalized layers among built-in ones, with non-zero biases and an lr_multiplier."""
    z = keras.Input((8,), name="z")
    x = EqualizedDense(4 * 4 * 3, seed=1, name="project")(z)
    x = keras.layers.Reshape((4, 4, 3), name="reshape")(x)
    x = keras.layers.LeakyReLU(0.2, name="act")(x)
    x = pixel_norm(x, "norm")
    x = EqualizedConv2D(5, 3, lr_multiplier=0.5, seed=2, name="conv")(x)
    x = keras.layers.Conv2D(2, 1, name="plain")(x)
    model = keras.Model(z, keras.layers.Activation("tanh", name="image")(x))
    for name in ("project", "conv"):
        bias = model.get_layer(name).bias
        bias.assign(np.linspace(-1, 1, bias.shape[0]).astype(np.float32))
    return model


def test_to_builtin_computes_the_same_function_with_builtin_layers_only(tmp_path):
    """The saved generator must load anywhere: no equalized layer is left, the runtime
    scales (and the bias's lr_multiplier) are folded into the weights, and the file loads
    in safe mode in a process that never imports the pipeline."""
    model = _mixed_model()
    plain = to_builtin(model)
    z = np.random.default_rng(11).normal(size=(3, 8)).astype(np.float32)
    expected = np.asarray(model(z))
    np.testing.assert_allclose(np.asarray(plain(z)), expected, atol=1e-5)
    types = {type(layer).__name__ for layer in plain.layers}
    assert not {"EqualizedDense", "EqualizedConv2D"} & types
    assert {"Dense", "Conv2D"} <= types
    assert [layer.name for layer in plain.layers] == [layer.name for layer in model.layers]

    path = tmp_path / "generator.keras"
    plain.save(path)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "expected.npy", expected)
    script = (
        "import sys, numpy as np, keras\n"
        f"model = keras.saving.load_model({str(path)!r}, safe_mode=True)\n"
        f"out = np.asarray(model(np.load({str(tmp_path / 'z.npy')!r})))\n"
        f"np.testing.assert_allclose(out, np.load({str(tmp_path / 'expected.npy')!r}), "
        "atol=1e-5)\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'pipeline'], 'imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_to_builtin_returns_a_model_without_equalized_layers_itself():
    z = keras.Input((4,))
    model = keras.Model(z, keras.layers.Dense(2)(z))
    assert to_builtin(model) is model


# --- the fade-in -----------------------------------------------------------------------


def test_fade_in_blends_old_into_new_by_its_alpha():
    """alpha 0 at the start of a fade-in (only the old path), then old + alpha (new - old)."""
    old_in, new_in = keras.Input((3,)), keras.Input((3,))
    fade = FadeIn(name="fade")
    model = keras.Model([old_in, new_in], fade([old_in, new_in]))
    old = np.array([[1.0, -2.0, 0.0]], np.float32)
    new = np.array([[3.0, 2.0, -4.0]], np.float32)
    assert float(fade.value.numpy()) == 0.0
    np.testing.assert_allclose(np.asarray(model([old, new])), old)
    for alpha in (0.25, 1.0):
        fade.value.assign(alpha)
        np.testing.assert_allclose(np.asarray(model([old, new])), old + alpha * (new - old))
    assert fade.schedule == "alpha" and fade.value.trainable is False


def test_scheduled_layers_finds_fade_ins_in_nested_models():
    """The trainer sets every scheduled layer's value before each step, also one inside a
    sub-model; a missed one would stay at alpha 0 for good."""
    a, b = keras.Input((3,)), keras.Input((3,))
    outer_fade = FadeIn(name="outer_fade")
    inner_fade = FadeIn(name="inner_fade")
    inner = keras.Model([a, b], inner_fade([a, b]), name="inner")
    x, y = keras.Input((3,)), keras.Input((3,))
    blended = inner([x, y])
    model = keras.Model([x, y], outer_fade([blended, keras.layers.Dense(3)(y)]))
    assert set(map(id, scheduled_layers(model))) == {id(outer_fade), id(inner_fade)}
    assert scheduled_layers(keras.Model(a, keras.layers.Dense(2)(a))) == []


# --- how the families use them ------------------------------------------------------------


def _discriminator(params, model, variant="upsample", **train):
    params = copy.deepcopy(params)
    params["models"]["dcgan"]["generator"] = variant
    params["train"].update(train)
    run = resolve_run(params, model)
    return get_family(model).build_discriminator(run, (28, 28, 1))


def _names(model) -> list[str]:
    """Layer names without Keras' running number (leaky_re_lu_7 -> leaky_re_lu)."""
    return [re.sub(r"_\d+$", "", layer.name) for layer in model.layers]


# The discriminators before the stabilisers existed (git HEAD before seed 004's layers).
BEFORE = {
    ("dcgan", "upsample"): [
        "image", "d_conv1", "leaky_re_lu", "d_dropout1", "d_conv2", "zero_padding2d", "d_bn2",
        "leaky_re_lu", "d_dropout2", "d_conv3", "d_bn3", "leaky_re_lu", "d_dropout3",
        "d_conv4", "d_bn4", "leaky_re_lu", "d_dropout4", "d_features", "logit",
    ],
    ("dcgan", "transposed"): [
        "image", "d_conv1", "leaky_re_lu", "d_dropout1", "d_conv2", "leaky_re_lu",
        "d_dropout2", "d_features", "logit",
    ],
    ("gan", "upsample"): [
        "image", "d_flatten", "d_dense1", "d_dense1_act", "d_dropout1", "d_dense2",
        "d_dense2_act", "d_dropout2", "logit",
    ],
}  # fmt: skip


@pytest.mark.parametrize(("model", "variant"), list(BEFORE))
def test_stabilisers_off_leave_the_discriminators_unchanged(tiny_params, model, variant):
    """Off (the default), BatchFeatures adds no layer: today's networks, and so today's
    checkpoints and numbers, are unchanged."""
    discriminator = _discriminator(tiny_params, model, variant)
    assert _names(discriminator) == BEFORE[model, variant]


@pytest.mark.parametrize(("model", "variant"), list(BEFORE))
def test_stabilisers_on_add_their_layer_where_it_belongs(tiny_params, model, variant):
    """minibatch_std: one feature more before D's last block; minibatch_discrimination:
    `kernels` features more after its last hidden features, right before the logit."""
    before = BEFORE[model, variant]
    std = _discriminator(tiny_params, model, variant, minibatch_std=4)
    layer = std.get_layer("d_minibatch_std")
    assert isinstance(layer, MinibatchStd) and layer.group_size == 4
    assert [n for n in _names(std) if n != "d_minibatch_std"] == before
    assert layer.output.shape[-1] == layer.input.shape[-1] + 1
    follower = std.layers[std.layers.index(layer) + 1]
    assert follower.name in {"d_conv4", "d_conv2", "d_dense2"}  # the last block's first layer

    mbd = _discriminator(tiny_params, model, variant, minibatch_discrimination=3)
    layer = mbd.get_layer("d_minibatch_discrimination")
    assert isinstance(layer, MinibatchDiscrimination) and layer.kernels == 3
    assert layer.group_size == 8  # the (one replica's) minibatch
    assert _names(mbd) == [*before[:-1], "d_minibatch_discrimination", "logit"]
    assert layer.output.shape[-1] == layer.input.shape[-1] + 3


def test_batch_features_group_is_the_replica_minibatch(tiny_params):
    """Under MirroredStrategy each replica holds batch_size / 2 examples: minibatch
    discrimination groups them (minibatch std's group must divide them)."""
    from pipeline.training.distribute import make_strategy

    params = copy.deepcopy(tiny_params)
    params["train"].update(minibatch_std=4, minibatch_discrimination=2, batch_size=12)
    run = resolve_run(params, "gan")
    assert BatchFeatures.of(run).group == 12
    with make_strategy("mirrored").scope():
        features = BatchFeatures.of(run)
        assert features.group == 6
        inputs = keras.Input((5,))
        model = keras.Model(inputs, features.std(inputs))
    assert model.get_layer("d_minibatch_std").group_size == 2  # gcd(4, 6)
    assert BatchFeatures().std("x") == "x" and BatchFeatures().discrimination("x") == "x"


def test_stabilizers_of_says_what_a_run_uses(tiny_params):
    """MLflow's `stabilizers` param: what is on, and what the family does not take."""

    def said(model, **train):
        params = copy.deepcopy(tiny_params)
        params["train"].update(train)
        return get_family(model).stabilizers_of(resolve_run(params, model).train)

    assert said("gan") == "none"
    assert said("dcgan", minibatch_std=4, replay=0.5) == "minibatch_std(4) + replay(0.5 of 1024)"
    assert said("gan", minibatch_discrimination=3) == "minibatch_discrimination(3x5)"
    assert said("cgan", replay=0.5) == "none (cgan takes no replay)"
    assert said("cgan", minibatch_std=2, replay=0.25, replay_buffer=64) == (
        "minibatch_std(2) (cgan takes no replay)"
    )


def test_mirrored_minibatch_std_on_two_devices_matches_one_device(
    tiny_params, tiny_images, tmp_path
):
    """Consecutive groups of 4 in minibatches of 8 split over two replicas (4 each) form
    the same groups on two devices as on one, so the training is the same."""
    from pipeline.training.distribute import make_strategy
    from pipeline.training.loop import train

    params = copy.deepcopy(tiny_params)
    params["train"].update(dropout=0.0, epochs=1, steps_per_epoch=3, batch_size=8, lr=2e-4)
    params["train"]["minibatch_std"] = 4  # lr: test_distribute.py's tolerances
    run = resolve_run(params, "gan")
    results = [
        train(run, tiny_images, checkpoint_dir=tmp_path / name, strategy=strategy, progress=False)
        for name, strategy in (
            ("one", tf.distribute.get_strategy()),
            ("two", make_strategy("mirrored")),
        )
    ]
    keys = ("d_loss", "g_loss", "d_real", "d_fake")
    one, two = ([[row[k] for k in keys] for row in r.history] for r in results)
    # The tolerances of tests/test_distribute.py (see there).
    np.testing.assert_allclose(one, two, rtol=1e-4, atol=1e-6)
    weights = [
        [v.numpy() for v in r.gan.generator.weights + r.gan.discriminator.weights] for r in results
    ]
    assert_weights_alike(*weights, bound=3 * 2 * run.train.lr)
