"""The registry of scores: every number `evaluate` writes comes from one registered `Metric`.

As in StyleGAN2-ADA's `metrics/`: a metric is a name and a function of what was scored
(`compute(context) -> {key: value}`), declared in one module of this folder next to its
math, so a new metric is a new module, not an edit of the scoring code. Which metrics run
is `evaluate.metrics` (the shared ones: fid, kid, classifier_score, precision_recall)
plus the family's own (pipeline.gans.families.Family.scores: paired,
conditional_accuracy, classifier_accuracy), and fid_inception when
`evaluate.inception_weights` is set (pipeline.scoring.score.metric_names).

Metrics are found by file: the first lookup imports every module of this folder, and the
ones that define a metric call `register(Metric(...))` (the others hold shared math:
checks, labels). A metric defined elsewhere (a plugin, a test) registers itself the same
way before it is used. Nothing here, and no module of this folder, imports TensorFlow at
import time (`pipeline.metrics` re-exports the math and must stay light).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import ConfigError
from pipeline.plugins import Registry

# What the reference stage's real-vs-real floor computes a metric on (Metric.floor).
FLOORS = (
    "train",  # real training images scored as a generator's are: fid, kid, precision/recall
    "test",  # the real test images' own value, a property of one image set: classifier_score
    "",  # no floor: the metric needs a model (paired, the label accuracies, fid_inception)
)


@dataclass(frozen=True)
class Context:
    """What a metric may read: the scored images and what the evaluator saw in them, the
    real test split, evaluate.*, and the model's task and folder (None for real images)."""

    images: np.ndarray | None  # float32 [N, H, W, C] in [-1, 1] (uint8 for real images)
    embedding: Any  # pipeline.scoring.evaluator.Embedding of `images`
    reference: Any  # pipeline.scoring.score.Reference: the real test split
    cfg: Any  # pipeline.config.EvaluateConfig
    task: Any = None  # the model's task (pipeline.gans.inputs); None for real images
    model_dir: Path | None = None  # models/<name>; None for real images
    generator: Any = None  # the scored generator (a metric that draws more: ppl); or None
    embedder: Any = None  # the evaluator (pipeline.scoring.evaluator.Embedder), to embed more

    def task_with(self, attribute: str, metric: str, needs: str):
        """The model's task, or a one-line ConfigError when it lacks `attribute`."""
        if self.task is None or not hasattr(self.task, attribute):
            raise ConfigError(f"metric {metric!r} needs {needs}; this model has none")
        return self.task


@dataclass(frozen=True)
class Metric:
    """One score: `compute(context)` returns its keys and values (possibly none)."""

    name: str
    compute: Callable[[Context], dict[str, float]]
    floor: str = "train"  # one of FLOORS
    summary: str = ""

    def __post_init__(self):
        if self.floor not in FLOORS:
            raise ValueError(f"metric {self.name!r}: floor must be one of {FLOORS}")


METRICS = Registry(__name__, __path__, "metric")
register = METRICS.register
unregister = METRICS.unregister


def metric_names() -> tuple[str, ...]:
    """Every registered metric, sorted (the folder's files that define none, such as
    checks and labels, hold shared math)."""
    return METRICS.registered(load_all=True)


def get_metric(name: str, key: str = "evaluate.metrics") -> Metric:
    """The metric `name`; an unknown one is a one-line ConfigError naming the valid ones."""
    metric = METRICS.get(name)
    if metric is None:  # it may live in a file of another name: load them all
        valid = ", ".join(metric_names())
        metric = METRICS.get(name)
    if metric is None:
        raise ConfigError(f"{key}: unknown metric {name!r}; valid metrics: {valid}")
    return metric


def check_metric_names(names: Iterable[str], key: str = "evaluate.metrics") -> tuple[str, ...]:
    """`names` without repeats (first place kept), each a registered metric."""
    unique = tuple(dict.fromkeys(names))
    for name in unique:
        get_metric(name, key)
    return unique


def compute_metrics(names: Iterable[str], context: Context) -> dict[str, float]:
    """The scores of every metric in `names`, in that order. Two metrics writing one key
    is a programming error (a ValueError), never a silent overwrite."""
    scores: dict[str, float] = {}
    written: dict[str, str] = {}
    for name in check_metric_names(names):
        for key, value in get_metric(name).compute(context).items():
            if key in written:
                raise ValueError(f"metrics {written[key]!r} and {name!r} both write {key!r}")
            scores[key], written[key] = value, name
    return scores
