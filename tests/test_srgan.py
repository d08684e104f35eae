"""srgan and its data: the lowres pairs, SRResNet's shapes, what D sees, the two phases'
train steps, the content losses, and `upscale` on pictures the model never saw."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from pipeline.config import LowresConfig
from pipeline.data import lowres
from pipeline.data.store import Dataset
from pipeline.errors import ConfigError, DataError
from pipeline.gans.blocks.resnet import PixelShuffle
from pipeline.gans.families import resolve_run, srgan
from pipeline.training.build import build_compiled_gan
from tests.helpers import one_line_error, repo_params

S, C = 28, 1
STACKED = (S, S, 2 * C)
BATCH = 4


def _run(lowres_params=None, **family):
    params = repo_params()
    params["models"]["srgan"].update({"batch_size": BATCH, **family})
    params["lowres"] = {**params["lowres"], **(lowres_params or {})}
    return resolve_run(params, "srgan")


def _images(count=6, side=S, channels=C, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, side, side, channels), np.uint8)


def _dataset(train=8, test=4):
    return Dataset(
        x_train=_images(train),
        y_train=np.zeros(train, np.int64),
        x_test=_images(test, seed=1),
        y_test=np.zeros(test, np.int64),
        class_names=("a",),
        name="tiny",
    )


def _weights(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def _changed(before, model):
    pairs = zip(before, model.trainable_variables, strict=True)
    return [not np.array_equal(a, b.numpy()) for a, b in pairs]


# --- the lowres pairs ----------------------------------------------------------------------


def test_stacking_keeps_the_low_image_exactly():
    low, high = _images(3, side=7, seed=2), _images(3)
    stacked = lowres.stack(low, high, 4)
    assert stacked.shape == (3, S, S, 2)
    np.testing.assert_array_equal(lowres.low_of(stacked, 4), low)
    np.testing.assert_array_equal(lowres.high_of(stacked), high)
    # the tensors the train step slices give the same
    np.testing.assert_array_equal(lowres.low_of(tf.constant(stacked), 4).numpy(), low)


def test_pairs_are_the_images_shrunk_with_the_filter(tmp_path):
    cfg = LowresConfig(factor=4, filter="bicubic")
    pairs = lowres.make_pairs(_dataset(), cfg)
    assert pairs.train_low.shape == (8, 7, 7, 1) and pairs.test_low.shape == (4, 7, 7, 1)
    np.testing.assert_array_equal(pairs.test_high, _dataset().x_test)
    # a flat image stays flat at any size, whatever the filter
    flat = np.full((1, S, S, 1), 77, np.uint8)
    assert set(lowres.resample(flat, 7, "bicubic").ravel()) == {77}
    path = lowres.save_pairs(pairs, tmp_path / "pairs.npz")
    again = lowres.load_pairs(path)
    np.testing.assert_array_equal(again.train_low, pairs.train_low)
    assert again.lowres == cfg and again.dataset == "tiny"
    assert path.read_bytes() == lowres.save_pairs(pairs, tmp_path / "twice.npz").read_bytes()
    assert len(lowres.load_pairs(path, train=False).train_high) == 0


def test_a_factor_that_does_not_divide_the_side_names_a_divisor():
    with pytest.raises(ConfigError, match=r"lowres.factor \(5\) must divide.*e.g. 4"):
        lowres.make_pairs(_dataset(), LowresConfig(factor=5))


def test_damaged_or_foreign_pairs_name_the_stage_that_remakes_them(tmp_path):
    path = tmp_path / "pairs.npz"
    with pytest.raises(DataError, match="run `python -m pipeline lowres`"):
        lowres.load_pairs(path)
    path.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"corrupt.*dvc repro lowres"):
        lowres.load_pairs(path)
    pairs = lowres.make_pairs(_dataset(), LowresConfig(factor=2))
    with pytest.raises(DataError, match="remake it: `dvc repro lowres`"):
        lowres.check_pairs(pairs, _run())  # made at factor 2, params say 4


def test_the_bicubic_baseline_is_scored_like_the_model(monkeypatch):
    from pipeline.gans.inputs import UpscaleTask
    from pipeline.scoring.metrics import Context, compute_metrics

    pairs = lowres.make_pairs(_dataset(test=4), LowresConfig())
    task = UpscaleTask(_run(), pairs)
    bicubic = task.baseline_images(4)
    assert bicubic.shape == (4, S, S, 1) and bicubic.min() >= -1 and bicubic.max() <= 1

    reference = type("R", (), {"mu": np.zeros(3), "sigma": np.eye(3)})()
    context = Context(bicubic, None, reference, None, task=task, embedder=_MeanEmbedder())
    scores = compute_metrics(["upscale_baseline", "paired"], context)
    # scored as images, the bicubic upscale is its own baseline: the same psnr and ssim
    assert scores["bicubic_psnr"] == pytest.approx(scores["psnr"])
    assert scores["bicubic_ssim"] == pytest.approx(scores["ssim"])
    assert set(scores) >= {"bicubic_l1", "bicubic_fid"}


# --- the networks ----------------------------------------------------------------------------


def test_pixel_shuffle_is_depth_to_space():
    x = tf.reshape(tf.range(2 * 3 * 3 * 8, dtype=tf.float32), [2, 3, 3, 8])
    out = PixelShuffle(2)(x)
    assert out.shape == (2, 6, 6, 2)
    np.testing.assert_array_equal(out.numpy(), tf.nn.depth_to_space(x, 2).numpy())


@pytest.mark.parametrize("factor, upsamplers", [(2, 1), (4, 2)])
def test_srresnet_upscales_pictures_of_any_size(factor, upsamplers):
    generator = srgan.build_generator(_run({"factor": factor}, blocks=3), STACKED)
    assert generator.input_shape == (None, None, None, C)
    for h, w in ((7, 7), (5, 11)):
        out = generator(tf.zeros([2, h, w, C]), training=False)
        assert out.shape == (2, factor * h, factor * w, C) and out.dtype == tf.float32
    names = [layer.name for layer in generator.layers]
    assert sum(n.endswith("_shuffle") for n in names) == upsamplers
    assert sum(n.startswith("g_res") and n.endswith("_add") for n in names) == 3
    assert "g_long_skip" in names


def test_a_factor_that_is_not_a_power_of_two_is_refused():
    with pytest.raises(ConfigError, match="power of two"):
        srgan.build_generator(_run({"factor": 7}), (S, S, 2))


def test_the_discriminator_judges_the_image_not_the_low_input():
    run = _run()
    discriminator = srgan.build_discriminator(run, STACKED)
    assert discriminator.output_shape == (None, 1)
    rng = np.random.default_rng(0)
    pair = rng.uniform(-1, 1, (BATCH, *STACKED)).astype(np.float32)
    other = pair.copy()
    other[..., :C] = rng.uniform(-1, 1, other[..., :C].shape)  # another low input
    np.testing.assert_array_equal(
        discriminator(pair, training=False).numpy(), discriminator(other, training=False).numpy()
    )
    other[..., C:] *= -1  # another image
    assert not np.allclose(
        discriminator(pair, training=False), discriminator(other, training=False)
    )


# --- the train steps ---------------------------------------------------------------------------


def _batch(run, seed=1):
    rng = np.random.default_rng(seed)
    real = rng.uniform(-1, 1, (BATCH, run.train.k_steps, *STACKED)).astype(np.float32)
    noise = np.zeros((BATCH, run.train.k_steps + 1, run.train.latent_dim), np.float32)
    return {"real": tf.constant(real), "noise": tf.constant(noise)}


def test_pretraining_moves_the_generator_alone_on_the_pixel_mse():
    run = _run()
    gan = build_compiled_gan(run, STACKED, tf.distribute.get_strategy())
    gan.set_adversarial(False)
    batch = _batch(run)
    real = batch["real"][:, 0]
    fake = gan.generator(lowres.low_of(real, 4), training=True)
    expected = float(tf.reduce_mean(tf.square(fake - lowres.high_of(real))))
    d_before, g_before = _weights(gan.discriminator), _weights(gan.generator)
    values = gan.train_step(batch)
    assert float(values["g_content"]) == pytest.approx(expected, rel=1e-5)
    assert float(values["g_loss"]) == float(values["g_content"])
    assert float(values["d_loss"]) == 0.0 and float(values["g_adversarial"]) == 0.0
    assert not any(_changed(d_before, gan.discriminator))
    assert all(_changed(g_before, gan.generator))


def test_the_adversarial_phase_moves_both_and_weighs_content_against_the_adversary():
    run = _run(adversarial_weight=0.5)
    gan = build_compiled_gan(run, STACKED, tf.distribute.get_strategy())
    d_before, g_before = _weights(gan.discriminator), _weights(gan.generator)
    values = {k: float(v) for k, v in gan.train_step(_batch(run)).items()}
    assert values["g_loss"] == pytest.approx(values["g_content"] + 0.5 * values["g_adversarial"])
    assert values["d_loss"] > 0
    assert all(_changed(d_before, gan.discriminator))
    assert all(_changed(g_before, gan.generator))


def test_the_phases_are_pretraining_then_adversarial_and_need_some_steps():
    run = _run(pretrain_steps=5, gan_steps=7)
    plan = srgan.phases(run, STACKED)
    assert [(p.name, p.steps) for p in plan] == [("pretrain", 5), ("adversarial", 7)]
    assert [p.name for p in srgan.phases(_run(gan_steps=0), STACKED)] == ["pretrain"]
    with pytest.raises(ConfigError, match="nothing to train"):
        srgan.phases(_run(pretrain_steps=0, gan_steps=0), STACKED)


def test_feature_content_is_the_mse_of_the_evaluators_last_conv_block():
    from pipeline.scoring.evaluator import build_evaluator

    evaluator = build_evaluator((S, S, C), 10)
    features = srgan.content_features(evaluator)
    assert features.output_shape == (None, 7, 7, 128) and not features.trainable_weights
    gan = srgan.SRGAN(
        srgan.build_generator(_run(), STACKED),
        srgan.build_discriminator(_run(), STACKED),
        global_batch_size=BATCH,
        content="features",
        features=features,
    )
    real = _batch(_run())["real"][:, 0]
    fake = tf.random.uniform([BATCH, S, S, C], -1, 1, seed=3)
    expected = tf.reduce_mean(
        tf.square(features(fake) - features(lowres.high_of(real))), axis=[1, 2, 3]
    )
    np.testing.assert_allclose(gan._content(real, fake, "features"), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="needs the evaluator"):
        srgan.SRGAN(gan.generator, gan.discriminator, global_batch_size=BATCH, content="features")


# --- upscale ---------------------------------------------------------------------------------


def test_a_tiled_picture_equals_the_whole_one():
    from pipeline.stages.upscale import receptive_radius, upscale_factor, upscale_planes

    generator = srgan.build_generator(_run(blocks=2), STACKED)
    # 9x9 (4) + 2 blocks x 2 (4) + trunk (1) + upsamplers (1 + 1/2) + last 9x9 at 4x (1)
    assert receptive_radius(generator) == 12
    assert upscale_factor(generator) == 4
    picture = _images(1, side=30, seed=4)[:, :, :23]  # [1, 30, 23, 1], not square
    whole = upscale_planes(generator, picture, 4)
    tiled = upscale_planes(generator, picture, 4, tile=8)  # 4 x 3 tiles with margins
    assert whole.shape == tiled.shape == (1, 120, 92, 1)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_an_rgb_picture_goes_through_a_grey_model_channel_by_channel():
    from pipeline.stages.upscale import upscale_picture

    generator = srgan.build_generator(_run(blocks=1), STACKED)
    rgb = np.random.default_rng(5).integers(0, 256, (9, 6, 3), np.uint8)
    out = upscale_picture(generator, rgb)
    assert out.shape == (36, 24, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 1], upscale_picture(generator, rgb[..., 1]))


@pytest.fixture
def trained_srgan(tmp_path, monkeypatch):
    """tmp_path as a repository with an untrained srgan generator saved as trained."""
    import yaml

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(repo_params()))
    folder = tmp_path / "models" / "srgan"
    folder.mkdir(parents=True)
    srgan.build_generator(_run(blocks=1), STACKED).save(folder / "generator.keras")
    (folder / "run.json").write_text(json.dumps({}))
    return tmp_path


def test_upscale_writes_a_picture_four_times_larger(trained_srgan):
    from PIL import Image

    from pipeline.cli import main

    Image.fromarray(_images(1, side=13)[0, ..., 0]).save(trained_srgan / "small.png")
    assert main(["upscale", "--input", "small.png", "--out", "out/big.png"]) == 0
    assert Image.open(trained_srgan / "out" / "big.png").size == (52, 52)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--input", "empty.png"], r"cannot read empty.png as an image"),
        (["--input", "missing.png"], r"no such file"),
        (["--input", "small.png", "--model", "dcgan"], r"dcgan does not upscale pictures"),
        (["--input", "small.png", "--model", "srgann"], r"unknown model 'srgann'"),
    ],
)
def test_bad_upscale_input_is_one_line_and_a_non_zero_exit(trained_srgan, capsys, args, message):
    from PIL import Image

    from pipeline.cli import main

    (trained_srgan / "empty.png").write_bytes(b"")
    Image.fromarray(_images(1, side=5)[0, ..., 0]).save(trained_srgan / "small.png")
    assert main(["upscale", *args, "--out", "big.png"]) != 0
    line = one_line_error(capsys)
    assert re.search(message, line), line
    assert not (trained_srgan / "big.png").exists()


def test_samples_show_low_bicubic_generated_and_real_side_by_side():
    from pipeline.gans.inputs import UpscaleTask

    pairs = lowres.make_pairs(_dataset(test=5), LowresConfig())
    task = UpscaleTask(_run(), pairs)
    generator = srgan.build_generator(_run(blocks=1), STACKED)
    strips = task.strips(generator, np.arange(2))
    assert strips.shape == (2, S, 4 * S + 3, C)  # four tiles and three grey bars
    np.testing.assert_allclose(strips[:, :, -S:], task.real_images(2), atol=1e-6)
    bicubic = strips[:, :, S + 1 : 2 * S + 1]
    np.testing.assert_allclose(bicubic, task.baseline_images(2), atol=1e-6)
    np.testing.assert_allclose(
        strips[:, :, 2 * S + 2 : 3 * S + 2],
        np.round((task.images(generator, 2, seed=0) + 1) * 127.5) / 127.5 - 1,
        atol=1e-5,
    )
    assert task.picture(generator, 3, seed=0).ndim == 2  # a grey picture, 3 strips


class _MeanEmbedder:
    """Three features per image (its mean, spread and first pixel): enough to wire an FID."""

    def __call__(self, images):
        flat = np.asarray(images, np.float64).reshape(len(images), -1)
        features = np.stack([flat.mean(1), flat.std(1), flat[:, 0]], axis=1)
        return type("Embedding", (), {"features": features})()


@pytest.mark.parametrize("test_images, with_fid", [(3, False), (6, True)])
def test_the_lowres_stats_have_an_fid_only_when_the_test_split_can_give_one(
    monkeypatch, capsys, test_images, with_fid
):
    from pipeline.scoring.reference import Reference
    from pipeline.stages.lowres import baseline_stats

    reference = type("R", (), {"mu": np.zeros(3), "sigma": np.eye(3)})()
    monkeypatch.setattr(
        "pipeline.scoring.evaluator.load_embedder", lambda batch_size=500: _MeanEmbedder()
    )
    monkeypatch.setattr(Reference, "load", classmethod(lambda cls, path=None: reference))
    pairs = lowres.make_pairs(_dataset(test=test_images), LowresConfig())
    stats = baseline_stats(pairs, batch_size=10)
    assert stats["test_pairs"] == test_images and stats["bicubic_psnr"] > 0
    assert ("bicubic_fid" in stats) == with_fid and ("nearest_fid" in stats) == with_fid
    assert ("too few for an FID" in capsys.readouterr().err) != with_fid
