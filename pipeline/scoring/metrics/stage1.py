"""What the first stage of a two-stage generator (stackgan) reaches alone, so the gain of the
second stage is a number.

    stage1_fid                   FID of Stage I's images (upsampled to the full side, as
                                 its phase trained them) against the real test split
    stage1_precision, stage1_recall   their improved precision and recall (k = evaluate.pr_k)
    stage1_conditional_accuracy  the evaluator's accuracy on them against the caption's class

Stage I draws exactly the examples the scored images are (the same noise and captions,
the task's `stage1_images`), so each key compares with its Stage-II twin (fid, recall,
conditional_accuracy). Registers the metric `stage1` (stackgan's Family.scores).
"""

from __future__ import annotations

from pipeline.scoring.metrics import Context, Metric, register
from pipeline.scoring.metrics.fid import fid_against_statistics
from pipeline.scoring.metrics.labels import conditional_scores
from pipeline.scoring.metrics.precision_recall import precision_recall


def _stage1(context: Context) -> dict[str, float]:
    task = context.task_with("stage1_images", "stage1", "a two-stage generator (stackgan)")
    cfg = context.cfg
    count = len(context.images)
    images = task.stage1_images(context.generator, count, cfg.seed, cfg.batch_size)
    embedding = context.embedder(images)
    reference = context.reference
    precision, recall = precision_recall(reference.features, embedding.features, k=cfg.pr_k)
    scores = {
        "stage1_fid": fid_against_statistics(embedding.features, reference.mu, reference.sigma),
        "stage1_precision": precision,
        "stage1_recall": recall,
    }
    if embedding.classes:
        requested = task.requested_labels(count)
        accuracy = conditional_scores(embedding.probabilities, requested, task.class_names)
        scores["stage1_conditional_accuracy"] = accuracy["conditional_accuracy"]
    return scores


register(
    Metric(
        "stage1",
        _stage1,
        floor="",
        summary="fid, precision/recall and conditional accuracy of a two-stage "
        "generator's Stage I alone",
    )
)
