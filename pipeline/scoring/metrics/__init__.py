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

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import ConfigError

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


_REGISTRY: dict[str, Metric] = {}
_BUILTINS_LOADED = False


def register(metric: Metric) -> Metric:
    """Add `metric` to the registry (a metric module calls this at import)."""
    if metric.name in _REGISTRY and _REGISTRY[metric.name] is not metric:
        raise ValueError(f"a metric named {metric.name!r} is registered already")
    _REGISTRY[metric.name] = metric
    return metric


def unregister(name: str) -> None:
    """Remove a metric registered at run time (tests)."""
    _REGISTRY.pop(name, None)


def _load_builtins() -> None:
    """Import every module of this folder once: the metric modules register themselves."""
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")
        _BUILTINS_LOADED = True


def metric_names() -> tuple[str, ...]:
    """Every registered metric, sorted."""
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def get_metric(name: str, key: str = "evaluate.metrics") -> Metric:
    """The metric `name`; an unknown one is a one-line ConfigError naming the valid ones."""
    if name not in _REGISTRY:
        _load_builtins()
    if name not in _REGISTRY:
        valid = ", ".join(metric_names())
        raise ConfigError(f"{key}: unknown metric {name!r}; valid metrics: {valid}")
    return _REGISTRY[name]


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
