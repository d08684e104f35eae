"""The registry of metrics: a metric is one registered object. A metric defined here, in
the test file, is computed by `evaluate` (and the reference's floor) without a change to
any pipeline module; the default evaluate.metrics give exactly the former scores."""

import json
import subprocess
import sys

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.config import parse_evaluate
from pipeline.errors import ConfigError
from pipeline.scoring.evaluator import Embedding
from pipeline.scoring.metrics import (
    Context,
    Metric,
    check_metric_names,
    compute_metrics,
    metric_names,
    register,
    unregister,
)
from pipeline.scoring.metrics.classifier_score import classifier_score
from pipeline.scoring.metrics.fid import fid_against_statistics
from pipeline.scoring.metrics.kid import kernel_inception_distance
from pipeline.scoring.metrics.precision_recall import precision_recall
from pipeline.scoring.reference import Reference
from pipeline.scoring.score import floor, score
from tests.helpers import one_line_error, set_params

SHARED_KEYS = [
    "fid",
    "kid",
    "kid_std",
    "classifier_score",
    "classifier_score_std",
    "precision",
    "recall",
]


def _mean_pixel(context: Context) -> dict[str, float]:
    """A metric of the images alone, and proof that it saw the model's task and folder."""
    scores = {"mean_pixel": float(np.mean(context.images))}
    if context.task is not None:
        scores["saw_model"] = float(context.model_dir.name == context.task.run.model)
    return scores


MEAN_PIXEL = Metric("mean_pixel", _mean_pixel, summary="defined in a test")


@pytest.fixture
def mean_pixel():
    register(MEAN_PIXEL)
    yield MEAN_PIXEL
    unregister("mean_pixel")


def _embedding(rng, n: int, shift: float = 0.0, classes: bool = True) -> Embedding:
    features = rng.standard_normal((n, 8)).astype(np.float32) + shift
    logits = rng.standard_normal((n, 3))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Embedding(features, probabilities.astype(np.float32), classes)


@pytest.fixture
def cfg():
    evaluate = {"kid_subsets": 7, "kid_subset_size": 50, "score_splits": 4, "seed": 3}
    return parse_evaluate({"evaluate": evaluate})


def _former_score(fake: Embedding, reference: Reference, cfg) -> dict[str, float]:
    """pipeline.scoring.score.score() before the registry, verbatim in its order."""
    kid, kid_std = kernel_inception_distance(
        reference.features,
        fake.features,
        subsets=cfg.kid_subsets,
        subset_size=cfg.kid_subset_size,
        seed=cfg.seed,
    )
    precision, recall = precision_recall(reference.features, fake.features, k=cfg.pr_k)
    fid = fid_against_statistics(fake.features, reference.mu, reference.sigma)
    scores = {"fid": fid, "kid": kid, "kid_std": kid_std}
    if fake.classes:
        mean, std = classifier_score(fake.probabilities, splits=cfg.score_splits)
        scores |= {"classifier_score": mean, "classifier_score_std": std}
    return scores | {"precision": precision, "recall": recall}


def test_metric_modules_import_no_tensorflow():
    code = (
        "import sys, pipeline.metrics, pipeline.scoring.reference\n"
        "from pipeline.scoring.metrics import metric_names\n"
        "assert 'fid' in metric_names()  # every module of the folder is imported now\n"
        "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_default_metrics_give_exactly_the_former_scores(cfg):
    # ppl walks a generator's latents: without one (here, and for real images) it adds nothing
    assert cfg.metrics == ("fid", "kid", "classifier_score", "precision_recall", "ppl")
    rng = np.random.default_rng(0)
    reference = Reference.of(_embedding(rng, 300))
    for fake in (_embedding(rng, 200, 0.3), _embedding(rng, 200, 0.3, classes=False)):
        former = _former_score(fake, reference, cfg)
        scores = compute_metrics(cfg.metrics, Context(None, fake, reference, cfg))
        assert list(scores) == list(former) and scores == former  # keys, order, values
        assert score(fake, reference, cfg) == former
    assert list(_former_score(_embedding(rng, 200), reference, cfg)) == SHARED_KEYS


def test_the_floor_scores_train_images_except_the_classifier_score_of_the_test_split(cfg):
    rng = np.random.default_rng(1)
    test = _embedding(rng, 300)
    reference = Reference.of(test)
    train = _embedding(rng, 250, 0.1)
    scores = floor(
        cfg.metrics,
        train=Context(None, train, reference, cfg),
        test=Context(None, test, reference, cfg),
    )
    former = _former_score(train, reference, cfg)  # the reference stage before the registry
    mean, std = classifier_score(test.probabilities, splits=cfg.score_splits)
    former |= {"classifier_score": mean, "classifier_score_std": std}
    assert list(scores) == SHARED_KEYS and scores == former


def test_an_unknown_metric_is_a_config_error_naming_the_valid_ones(tiny_repo, capsys):
    with pytest.raises(ConfigError, match=r"evaluate\.metrics: unknown metric 'fdi'; valid"):
        check_metric_names(["fid", "fdi"])
    set_params(tiny_repo, "evaluate", metrics=["fid", "fdi"])
    assert main(["--no-progress", "evaluate", "--model", "gan"]) == 2  # before any loading
    line = one_line_error(capsys)
    valid = ", ".join(metric_names())
    assert line == f"error: evaluate.metrics: unknown metric 'fdi'; valid metrics: {valid}"
    assert "classifier_score, conditional_accuracy, fid" in valid
    assert main(["--no-progress", "reference"]) == 2
    assert "unknown metric 'fdi'" in one_line_error(capsys)


def test_every_family_declares_registered_metrics():
    from pipeline.gans.families import family_names, get_family

    declared = {name: get_family(name).scores for name in family_names()}
    for name, scores in declared.items():
        check_metric_names(scores, key=name)
    assert declared["pix2pix"] == ("paired",) and declared["cgan"] == ("conditional_accuracy",)
    assert declared["sgan"] == declared["catgan"] == ("classifier_accuracy",)


def test_two_metrics_writing_one_key_or_one_name_are_programming_errors(mean_pixel, cfg):
    clash = Metric("mean_pixel_again", lambda context: {"mean_pixel": 0.0})
    register(clash)
    try:
        context = Context(np.zeros((2, 4, 4, 1)), None, None, cfg)
        with pytest.raises(ValueError, match="'mean_pixel' and 'mean_pixel_again' both write"):
            compute_metrics(["mean_pixel", "mean_pixel_again"], context)
    finally:
        unregister("mean_pixel_again")
    with pytest.raises(ValueError, match="registered already"):
        register(Metric("mean_pixel", _mean_pixel))
    with pytest.raises(ValueError, match="floor must be one of"):
        Metric("odd", _mean_pixel, floor="validation")


def test_a_family_metric_on_a_model_without_what_it_needs_says_so(cfg):
    context = Context(np.zeros((2, 4, 4, 1)), None, None, cfg, task=object())
    with pytest.raises(ConfigError, match="metric 'paired' needs a translation model"):
        compute_metrics(["paired"], context)


def test_a_metric_registered_in_a_test_is_computed_by_evaluate_and_the_floor(
    mean_pixel, scored_repo
):
    repo = scored_repo
    set_params(repo, "evaluate", metrics=["fid", "mean_pixel"])
    assert main(["--no-progress", "train", "--model", "gan"]) == 0
    assert main(["--no-progress", "evaluate", "--model", "gan"]) == 0
    scores = json.loads((repo / "models/gan/metrics.json").read_text())
    assert list(scores) == ["fid", "mean_pixel", "saw_model"]  # evaluate.metrics, in order
    assert -1.0 <= scores["mean_pixel"] <= 1.0 and scores["saw_model"] == 1.0

    assert main(["--no-progress", "reference"]) == 0
    floor_scores = json.loads((repo / "models/reference/metrics.json").read_text())
    assert list(floor_scores) == ["fid", "mean_pixel"]  # real training images: no model
    assert floor_scores["mean_pixel"] > 1.0  # uint8 pixels, as the floor scores them
