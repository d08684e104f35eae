"""StackGAN: captions and their vocabulary check, the two stages' shapes, conditioning
augmentation's KL, the Stage-II phase training Stage II alone, the deterministic caption
draw, the stage1 scores and `sample --text`."""

import copy
import math
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline.cli import main
from pipeline.data.captions import load_captions, pad, tokenize
from pipeline.data.loader import penalty_draws
from pipeline.errors import ConfigError, DataError
from pipeline.gans.captioned import CaptionedTask
from pipeline.gans.families import resolve_run
from pipeline.gans.families.stackgan import (
    STAGE1,
    STAGE2,
    TEXT_ENCODER,
    enter_stage2,
    kl_divergence,
    phases,
)
from pipeline.images import grid
from pipeline.scoring.metrics import Context, get_metric
from pipeline.training.build import build_compiled_gan, fresh_optimizers
from pipeline.training.phases import PhasePlan
from tests.helpers import CLASS_NAMES, one_line_error, set_params, tiny_labels

SHAPE = (28, 28, 1)
K = len(CLASS_NAMES)
TINY = {"stage1_steps": 3, "stage2_steps": 2, "filters": 8, "text_dim": 8, "ca_dim": 4}


@pytest.fixture
def run(tiny_params):
    params = copy.deepcopy(tiny_params)
    params["models"]["stackgan"].update(TINY)
    return resolve_run(params, "stackgan")


@pytest.fixture(scope="module")
def captions():
    return load_captions("fashion_mnist")


def _gan(run):
    return build_compiled_gan(run, SHAPE, tf.distribute.get_strategy(), num_classes=K)


def _to_stage2(run, gan):
    """What the trainer does when the stage2 phase begins."""
    before = {
        "generator": {id(v) for v in gan.generator.trainable_variables},
        "discriminator": {id(v) for v in gan.discriminator.trainable_variables},
    }
    enter_stage2(run, gan, SHAPE)
    fresh_optimizers(gan, run, before)


def _inputs(captions, count=4, seed=0):
    noise = np.random.default_rng(seed).standard_normal((count, 100)).astype(np.float32)
    return noise, captions.tokens[np.arange(count) * 4]  # classes 0..count-1, first phrasing


def _batch(seed=1, count=8):
    rng = np.random.default_rng(seed)
    return {
        "real": tf.constant(rng.uniform(-1, 1, (count, 1, *SHAPE)).astype(np.float32)),
        "noise": tf.constant(rng.standard_normal((count, 2, 100)).astype(np.float32)),
        "labels": tf.constant(rng.integers(0, K, (count, 1)).astype(np.int32)),
        "caption": tf.constant(rng.uniform(0, 1, (count, 1)).astype(np.float32)),
        "mismatch": tf.constant(rng.uniform(0, 1, (count, 1)).astype(np.float32)),
    }


# --- captions ------------------------------------------------------------------------------


def test_captions_are_hand_written_per_class_with_a_vocabulary(captions):
    assert captions.class_names[7] == "Sneaker" and "a pair of sneakers" in captions.phrasings[7]
    assert all(len(p) >= 3 for p in captions.phrasings)  # a few phrasings per class
    assert tokenize("A short-sleeved T-shirt!") == ["a", "short", "sleeved", "t", "shirt"]
    assert list(captions.vocabulary) == sorted(set(captions.vocabulary))
    # every caption is its words' ids, padded with 0; its class is its block's
    first = captions.first[7]
    ids = captions.encode("a pair of sneakers")
    np.testing.assert_array_equal(captions.tokens[first, : len(ids)], ids)
    assert (captions.tokens[first, len(ids) :] == 0).all()
    assert captions.caption_class[first] == 7 and captions.caption_class[first - 1] == 6
    # a new sentence of known words, in any order, is fine
    assert len(captions.encode("sneakers with a heel")) == 4


def test_an_unknown_word_is_one_line_naming_the_nearest_words(captions):
    with pytest.raises(ConfigError) as error:
        captions.encode("a pair of sneekers and a hat")
    text = str(error.value)
    assert "\n" not in text
    assert "'sneekers': sneakers" in text and "'hat'" in text and "'and'" in text
    assert "captions.yaml" in text
    with pytest.raises(ConfigError, match="has no words"):
        captions.encode("  ?! ")


def test_another_dataset_gets_its_class_names_in_the_default_templates(captions):
    other = load_captions("folder:shapes", ("circle", "Square_Box"))
    assert other.phrasings[1] == (
        "a square box",
        "a picture of a square box",
        "an image of a square box",
    )
    assert (
        other.encode("a picture of a circle") and other.caption_class.tolist() == [0] * 3 + [1] * 3
    )
    # without class names (an unlabelled dataset) there is nothing to caption
    with pytest.raises(ConfigError, match=r"stackgan needs captions for data\.dataset 'mnist'"):
        load_captions("mnist")
    with pytest.raises(DataError, match="fix the file's `class` entries"):
        captions.check_classes(CLASS_NAMES)
    captions.check_classes(captions.class_names)


def test_the_caption_draw_picks_a_phrasing_of_the_class_deterministically(run, captions):
    gan = _gan(run)
    classes = tf.constant([[7], [7], [7], [0]], tf.int32)
    draws = tf.constant([[0.0], [0.3], [0.999], [0.5]], tf.float32)
    numbers = gan.caption_numbers(classes, draws).numpy()[:, 0]
    first = captions.first
    # phrasing floor(u * 4) of 4 phrasings
    np.testing.assert_array_equal(numbers, [first[7], first[7] + 1, first[7] + 3, first[0] + 2])
    assert (captions.caption_class[numbers] == [7, 7, 7, 0]).all()
    # the draw itself is keyed on (seed, step): a resumed run draws the same
    one = penalty_draws(("caption",), 7, tf.constant(5, tf.int64), (8, 1))["caption"]
    again = penalty_draws(("caption",), 7, tf.constant(5, tf.int64), (8, 1))["caption"]
    other = penalty_draws(("caption",), 7, tf.constant(6, tf.int64), (8, 1))["caption"]
    np.testing.assert_array_equal(one, again)
    assert not np.array_equal(one, other)
    assert "caption" in gan.draws


# --- the networks ----------------------------------------------------------------------------


def test_the_phases_are_stage1_then_stage2(run):
    plan = PhasePlan(phases(run, SHAPE), steps_per_epoch=4)
    assert [p.name for p in plan.phases] == ["stage1", "stage2"]
    assert plan.total_steps == 5 and plan.bounds(1) == (3, 5)


def test_stage1_draws_14px_upsampled_and_stage2_draws_28px(run, captions):
    gan = _gan(run)
    noise, tokens = _inputs(captions)
    g = gan.generator
    rough = g.get_layer(STAGE1)(
        [noise, np.asarray(g.get_layer(TEXT_ENCODER)(tokens))], training=False
    )
    assert rough.shape == (4, 14, 14, 1)
    image = g([noise, tokens], training=False).numpy()
    assert image.shape == (4, 28, 28, 1)
    np.testing.assert_allclose(image, np.asarray(rough).repeat(2, 1).repeat(2, 2), atol=1e-6)
    assert gan.discriminator([image, tokens], training=False).shape == (4, 1)

    _to_stage2(run, gan)
    g = gan.generator
    assert {TEXT_ENCODER, STAGE1, STAGE2} <= {layer.name for layer in g.layers}
    final = g([noise, tokens], training=False).numpy()
    assert final.shape == (4, 28, 28, 1) and np.abs(final).max() <= 1.0
    # Stage II starts as Stage I upsampled (its correction is 0 until it trains)
    np.testing.assert_allclose(final, np.clip(image, -0.999, 0.999), atol=1e-5)
    assert gan.discriminator([final, tokens], training=False).shape == (4, 1)
    # Stage I is the same network, unchanged by the new phase
    again = g.get_layer(STAGE1)(
        [noise, np.asarray(g.get_layer(TEXT_ENCODER)(tokens))], training=False
    )
    np.testing.assert_allclose(again, rough, atol=1e-6)


def test_the_caption_reaches_both_stages_and_both_discriminators(run, captions):
    gan = _gan(run)
    _to_stage2(run, gan)
    noise, _ = _inputs(captions, count=1)
    noise = np.repeat(noise, 2, axis=0)
    tokens = pad([captions.encode("a pair of trousers"), captions.encode("a handbag")])
    images = gan.generator([noise, tokens], training=False).numpy()
    assert np.abs(images[0] - images[1]).mean() > 1e-4, "the caption does not reach G"
    verdict = gan.discriminator([images[:1].repeat(2, 0), tokens], training=False).numpy()
    assert abs(verdict[0, 0] - verdict[1, 0]) > 1e-6, "the caption does not reach D"


def test_kl_of_conditioning_augmentation_is_the_analytic_value():
    # per dimension: (mu^2 + sigma^2 - 1) / 2 - log sigma
    mu = tf.constant([[1.0, 0.0], [0.0, 0.0]])
    log_sigma = tf.constant([[0.0, math.log(2.0)], [0.0, 0.0]])
    expected = [(0.5 + (1.5 - math.log(2.0))) / 2, 0.0]
    np.testing.assert_allclose(kl_divergence(mu, log_sigma).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("stage", [STAGE1, STAGE2])
def test_the_kl_term_reads_the_trained_stages_ca_and_joins_g_loss(run, stage):
    gan = _gan(run)
    if stage == STAGE2:
        _to_stage2(run, gan)
    trained = gan.generator.get_layer(stage)
    for name, bias in (("ca_mu", 1.0), ("ca_log_sigma", math.log(2.0))):
        layer = trained.get_layer(name)
        layer.kernel.assign(tf.zeros_like(layer.kernel))
        layer.bias.assign(tf.fill(layer.bias.shape, bias))
    # mu = 1, sigma = 2 in every dimension: (1 + 4 - 1) / 2 - log 2
    kl = gan.kl(tf.constant([0, 5, 39])).numpy()
    np.testing.assert_allclose(kl, 2.0 - math.log(2.0), rtol=1e-5)
    out = gan.train_step(_batch())
    assert float(out["kl"]) == pytest.approx(2.0 - math.log(2.0), rel=1e-4)


def test_a_wrong_caption_is_of_another_class_and_every_other_class_is_drawn(run, captions):
    gan = _gan(run)
    numbers = captions.first[np.repeat(np.arange(K), 50)]  # each class's first phrasing
    u = np.tile(np.linspace(0, 0.999, 50), K).astype(np.float32)
    draws = {"mismatch": tf.constant(u), "caption": tf.constant(u)}
    wrong = gan.wrong_captions(tf.constant(numbers), draws).numpy()
    right_class, wrong_class = captions.caption_class[numbers], captions.caption_class[wrong]
    assert (wrong_class != right_class).all()
    for k in range(K):  # the draw reaches each of the K - 1 other classes
        assert set(wrong_class[right_class == k]) == set(range(K)) - {k}
    assert {"mismatch", "caption"} <= set(gan.draws)


def test_the_matching_aware_d_judges_real_images_with_wrong_captions(run, captions):
    """D's third chunk is the real images again, with captions of other classes; its
    loss is the real term + (1 - w) x the fakes' + w x the mismatched pairs'."""
    gan = _gan(run)
    judged = {}

    def discriminate(images, numbers):  # D's score: the caption's number, per image
        judged["images"], judged["numbers"] = images, numbers
        return tf.cast(numbers, tf.float32)[:, None] / 10.0

    gan._discriminate = discriminate
    batch = _batch(seed=5, count=6)
    real, numbers = batch["real"][:, 0], tf.constant(captions.first[[0, 1, 2, 3, 4, 5]])
    draws = {"mismatch": batch["mismatch"][:, 0], "caption": batch["caption"][:, 0]}
    fake = tf.zeros_like(real)
    real_out, fake_out = gan._judge(real, numbers, fake, draws)
    images, judged_numbers = judged["images"].numpy(), judged["numbers"].numpy()
    np.testing.assert_array_equal(images[12:], real.numpy())  # real, fake, real
    np.testing.assert_array_equal(images[6:12], fake.numpy())
    wrong = judged_numbers[12:]
    assert (captions.caption_class[wrong] != captions.caption_class[numbers.numpy()]).all()
    r, f, m = (t.numpy()[:, 0] for t in (real_out.matched, fake_out, real_out.mismatched))
    np.testing.assert_array_equal(m * 10, wrong)

    def softplus(x):
        return np.log1p(np.exp(x))

    report = gan._discriminator_objective(real_out, fake_out, numbers)
    w, global_batch = run.family.mismatch_weight, gan.global_batch_size  # the means' divisor
    expected = np.sum(softplus(-r) + (1 - w) * softplus(f) + w * softplus(m)) / global_batch
    assert float(report["d_loss"]) == pytest.approx(expected, rel=1e-5)
    sigmoid = 1 / (1 + np.exp(-m))
    assert float(report["d_mismatch"]) == pytest.approx(sigmoid.sum() / global_batch, rel=1e-5)


def test_the_matching_aware_term_off_draws_and_logs_nothing_of_it(tiny_params):
    params = copy.deepcopy(tiny_params)
    params["models"]["stackgan"].update({**TINY, "mismatch_weight": 0.0})
    off = _gan(resolve_run(params, "stackgan"))
    assert "mismatch" not in off.draws and "d_mismatch" not in off.metric_names
    out = off.train_step(_batch())
    assert set(out) == {"d_loss", "g_loss", "d_real", "d_fake", "kl"}
    params["models"]["stackgan"]["mismatch_weight"] = 0.5
    on = _gan(resolve_run(params, "stackgan"))
    out = on.train_step(_batch())
    assert set(out) == {"d_loss", "g_loss", "d_real", "d_fake", "d_mismatch", "kl"}
    assert 0.0 < float(out["d_mismatch"]) < 1.0


def test_the_stage2_phase_trains_stage2_and_d2_only(run):
    gan = _gan(run)
    gan.train_step(_batch(seed=2))  # Stage I trains in its phase
    _to_stage2(run, gan)
    g = gan.generator
    frozen = g.get_layer(TEXT_ENCODER).weights + g.get_layer(STAGE1).weights  # BN stats too
    trained = g.get_layer(STAGE2).trainable_weights + gan.discriminator.trainable_weights
    assert {id(v) for v in g.trainable_weights} == {
        id(v) for v in g.get_layer(STAGE2).trainable_weights
    }
    frozen_before = [v.numpy().copy() for v in frozen]
    trained_before = [v.numpy().copy() for v in trained]
    for seed in (3, 4):  # two steps: the first moves Stage II's last conv off 0
        out = gan.train_step(_batch(seed=seed))
        assert all(np.isfinite(float(v)) for v in out.values())
    for before, v in zip(frozen_before, frozen, strict=True):
        np.testing.assert_array_equal(before, v.numpy(), err_msg=f"{v.path} moved")
    for before, v in zip(trained_before, trained, strict=True):
        assert not np.array_equal(before, v.numpy()), f"{v.path} did not move"


def test_both_stages_train_under_mixed_bfloat16_with_float32_images(tiny_params, captions):
    """`train.precision: auto` picks mixed_bfloat16 on CPUs with AVX512_BF16 or AMX: the
    image each stage draws stays float32 (D concatenates it with the real images), and
    Stage II adds its correction to Stage I's image in float32 too."""
    from pipeline.training.distribute import precision_policy

    params = copy.deepcopy(tiny_params)
    params["models"]["stackgan"].update(TINY)
    params["train"]["precision"] = "mixed_bfloat16"
    run = resolve_run(params, "stackgan")
    with precision_policy("mixed_bfloat16"):
        gan = _gan(run)
        assert gan.generator(_inputs(captions)).dtype == tf.float32
        assert all(np.isfinite(float(v)) for v in gan.train_step(_batch(seed=2)).values())
        _to_stage2(run, gan)
        assert gan.generator.get_layer(STAGE2).get_layer("g2_refined").compute_dtype == "float32"
        assert gan.generator(_inputs(captions)).dtype == tf.float32
        assert all(np.isfinite(float(v)) for v in gan.train_step(_batch(seed=3)).values())


def test_generator_keras_loads_with_plain_keras_and_keeps_stage1_by_name(run, captions, tmp_path):
    gan = _gan(run)
    _to_stage2(run, gan)
    gan.generator.save(tmp_path / "generator.keras")
    loaded = keras.saving.load_model(tmp_path / "generator.keras")
    noise, tokens = _inputs(captions)
    np.testing.assert_allclose(
        loaded([noise, tokens], training=False), gan.generator([noise, tokens], training=False)
    )
    assert loaded.get_layer(STAGE1).output.shape[1:] == (14, 14, 1)
    assert loaded.inputs[1].dtype == "int32"


# --- the task and the scores -----------------------------------------------------------------


def _task(run, captions):
    return CaptionedTask(run, tiny_labels(run, 40), captions)


def test_the_preview_puts_stage1_above_stage2_for_each_class(run, captions):
    gan = _gan(run)
    task = _task(run, captions)
    side = run.train.sample_grid  # 2 columns
    one_row = task.preview(gan.generator)
    assert one_row.shape[0] == K * 30 + 2  # before Stage II: a row per class
    _to_stage2(run, gan)
    picture = task.preview(gan.generator)
    assert picture.shape[:2] == (2 * K * 30 + 2, side * 30 + 2)
    # the top-left tile is class 0's Stage-I image (upsampled), the one below its Stage II
    expected = grid(task._draw_stage1(gan.generator, *_preview_inputs(run, task)), columns=1)
    tile = picture[2:30, 2:30].astype(int)
    assert np.abs(tile - expected[2:30, 2:30]).max() <= 1  # uint8 rounding
    final = grid(task._draw(gan.generator, *_preview_inputs(run, task)), columns=1)
    assert np.abs(picture[32:60, 2:30].astype(int) - final[2:30, 2:30]).max() <= 1


def _preview_inputs(run, task):
    from pipeline.data.loader import fixed_latents

    noise = fixed_latents(run.train.sample_grid, run.train.latent_dim, run.train.seed)
    return noise[:1], task.tokens_of(task.captions.first[:1])


def test_images_ask_for_balanced_classes_through_their_captions(run, captions):
    task = _task(run, captions)
    requested = task.requested_labels(25)
    numbers = task.caption_numbers(requested)
    np.testing.assert_array_equal(captions.caption_class[numbers], requested)
    assert len(set(numbers[:20])) == 20  # the second round takes each class's next phrasing


class _FakeEmbedder:
    """Features: the mean of each image's 2x2 blocks' pixels, 4 numbers; class: argmax."""

    def __init__(self):
        self.seen = []

    def __call__(self, images):
        self.seen.append(images)
        n = len(images)
        features = images.reshape(n, 4, 7, 4, 7).mean(axis=(2, 4)).reshape(n, 16)
        probabilities = np.full((n, K), 1.0 / K, np.float32)
        return SimpleNamespace(features=features, probabilities=probabilities, classes=True)


def test_the_stage1_metric_scores_stage1_upsampled(run, captions):
    gan = _gan(run)
    _to_stage2(run, gan)
    task = _task(run, captions)
    embedder = _FakeEmbedder()
    real = np.random.default_rng(0).standard_normal((60, 16))
    reference = SimpleNamespace(features=real, mu=real.mean(0), sigma=np.cov(real, rowvar=False))
    cfg = SimpleNamespace(seed=0, batch_size=25, pr_k=3)
    images = task.images(gan.generator, 50, seed=0)
    context = Context(images, None, reference, cfg, task, None, gan.generator, embedder)
    scores = get_metric("stage1").compute(context)
    assert set(scores) == {
        "stage1_fid",
        "stage1_precision",
        "stage1_recall",
        "stage1_conditional_accuracy",
    }
    assert all(np.isfinite(v) for v in scores.values())
    drawn = embedder.seen[0]
    assert drawn.shape == (50, 28, 28, 1)
    np.testing.assert_array_equal(drawn[:, ::2, ::2], drawn[:, 1::2, 1::2])  # upsampled 14 px
    np.testing.assert_allclose(drawn, task.stage1_images(gan.generator, 50, seed=0), atol=1e-5)


# --- sample --text ---------------------------------------------------------------------------


@pytest.fixture
def captioned_repo(tiny_repo):
    """tiny_repo with a small fake Fashion-MNIST (its class names, random pixels) and a
    stackgan trained on it."""
    from pipeline.data.registry import FASHION_MNIST_CLASSES
    from pipeline.data.store import Dataset, save_dataset

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (80, 28, 28, 1), dtype=np.uint8)
    y = np.arange(80, dtype=np.int64) % K
    dataset = Dataset("fashion_mnist", x, y, x[:20], y[:20], FASHION_MNIST_CLASSES)
    save_dataset(dataset, tiny_repo / "data/raw/dataset.npz", {"dataset": "fashion_mnist",
                                                               "image_size": None})  # fmt: skip
    set_params(tiny_repo, "data", dataset="fashion_mnist", image_size=None)
    set_params(tiny_repo, "models", stackgan=TINY)
    assert main(["--no-progress", "train", "--model", "stackgan"]) == 0
    return tiny_repo


def test_sample_text_draws_the_sentence(captioned_repo, capsys):
    from PIL import Image

    out = captioned_repo / "boots.png"
    args = ["sample", "--model", "stackgan", "--columns", "2", "--out", str(out)]
    assert main([*args, "-n", "4", "--text", "A winter boot with a heel"]) == 0
    first = np.asarray(Image.open(out))
    assert main([*args, "-n", "4", "--text", "a winter boot with a heel"]) == 0
    np.testing.assert_array_equal(first, np.asarray(Image.open(out)))  # case does not matter
    assert main([*args, "-n", "4", "--text", "a pair of trousers"]) == 0
    assert not np.array_equal(first, np.asarray(Image.open(out)))

    assert main([*args, "--text", "a pair of sneekers"]) == 2
    line = one_line_error(capsys)
    assert "unknown word" in line and "'sneekers': sneakers" in line
    assert main([*args, "--text", ""]) == 2
    assert "has no words" in one_line_error(capsys)
    assert main([*args, "--text", "a handbag", "--label", "bag"]) == 2
    assert "not both" in one_line_error(capsys)


def test_sample_text_needs_a_captioned_model(tiny_repo, capsys):
    assert main(["--no-progress", "train", "--model", "gan"]) == 0
    out = tiny_repo / "x.png"
    assert main(["sample", "--model", "gan", "--text", "a handbag", "--out", str(out)]) == 2
    assert "--text needs a captioned model (stackgan)" in one_line_error(capsys)
    assert not out.exists()
