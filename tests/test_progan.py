"""ProGAN: the networks grow 7 -> 14 -> 28 px, a new block fades in without changing what
the networks compute at alpha 0, and the run ends with a fully grown generator made of
built-in layers."""

import copy
import csv
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from mlflow.tracking import MlflowClient

from pipeline.errors import ConfigError
from pipeline.gans.blocks.equalized import EqualizedConv2D, to_builtin
from pipeline.gans.blocks.progressive import FadeIn, scheduled_layers
from pipeline.gans.families import get_family, resolve_run
from pipeline.gans.families.progan import (
    build_discriminator_at,
    build_generator_at,
    grow,
    phases,
    sides,
)
from pipeline.training.build import build_compiled_gan
from pipeline.training.loop import train
from pipeline.training.phases import PhasePlan
from tests.helpers import set_params

SHAPE = (28, 28, 1)
TINY = {"stable_steps": 3, "fade_steps": 4, "filters": 8, "min_filters": 4, "batch_size": 8}


@pytest.fixture
def run(tiny_params):
    params = copy.deepcopy(tiny_params)
    params["models"]["progan"].update(TINY)
    return resolve_run(params, "progan")


def _set_alpha(*models, alpha: float) -> None:
    for model in models:
        for layer in scheduled_layers(model):
            layer.value.assign(alpha)


def test_sides_halve_while_even_and_at_least_four():
    assert sides((28, 28, 1)) == (7, 14, 28)
    assert sides((32, 32, 3)) == (4, 8, 16, 32)
    with pytest.raises(ConfigError, match="square images with an even side"):
        sides((27, 27, 1))


def test_the_phases_grow_through_every_resolution(run):
    plan = PhasePlan(phases(run, SHAPE), steps_per_epoch=5)
    assert [p.name for p in plan.phases] == ["7px", "fade-14px", "14px", "fade-28px", "28px"]
    assert plan.total_steps == 17  # 3 stable steps per resolution, 4 per fade-in
    assert plan.bounds(1) == (3, 7)  # phases end inside epochs of 5 steps
    # alpha ramps 0 -> 1 over each fade-in and holds 1 in the stable phase after it
    assert [plan.values_at(s)["alpha"] for s in (3, 5, 7, 10, 12)] == [0.0, 0.5, 1.0, 0.0, 0.5]


def test_every_phase_makes_and_judges_full_size_images(run):
    z = np.random.default_rng(0).normal(size=(4, run.train.latent_dim)).astype("float32")
    for level in range(3):
        for fading in (False, True) if level else (False,):
            generator = build_generator_at(run, SHAPE, level, fading)
            discriminator = build_discriminator_at(run, SHAPE, level, fading)
            images = generator(z)
            assert images.shape == (4, *SHAPE)
            assert discriminator(images).shape == (4, 1)
            has_fade = any(isinstance(layer, FadeIn) for layer in generator.layers)
            assert has_fade == fading


class _Pair:
    """What `grow` reads and rewrites: the two networks."""

    def __init__(self, generator, discriminator):
        self.generator, self.discriminator = generator, discriminator


def test_a_new_resolution_fades_in_without_changing_either_network_at_alpha_0(run):
    """At alpha 0 the grown networks compute what the smaller ones did (the weights carry
    over by name; nearest upsampling and average pooling compose exactly); at alpha 1 the
    fade-in network is the stable one of its resolution."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, run.train.latent_dim)).astype("float32")
    x = rng.uniform(-1, 1, size=(4, *SHAPE)).astype("float32")
    pair = _Pair(
        build_generator_at(run, SHAPE, 0, False), build_discriminator_at(run, SHAPE, 0, False)
    )
    before = pair.generator(z).numpy(), pair.discriminator(x).numpy()

    grow(run, pair, 1, fading=True)
    _set_alpha(pair.generator, pair.discriminator, alpha=0.0)
    np.testing.assert_allclose(pair.generator(z), before[0], atol=1e-6)
    np.testing.assert_allclose(pair.discriminator(x), before[1], rtol=1e-5, atol=1e-5)

    _set_alpha(pair.generator, pair.discriminator, alpha=1.0)
    faded = pair.generator(z).numpy(), pair.discriminator(x).numpy()
    assert np.abs(faded[0] - before[0]).max() > 1e-3  # the new block is in use
    grow(run, pair, 1, fading=False)
    np.testing.assert_allclose(pair.generator(z), faded[0], atol=1e-6)
    np.testing.assert_allclose(pair.discriminator(x), faded[1], rtol=1e-5, atol=1e-5)


def _blocks(x: np.ndarray, side: int) -> np.ndarray:
    """x [B, H, W, C] with each side x side block replaced by its mean."""
    b, h, w, c = x.shape
    means = x.reshape(b, h // side, side, w // side, side, c).mean(axis=(2, 4))
    return np.repeat(np.repeat(means, side, axis=1), side, axis=2)


@pytest.mark.parametrize("level, coarse_side", [(1, 4), (2, 2)])
def test_in_a_fade_in_the_reals_fade_from_the_side_below(run, level, coarse_side):
    """Fading in 14 px (level 1), D sees at alpha 0 the reals' 7 px copy (4x4 blocks of the
    28 px image), at alpha 1 the reals themselves, the blend between; outside a fade-in,
    and with fade_reals off, the reals as they come."""
    x = np.random.default_rng(3).uniform(-1, 1, size=(4, 2, *SHAPE)).astype("float32")
    gan = build_compiled_gan(run, SHAPE, tf.distribute.get_strategy(), schedules=("alpha",))
    grow(run, gan, level, fading=True)
    coarse = _blocks(x.reshape(8, *SHAPE), coarse_side).reshape(x.shape)
    for alpha in (0.0, 0.25, 1.0):
        gan.schedule["alpha"].assign(alpha)
        seen = gan._present_reals(tf.constant(x)).numpy()
        np.testing.assert_allclose(seen, coarse + alpha * (x - coarse), atol=1e-6)
    grow(run, gan, level, fading=False)
    np.testing.assert_array_equal(gan._present_reals(tf.constant(x)).numpy(), x)
    grow(run, gan, level, fading=True)
    gan.fade_reals = False
    np.testing.assert_array_equal(gan._present_reals(tf.constant(x)).numpy(), x)


def test_a_run_grows_logs_its_phases_and_keeps_a_fully_grown_generator(run, tiny_images, tmp_path):
    result = train(run, tiny_images, checkpoint_dir=tmp_path, progress=False)
    assert result.steps == 17
    # a logged point closes every phase, named after it, with alpha's mean over its steps
    ends = {row["phase"]: row for row in result.history}
    assert list(ends) == ["7px", "fade-14px", "14px", "fade-28px", "28px"]
    assert [ends[name]["step"] for name in ends] == [3, 7, 10, 14, 17]
    assert ends["7px"]["alpha"] == 0.0 and ends["14px"]["alpha"] == 1.0
    generator = result.generator  # the averaged one: params.yaml turns train.ema on
    assert generator is not result.gan.generator
    assert not any(isinstance(layer, FadeIn) for layer in generator.layers)
    assert any(layer.name == "g_block2_conv2" for layer in generator.layers)  # 28px block
    # fresh optimizers at the last phase: 3 steps since
    assert int(result.gan.g_optimizer.iterations.numpy()) == 3

    z = np.random.default_rng(2).normal(size=(3, run.train.latent_dim)).astype("float32")
    plain = to_builtin(generator)
    assert not any(isinstance(layer, EqualizedConv2D) for layer in plain.layers)
    np.testing.assert_allclose(plain(z), generator(z), atol=1e-5)


@pytest.mark.slow
def test_train_writes_phase_rows_per_phase_pictures_and_a_loadable_generator(
    scored_repo, mlflow_store
):
    from pipeline.cli import main

    repo = scored_repo
    set_params(repo, "models", progan={**TINY, "ema": 0.9, "minibatch_std": 2})
    set_params(repo, "train", models={"progan": "data/raw/dataset.npz"}, fid_every=1)
    assert main(["--no-progress", "train", "--model", "progan"]) == 0

    out = repo / "models" / "progan"
    with open(out / "fid.csv") as handle:
        rows = list(csv.DictReader(handle))
    # a FID at each phase's end (and each epoch's): where every phase starts is on record
    assert {"fade-14px", "14px", "fade-28px", "28px"} <= {row["phase"] for row in rows}
    assert all(float(row["fid2k"]) > 0 for row in rows)
    generator = keras.saving.load_model(out / "generator.keras", safe_mode=True)
    assert generator.output.shape[1:] == SHAPE
    assert all(type(layer).__module__.startswith("keras") for layer in generator.layers)

    run_id = json.loads((out / "run.json").read_text())["mlflow_run_id"]
    client = MlflowClient(mlflow_store)
    pictures = {a.path for a in client.list_artifacts(run_id, "samples")}
    assert "samples/phase_2_fade-14px.png" in pictures
    assert "samples/phase_5_28px.png" in pictures
    phase_points = [m.value for m in client.get_metric_history(run_id, "phase")]
    assert phase_points == [1.0, 2.0, 3.0, 4.0]
    alpha = {m.step: m.value for m in client.get_metric_history(run_id, "alpha")}
    assert [alpha[s] for s in (4, 5, 7, 8)] == [0.0, 0.25, 0.75, 1.0]  # logged every step
    params = client.get_run(run_id).data.params
    assert params["stabilizers"] == "minibatch_std(2)"
    assert params["objective"] == get_family("progan").objective(params["train.loss"])


def test_two_devices_grow_and_train_like_one(tiny_params, tiny_images, tmp_path):
    """Under MirroredStrategy the phases rebuild mirrored networks and optimizers, the
    fade-in's alpha reaches every replica, and minibatch std's groups (4 consecutive
    images) are the same on each replica's half as on one device."""
    import tensorflow as tf

    from pipeline.training.distribute import make_strategy

    params = copy.deepcopy(tiny_params)
    # the paper's lr, not the CPU default's 1e-2: the bounds below are in lr-sized steps;
    # a group of 4 fits each replica's 4 images (the default 16 would be cut to the gcd,
    # 8 on one device and 4 on each of two: a different statistic, not a distribution bug)
    params["models"]["progan"].update(TINY, lr=1e-3, minibatch_std=4)
    run = resolve_run(params, "progan")

    results = [
        train(run, tiny_images, checkpoint_dir=tmp_path / name, strategy=strategy, progress=False)
        for name, strategy in (
            ("one", tf.distribute.get_strategy()),
            ("two", make_strategy("mirrored")),
        )
    ]
    keys = ("d_loss", "g_loss", "d_real", "d_fake", "alpha")
    one, two = (np.array([[row[k] for k in keys] for row in r.history]) for r in results)
    # 17 steps at ProGAN's lr 1e-3 and beta1 0 (Adam without momentum passes every
    # rounding difference straight into the weights): looser than test_distribute's 3
    # steps at 2e-4, still far below what a per-replica statistic or loss would change.
    np.testing.assert_allclose(one, two, rtol=1e-3, atol=1e-5)
    # Adam turns a rounding-level gradient into an lr-sized step (test_distribute.py), so a
    # few weights may differ by up to 17 such steps; nearly all agree to 2e-3 (equalized
    # weights are N(0, 1), a replica-local statistic would move them all by lr per step).
    pairs = zip(*([v.numpy() for v in r.generator.weights] for r in results), strict=True)
    differences = np.concatenate([np.abs(a - b).ravel() for a, b in pairs])
    assert differences.max() <= 2 * 17 * run.train.lr
    assert np.mean(differences <= 2e-3) > 0.99
