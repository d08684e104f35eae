"""The leaderboard's columns: which metrics.json keys it shows, which way each is better,
and which model is best in each.

The common scores come first; after them, whatever other keys the models' metrics.json
files hold (a family's own measures: conditional_accuracy, clustering_accuracy, l1,
psnr, ssim, ...), so a new family's scores get columns with no edit here. A `<key>_std`
is the spread of `<key>` (shown beside it, not a column), and per-class keys
(`class_accuracy/<class>`) are for the model's card, not the table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

LOWER, HIGHER = "lower", "higher"

# Which way is better, per metric key: the one table the page reads. A key missing here
# (a plugin's new metric) gets a column but no "best" mark: guessing its direction
# could mark the worst model as the best.
DIRECTIONS: dict[str, str] = {
    "fid": LOWER,  # Frechet distance of the evaluator's features
    "kid": LOWER,  # kernel inception distance (same features)
    "fid_inception": LOWER,
    "l1": LOWER,  # pix2pix: mean |y - G(x)|
    "precision": HIGHER,
    "recall": HIGHER,
    "classifier_score": HIGHER,  # the Inception Score with the evaluator
    "conditional_accuracy": HIGHER,  # cgan: the evaluator finds the requested class
    "accuracy": HIGHER,  # sgan, catgan: the discriminator as a classifier
    "clustering_accuracy": HIGHER,
    "baseline_accuracy": HIGHER,  # sgan: the supervised baseline on the same labels
    "psnr": HIGHER,
    "ssim": HIGHER,
    "stage1_fid": LOWER,  # stackgan's Stage I alone (the gain of Stage II: fid against it)
    "stage1_precision": HIGHER,
    "stage1_recall": HIGHER,
    "stage1_conditional_accuracy": HIGHER,
}

COMMON = ("fid", "kid", "precision", "recall", "classifier_score")
SPREAD = "_std"


def is_column(key: str) -> bool:
    """A metrics.json key shown as its own column."""
    return "/" not in key and not key.endswith(SPREAD)


def columns(scores: Iterable[Mapping[str, float]]) -> tuple[str, ...]:
    """COMMON, then every other column key in the order the models first show it."""
    extra: dict[str, None] = {}
    for entry in scores:
        for key in entry:
            if is_column(key) and key not in COMMON:
                extra.setdefault(key)
    return (*COMMON, *extra)


def best(values: Mapping[str, float | None], key: str) -> set[str]:
    """The names whose value of `key` is best (all of them on a tie); empty when the key
    has no known direction or no model has a finite value."""
    direction = DIRECTIONS.get(key)
    finite = {
        name: v for name, v in values.items() if isinstance(v, int | float) and math.isfinite(v)
    }
    if direction is None or not finite:
        return set()
    target = min(finite.values()) if direction == LOWER else max(finite.values())
    return {name for name, v in finite.items() if v == target}
