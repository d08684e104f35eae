"""cgan, sgan and catgan: conditioning, the losses by hand, labels, the scores."""

import copy

import numpy as np
import pytest
import tensorflow as tf

from pipeline.data.labels import HIDDEN, LabelPlan, class_index, labelled_subset, training_labels
from pipeline.errors import ConfigError, DataError
from pipeline.gans.families import resolve_run
from pipeline.gans.families.catgan import entropy_terms
from pipeline.gans.losses import entropy, real_fake_logit, supervised_loss
from pipeline.scoring.metrics.labels import accuracy, clustering_accuracy, conditional_scores
from pipeline.training.build import build_compiled_gan
from tests.helpers import CLASS_NAMES, TINY_LABELS

K = len(CLASS_NAMES)


def _run(tiny_params, model, **family):
    params = copy.deepcopy(tiny_params)
    params["models"][model] = {**params["models"].get(model, {}), **family}
    return resolve_run(params, model)


def _gan(run):
    return build_compiled_gan(run, (28, 28, 1), tf.distribute.get_strategy(), num_classes=K)


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _entropy(p):
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), axis=-1)


# --- cgan ------------------------------------------------------------------------------


@pytest.mark.parametrize("label_input", ["onehot", "embedding"])
@pytest.mark.parametrize("projection", [True, False])
def test_cgan_same_latent_two_labels_gives_two_images(tiny_params, label_input, projection):
    gan = _gan(_run(tiny_params, "cgan", label_input=label_input, projection=projection))
    z = np.random.default_rng(0).standard_normal((1, 100)).astype(np.float32)
    z = np.repeat(z, 2, axis=0)
    images = gan.generator([z, np.array([3, 7], np.int32)], training=False).numpy()
    assert images.shape == (2, 28, 28, 1)
    assert np.abs(images[0] - images[1]).mean() > 1e-4, "the label does not reach G"
    again = gan.generator([z, np.array([3, 3], np.int32)], training=False).numpy()
    np.testing.assert_allclose(again[0], again[1], atol=1e-6)
    # and D's verdict on one image depends on the label it is paired with
    logits = gan.discriminator([images[:1].repeat(2, 0), np.array([3, 7])], training=False)
    assert logits.shape == (2, 1) and abs(float(logits[0, 0] - logits[1, 0])) > 1e-6


def test_cgan_train_step_moves_both_networks_given_labels(tiny_params):
    run = _run(tiny_params, "cgan")
    gan = _gan(run)
    rng = np.random.default_rng(1)
    real = tf.constant(rng.uniform(-1, 1, (8, 1, 28, 28, 1)).astype(np.float32))
    noise = tf.constant(rng.standard_normal((8, 2, 100)).astype(np.float32))
    labels = tf.constant(rng.integers(0, K, (8, 1)).astype(np.int32))
    networks = (gan.generator, gan.discriminator)
    before = [[v.numpy().copy() for v in net.trainable_variables] for net in networks]
    out = gan.train_step((real, noise, labels))
    assert all(np.isfinite(float(v)) for v in out.values())
    for old, net in zip(before, networks, strict=True):
        for b, v in zip(old, net.trainable_variables, strict=True):
            assert not np.array_equal(b, v.numpy()), f"{v.path} did not move"


# --- sgan -------------------------------------------------------------------------------


def test_real_fake_logit_is_the_log_odds_of_the_k_classes():
    logits = np.array([[1.0, 2.0, 0.5, -1.0], [0.0, 0.0, 0.0, 3.0]], np.float32)
    p = _softmax(logits.astype(np.float64))
    p_real = p[:, :-1].sum(axis=1)
    np.testing.assert_allclose(
        real_fake_logit(logits).numpy(), np.log(p_real / (1 - p_real)), rtol=1e-5
    )


def test_supervised_loss_counts_only_labelled_examples(tiny_params):
    gan = _gan(_run(tiny_params, "sgan"))
    rng = np.random.default_rng(2)
    # 8 rows: the tiny global batch, which every loss here is averaged over
    real_logits = rng.normal(0, 2, (8, K + 1)).astype(np.float32)
    fake_logits = rng.normal(0, 2, (8, K + 1)).astype(np.float32)
    features = np.zeros((8, 4), np.float32)
    real_out, fake_out = (real_logits, features), (fake_logits, features)

    none = np.full(8, HIDDEN, np.int32)
    report = gan._discriminator_objective(real_out, fake_out, tf.constant(none))
    assert float(report["d_supervised"]) == 0.0
    np.testing.assert_allclose(float(report["d_loss"]), float(report["d_unsupervised"]))

    labels = np.array([4, HIDDEN, 0, HIDDEN, HIDDEN, 9, HIDDEN, HIDDEN], np.int32)
    report = gan._discriminator_objective(real_out, fake_out, tf.constant(labels))
    p = _softmax(real_logits[:, :K].astype(np.float64))  # over the K real classes only
    rows = np.flatnonzero(labels >= 0)
    expected = -np.mean(np.log(p[rows, labels[rows]]))
    np.testing.assert_allclose(float(report["d_supervised"]), expected, rtol=1e-5)
    # the unsupervised part: -log P(real|x) on reals, -log P(fake|G(z)) on fakes, batch means
    p_real = _softmax(real_logits.astype(np.float64))
    p_fake = _softmax(fake_logits.astype(np.float64))
    unsupervised = -np.mean(np.log(1 - p_real[:, -1])) - np.mean(np.log(p_fake[:, -1]))
    np.testing.assert_allclose(float(report["d_unsupervised"]), unsupervised, rtol=1e-5)
    per_example = supervised_loss(real_logits[:, :K], labels).numpy()
    assert (per_example[labels < 0] == 0).all()


def test_sgan_feature_matching_is_the_squared_distance_of_feature_means(tiny_params):
    gan = _gan(_run(tiny_params, "sgan", g_objective="feature_matching"))
    rng = np.random.default_rng(3)
    real_f, fake_f = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    logits = np.zeros((8, K + 1), np.float32)
    out = gan._generator_objective(
        None, None, None, (logits, fake_f.astype(np.float32)), (logits, real_f.astype(np.float32))
    )
    expected = np.mean((real_f.mean(0) - fake_f.mean(0)) ** 2)
    np.testing.assert_allclose(float(out["g_loss"]), expected, rtol=1e-5)


def test_sgan_updates_move_the_right_network(tiny_params):
    run = _run(tiny_params, "sgan")
    gan = _gan(run)
    rng = np.random.default_rng(4)
    real = tf.constant(rng.uniform(-1, 1, (8, 28, 28, 1)).astype(np.float32))
    z = tf.constant(rng.standard_normal((8, run.train.latent_dim)).astype(np.float32))
    labels = tf.constant(np.array([1, 2, -1, -1, -1, -1, -1, 3], np.int32))
    g_before = [v.numpy().copy() for v in gan.generator.trainable_variables]
    d_before = [v.numpy().copy() for v in gan.discriminator.trainable_variables]
    gan._discriminator_update(real, labels, z)
    g_variables = gan.generator.trainable_variables
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(g_before, g_variables, strict=True))
    d_now = [v.numpy().copy() for v in gan.discriminator.trainable_variables]
    assert all(not np.array_equal(b, a) for b, a in zip(d_before, d_now, strict=True))
    gan._generator_update(z, real, labels)  # feature matching: D runs on reals, stays put
    d_variables = gan.discriminator.trainable_variables
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(d_now, d_variables, strict=True))
    assert all(
        not np.array_equal(b, v.numpy())
        for b, v in zip(g_before, gan.generator.trainable_variables, strict=True)
    )


# --- catgan -----------------------------------------------------------------------------


def test_catgan_entropy_terms_match_a_hand_computation():
    real = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], np.float32)  # confident, uniform
    fake = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], np.float32)  # both lean to class 1
    terms = {k: v.numpy() for k, v in entropy_terms(real, fake).items()}
    # by hand: p = softmax; H = -sum p log p
    e2 = np.exp(2.0)
    p_confident = np.array([e2, 1, 1]) / (e2 + 2)
    h_confident = -np.sum(p_confident * np.log(p_confident))
    np.testing.assert_allclose(terms["h_real"], [h_confident, np.log(3)], rtol=1e-5)
    marginal = (p_confident + np.full(3, 1 / 3)) / 2
    np.testing.assert_allclose(terms["h_marginal_real"], -np.sum(marginal * np.log(marginal)))
    p_lean = np.array([1, np.e, 1]) / (np.e + 2)
    h_lean = -np.sum(p_lean * np.log(p_lean))
    np.testing.assert_allclose(terms["h_fake"], [h_lean, h_lean], rtol=1e-5)
    np.testing.assert_allclose(terms["h_marginal_fake"], h_lean, rtol=1e-5)  # both alike
    # entropy itself: 0 for a certain class (0 log 0 = 0), log K for uniform
    np.testing.assert_allclose(entropy(np.array([[1.0, 0, 0], [0.25] * 4][:1])).numpy(), [0.0])
    np.testing.assert_allclose(entropy(np.full((1, 4), 0.25)).numpy(), [np.log(4)], rtol=1e-6)


def test_catgan_objectives_combine_the_entropies_with_the_right_signs(tiny_params):
    gan = _gan(_run(tiny_params, "catgan"))
    rng = np.random.default_rng(5)
    real, fake = rng.normal(0, 2, (2, 8, K)).astype(np.float32)  # the tiny batch: 8 rows
    labels = tf.constant(np.full(8, HIDDEN, np.int32))
    report = {k: float(v) for k, v in gan._discriminator_objective(real, fake, labels).items()}
    p_real, p_fake = _softmax(real.astype(np.float64)), _softmax(fake.astype(np.float64))
    h_real, h_fake = _entropy(p_real).mean(), _entropy(p_fake).mean()
    hm_real, hm_fake = _entropy(p_real.mean(0)), _entropy(p_fake.mean(0))
    # D: confident on reals, every class used, uncertain on fakes
    np.testing.assert_allclose(report["d_loss"], h_real - hm_real - h_fake, rtol=1e-5)
    assert report["d_supervised"] == 0.0
    g = gan._generator_objective(None, None, None, fake, None)
    np.testing.assert_allclose(float(g["g_loss"]), h_fake - hm_fake, rtol=1e-5)
    # semi-supervised: the labelled rows' cross-entropy is added
    labels = np.array([2, HIDDEN, HIDDEN, 5, HIDDEN, HIDDEN, HIDDEN, HIDDEN], np.int32)
    semi = gan._discriminator_objective(real, fake, tf.constant(labels))
    cross_entropy = -np.mean(np.log(p_real[[0, 3], [2, 5]]))
    np.testing.assert_allclose(float(semi["d_supervised"]), cross_entropy, rtol=1e-5)
    np.testing.assert_allclose(float(semi["d_loss"]), report["d_loss"] + cross_entropy, rtol=1e-5)


# --- the scores -------------------------------------------------------------------------


def test_clustering_accuracy_of_a_permuted_labelling_is_one():
    true = np.random.default_rng(6).integers(0, K, 500)
    permutation = np.random.default_rng(7).permutation(K)
    assert clustering_accuracy(permutation[true], true) == 1.0
    assert accuracy(permutation[true], true) < 0.5  # plain accuracy does not forgive it


def test_clustering_accuracy_matches_a_hand_count():
    true = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    clusters = np.array([1, 1, 0, 0, 0, 0, 0, 2])  # cluster 0 holds classes 0, 1 and 2
    # best one-to-one: 1->0 (2 right), 0->1 (3 right), 2->2 (1 right): 6 of 8
    assert clustering_accuracy(clusters, true) == 6 / 8
    with pytest.raises(ValueError, match="one length"):
        clustering_accuracy(clusters[:3], true)


def test_conditional_scores_compare_the_evaluators_class_with_the_request():
    requested = np.array([0, 1, 2, 0, 1, 2])
    probabilities = np.eye(3)[[0, 1, 1, 0, 0, 2]]  # right, right, wrong, right, wrong, right
    scores = conditional_scores(probabilities, requested, ("T-shirt/top", "Trouser", "Bag"))
    assert scores["conditional_accuracy"] == pytest.approx(4 / 6)
    assert scores["class_accuracy/t-shirt_top"] == 1.0
    assert scores["class_accuracy/trouser"] == 0.5
    assert scores["class_accuracy/bag"] == 0.5


# --- labels -----------------------------------------------------------------------------


def test_labelled_subset_is_balanced_seeded_and_sorted():
    labels = np.random.default_rng(8).integers(0, K, 2000)
    subset = labelled_subset(labels, 10, K, seed=0)
    assert len(subset) == 100 and (np.diff(subset) > 0).all()
    assert np.bincount(labels[subset], minlength=K).tolist() == [10] * K
    np.testing.assert_array_equal(subset, labelled_subset(labels, 10, K, seed=0))
    assert not np.array_equal(subset, labelled_subset(labels, 10, K, seed=1))
    with pytest.raises(DataError, match="fewer than the 500 labels per class"):
        labelled_subset(labels, 500, K, seed=0)


def test_training_labels_hide_all_but_the_subset():
    classes = np.arange(300) % K
    seen = training_labels(LabelPlan(3, 4), classes, CLASS_NAMES, seed=0, model="sgan")
    assert (seen.labels >= 0).sum() == 30 and seen.per_batch == 4
    np.testing.assert_array_equal(seen.labels[seen.labelled], classes[seen.labelled])
    every = training_labels(LabelPlan(None), classes, CLASS_NAMES, seed=0, model="cgan")
    np.testing.assert_array_equal(every.labels, classes)
    none = training_labels(LabelPlan(0), classes, CLASS_NAMES, seed=0, model="catgan")
    assert (none.labels == HIDDEN).all() and none.per_batch == 0
    with pytest.raises(DataError, match="cgan needs class labels"):
        training_labels(LabelPlan(None), np.full(300, -1), (), seed=0, model="cgan")


def test_labelled_slots_fill_the_end_of_every_minibatch():
    from pipeline.data.loader import StepPlan, training_dataset

    classes = np.arange(200) % K
    labels = training_labels(LabelPlan(2, 3), classes, CLASS_NAMES, seed=0, model="sgan")
    images = np.arange(200, dtype=np.uint8).reshape(200, 1, 1, 1)  # pixel = index
    plan = StepPlan(200, 8, 2)
    batches = list(training_dataset(images, plan, seed=0, latent_dim=2, epoch=0, labels=labels))
    assert len(batches) == plan.steps_per_epoch
    for batch in batches:
        real, batch_labels = batch["real"], batch["labels"]
        assert real.shape == (8, 2, 1, 1, 1) and batch_labels.shape == (8, 2)
        index = np.rint((real.numpy()[..., 0, 0, 0] + 1) * 127.5).astype(int)  # [8, 2]
        assert np.isin(index[-3:], labels.labelled).all()  # the last 3 slots: labelled
        np.testing.assert_array_equal(batch_labels.numpy(), labels.labels[index])
    # a resumed epoch gets the same labelled slots
    resumed = list(
        training_dataset(
            images, plan, seed=0, latent_dim=2, epoch=0, first_step_in_epoch=2, labels=labels
        )
    )
    np.testing.assert_array_equal(resumed[0]["labels"].numpy(), batches[2]["labels"].numpy())


@pytest.mark.parametrize(
    ("label", "index"),
    [("7", 7), ("sneaker", 7), ("Ankle boot", 9), ("ankle-boot", 9), ("t-shirt", 0)],
)
def test_class_index_takes_names_and_indices(label, index):
    from pipeline.data.registry import FASHION_MNIST_CLASSES

    assert class_index(label, FASHION_MNIST_CLASSES) == index


@pytest.mark.parametrize("label", ["10", "s", "boots", ""])
def test_class_index_names_the_choices_when_wrong(label):
    from pipeline.data.registry import FASHION_MNIST_CLASSES

    with pytest.raises(ConfigError, match="valid: 0=T-shirt/top, 1=Trouser"):
        class_index(label, FASHION_MNIST_CLASSES)


def test_labelled_per_batch_must_leave_room_for_unlabelled_images(tiny_params, tmp_path):
    from pipeline.training.loop import train

    # when params are read, before any data loads (tiny batch: 8)
    with pytest.raises(ConfigError, match=r"models.sgan.labelled_per_batch \(8\) must be below"):
        _run(tiny_params, "sgan", labels_per_class=2, labelled_per_batch=8)
    run = _run(tiny_params, "sgan", labels_per_class=2, labelled_per_batch=2)
    with pytest.raises(ConfigError, match="sgan trains on labels"):
        train(run, np.zeros((100, 28, 28, 1), np.uint8), checkpoint_dir=tmp_path)


def test_tiny_label_defaults_fit_the_tiny_batch(tiny_params):
    assert TINY_LABELS["labelled_per_batch"] < tiny_params["train"]["batch_size"]
