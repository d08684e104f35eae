"""The classifier score: the Inception Score formula with the evaluator's softmax.

    classifier_score, classifier_score_std   exp E[KL(p(y|x) || p(y))] over splits, mean
                   and std; higher is better, from 1 to the number of classes

Registers the metric `classifier_score`, which writes nothing for a rotation evaluator
(an unlabelled dataset: its probabilities are over rotations, not classes). It is a
property of one image set, so the reference's floor is the real test images' own score.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import DataError
from pipeline.scoring.metrics import Context, Metric, register
from pipeline.scoring.metrics.checks import check_features, positive


def _split_score(p: np.ndarray) -> float:
    marginal = p.mean(axis=0, keepdims=True)
    # 0 * log 0 = 0 exactly (no eps): where p == 0 both logs read log(1); p > 0 gives marginal > 0.
    log_ratio = np.log(np.where(p > 0, p, 1.0)) - np.log(np.where(p > 0, marginal, 1.0))
    return float(np.exp((p * log_ratio).sum(axis=1).mean()))


def classifier_score(probabilities, splits: int = 10) -> tuple[float, float]:
    """The Inception Score formula with the evaluator's softmax. Higher is better.

    score = exp(E_x KL(p(y|x) || p(y))) with p(y) the mean prediction of the split, computed
    on `splits` consecutive splits (np.array_split: sizes differ by at most one when n is not
    a multiple); returns their mean and std (ddof=0). It ranges from 1 (every sample gets the
    same prediction) to K (confident and balanced over K classes). `probabilities` is
    [n, K], n >= splits, non-negative rows summing to 1 within 1e-3.
    """
    splits = positive("splits", splits)
    p = check_features("probabilities", probabilities, splits, " (one per split)")
    if (p < 0).any():
        raise DataError("probabilities has negative entries; pass softmax outputs, not logits")
    sums = p.sum(axis=1)
    worst = np.abs(sums - 1).argmax()
    if abs(sums[worst] - 1) > 1e-3:
        raise DataError(
            f"probabilities rows must sum to 1, but row {worst} sums to {sums[worst]:.6g}; "
            "pass softmax outputs, not logits"
        )
    scores = [_split_score(part) for part in np.array_split(p, splits)]
    return float(np.mean(scores)), float(np.std(scores))


def _classifier_score(context: Context) -> dict[str, float]:
    embedding = context.embedding
    if not embedding.classes:  # a rotation evaluator: no classes to score
        return {}
    mean, std = classifier_score(embedding.probabilities, splits=context.cfg.score_splits)
    return {"classifier_score": mean, "classifier_score_std": std}


register(
    Metric(
        "classifier_score",
        _classifier_score,
        floor="test",
        summary="exp E[KL(p(y|x) || p(y))] of the evaluator's class probabilities",
    )
)
