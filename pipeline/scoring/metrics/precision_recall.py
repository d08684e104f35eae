"""Improved precision and recall (Kynkäänniemi et al. 2019) of the evaluator's features.

    precision   share of generated samples inside the real data's k-NN manifold (fidelity)
    recall      share of real samples inside the generated samples' manifold (diversity)
    Both higher is better, in [0, 1].

Registers the metric `precision_recall`, with k = evaluate.pr_k.
"""

from __future__ import annotations

import numpy as np

from pipeline.scoring.metrics import Context, Metric, register
from pipeline.scoring.metrics.checks import check_pair, positive

CHUNK_ROWS = 1000  # rows per block of pairwise distances: 1000 x 10000 float64 = 80 MB


def _squared_distances(a: np.ndarray, b: np.ndarray):
    """Blocks of ||a_i - b_j||^2 for CHUNK_ROWS rows of `a` at a time against all of `b`."""
    b_sq = (b * b).sum(axis=1)
    for start in range(0, len(a), CHUNK_ROWS):
        rows = a[start : start + CHUNK_ROWS]
        block = (rows * rows).sum(axis=1)[:, None] + b_sq[None, :] - 2 * rows @ b.T
        yield np.maximum(block, 0.0)


def _kth_neighbour_sq(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each row to its k-th nearest other row (the row itself is 0th)."""
    return np.concatenate([np.partition(b, k, axis=1)[:, k] for b in _squared_distances(x, x)])


def _coverage(points: np.ndarray, centres: np.ndarray, radii_sq: np.ndarray) -> float:
    """Fraction of `points` inside at least one ball (centre, radius) of the manifold."""
    inside = [(b <= radii_sq[None, :]).any(axis=1) for b in _squared_distances(points, centres)]
    return float(np.concatenate(inside).mean())


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019). Higher is better, in [0, 1].

    Each real sample's ball has radius = distance to its k-th nearest neighbour among the
    real samples (itself excluded); precision = fraction of fake samples inside at least one
    real ball (fidelity). Recall = the same with real and fake swapped (coverage). Euclidean
    distances in float64, in blocks of CHUNK_ROWS rows. Both sets need n > k.
    """
    k = positive("k", k)
    real, fake = check_pair(real, fake, k + 1, f" for k = {k} neighbours")
    precision = _coverage(fake, real, _kth_neighbour_sq(real, k))
    recall = _coverage(real, fake, _kth_neighbour_sq(fake, k))
    return precision, recall


def _precision_recall(context: Context) -> dict[str, float]:
    real, fake = context.reference.features, context.embedding.features
    precision, recall = precision_recall(real, fake, k=context.cfg.pr_k)
    return {"precision": precision, "recall": recall}


register(
    Metric("precision_recall", _precision_recall, summary="k-NN manifold precision and recall")
)
