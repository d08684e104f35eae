"""Label math of the label-aware GANs' scores: how well labels are obeyed, learned or
discovered (the metrics conditional_accuracy and classifier_accuracy of this folder).

conditional_accuracy   cgan: the evaluator's accuracy on generated images against the
                       labels they were asked for (the evaluator's accuracy on the real
                       test split is its ceiling)
accuracy               sgan, catgan semi-supervised: the discriminator as a classifier
                       on the real test split
clustering_accuracy    catgan: the accuracy of the best one-to-one mapping of clusters
                       to classes (Hungarian algorithm), so a relabelled clustering
                       scores as its labelling would
"""

from __future__ import annotations

import numpy as np


def _labels(values, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D integer array, got {values.dtype} {values.shape}")
    return values


def accuracy(predicted, true) -> float:
    """Share of positions where `predicted` equals `true` (1-D integer arrays)."""
    predicted, true = _labels(predicted, "predicted"), _labels(true, "true")
    if predicted.shape != true.shape or not len(true):
        raise ValueError(
            f"need two non-empty arrays of one length, got {len(predicted)}, {len(true)}"
        )
    return float(np.mean(predicted == true))


def clustering_accuracy(clusters, true) -> float:
    """Accuracy of `clusters` after the best one-to-one relabelling of clusters to classes.

    The contingency table counts[c, k] (cluster c, class k) is matched by the Hungarian
    algorithm to the largest total; clusters left without a class count as errors."""
    from scipy.optimize import linear_sum_assignment

    clusters, true = _labels(clusters, "clusters"), _labels(true, "true")
    accuracy(clusters, true)  # the same checks
    size = int(max(clusters.max(), true.max())) + 1
    counts = np.zeros((size, size), dtype=np.int64)
    np.add.at(counts, (clusters, true), 1)
    rows, columns = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, columns].sum() / len(true))


def conditional_scores(probabilities: np.ndarray, requested, class_names) -> dict[str, float]:
    """`conditional_accuracy` of generated images (the evaluator's class probabilities
    [N, K]) against the `requested` labels [N], and one `class_accuracy/<name>` per class."""
    requested = _labels(requested, "requested")
    predicted = np.argmax(probabilities, axis=1)
    scores = {"conditional_accuracy": accuracy(predicted, requested)}
    for index, name in enumerate(class_names):
        asked = requested == index
        if asked.any():
            scores[f"class_accuracy/{metric_name(name)}"] = float(
                np.mean(predicted[asked] == index)
            )
    return scores


def metric_name(class_name: str) -> str:
    """A class name as a metric-key part: `T-shirt/top` -> `t-shirt_top`."""
    kept = (ch if ch.isalnum() or ch in "-." else "_" for ch in class_name.lower())
    return "".join(kept).strip("_") or "class"
