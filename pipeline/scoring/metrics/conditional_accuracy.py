"""How well a class-conditional generator (cgan) obeys the labels it is given.

    conditional_accuracy   the evaluator's accuracy on the generated images against the
                           labels they were asked for; higher is better (the evaluator's
                           own test accuracy is its ceiling)
    class_accuracy/<name>  the same per requested class

Registers the metric `conditional_accuracy` (cgan's Family.scores). It writes nothing for
a rotation evaluator (an unlabelled dataset: no classes to check against).
"""

from __future__ import annotations

from pipeline.scoring.metrics import Context, Metric, register
from pipeline.scoring.metrics.labels import conditional_scores


def _conditional_accuracy(context: Context) -> dict[str, float]:
    task = context.task_with("requested_labels", "conditional_accuracy", "a conditional model")
    if not context.embedding.classes:
        return {}
    requested = task.requested_labels(len(context.images))
    return conditional_scores(context.embedding.probabilities, requested, task.class_names)


register(
    Metric(
        "conditional_accuracy",
        _conditional_accuracy,
        floor="",
        summary="the evaluator's class of conditional samples against the requested one",
    )
)
