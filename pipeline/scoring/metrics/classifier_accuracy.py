"""The discriminator as a classifier (sgan, catgan), on the real test split.

    accuracy              share of test images classified right; only when training saw
                          labels (sgan, catgan semi-supervised)
    clustering_accuracy   accuracy after the best one-to-one mapping of the discriminator's
                          classes to the true ones (Hungarian algorithm)
    baseline_*            what the supervised baseline scored when it was trained
                          (pipeline.training.baseline), read from the model's train.json

Registers the metric `classifier_accuracy` (sgan's and catgan's Family.scores).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.scoring.metrics import Context, Metric, register
from pipeline.scoring.metrics.labels import accuracy, clustering_accuracy


def classifier_scores(task, discriminator) -> dict[str, float]:
    """`accuracy` (when training saw labels) and `clustering_accuracy` of `discriminator`
    on the real test split of `task` (a ClassifierTask of pipeline.gans.inputs)."""
    predicted, true = task.classify(discriminator), task.dataset.y_test
    scores = {"clustering_accuracy": clustering_accuracy(predicted, true)}
    if task.sees_labels:
        scores = {"accuracy": accuracy(predicted, true), **scores}
    return scores


def baseline_scores(model_dir) -> dict[str, float]:
    """The `baseline_*` values of the model's train.json (none without the file)."""
    from pipeline.saved import read_json, trained

    if model_dir is None or not (model_dir / "train.json").is_file():
        return {}
    summary = read_json(model_dir / "train.json", trained(Path(model_dir).name))
    return {k: v for k, v in summary.items() if k.startswith("baseline_")}


def _classifier_accuracy(context: Context) -> dict[str, float]:
    from pipeline.saved import load_discriminator

    task = context.task_with("classify", "classifier_accuracy", "a classifying discriminator")
    scores = classifier_scores(task, load_discriminator(task.run.model))
    return scores | baseline_scores(context.model_dir)


register(
    Metric(
        "classifier_accuracy",
        _classifier_accuracy,
        floor="",
        summary="the saved discriminator's accuracy on the real test split",
    )
)
