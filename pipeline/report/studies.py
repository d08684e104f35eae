"""The Optuna studies of the GANs in train.models (pipeline.tuning): per study its best
trial, that trial's params, the `dvc exp run -S ...` line that applies them (the tuning
code's own, pipeline.tuning.results.apply_command) and Optuna's parameter importances.

Read only: a missing SQLite storage is not created, and an unreachable one is a warning,
not a failed report.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.config import parse_data, parse_tune
from pipeline.tuning.results import (
    apply_command,
    default_storage,
    shown_url,
    study_name,
    trial_counts,
)

# Fewer completed trials than this and Optuna's importances say little (its PED-ANOVA
# evaluator compares the top quantile of trials against the rest; with a handful of
# trials that quantile is one trial, and with one it returns equal shares).
MIN_TRIALS_FOR_IMPORTANCE = 5


@dataclass(frozen=True)
class Study:
    """One study, as the page shows it."""

    name: str
    model: str
    counts: dict[str, int]  # complete, pruned, failed, running
    metric: str = "fid2k"  # what the trials minimised
    best_number: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] | None = None
    command: str = ""  # `dvc exp run -S ...` applying the best params
    importances: dict[str, float] | None = None
    importance_note: str = ""  # why there are none


@dataclass(frozen=True)
class Studies:
    storage: str  # shown without a password; "" when there is none
    studies: tuple[Study, ...] = ()
    note: str = ""  # e.g. "no study yet"


def collect_studies(params: Mapping, warn: list[str]) -> Studies:
    """The studies of train.models in tune.storage; problems are appended to `warn`."""
    cfg = parse_tune(params)
    if cfg.storage:
        url = cfg.storage
    else:
        path = default_storage()
        if not path.is_file():
            return Studies("", note=f"no study yet ({path} does not exist)")
        url = f"sqlite:///{path}"
    try:
        return Studies(shown_url(url), tuple(_read(url, params)))
    except Exception as error:  # a server down, a driver missing, a damaged database
        detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        warn.append(
            f"cannot read the Optuna storage {shown_url(url)} ({type(error).__name__}: "
            f"{detail}); the report shows no studies"
        )
        return Studies(shown_url(url), note="storage unavailable")


def _read(url: str, params: Mapping) -> list[Study]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(url, skip_compatibility_check=False)
    names = set(optuna.study.get_all_study_names(storage=storage))
    dataset = parse_data(params).dataset
    found = []
    for model in (params.get("train") or {}).get("models") or {}:
        name = study_name(dataset, model)
        if name in names:
            study = optuna.load_study(study_name=name, storage=storage)
            found.append(_summarise(study, params, str(model)))
    return found


def _summarise(study, params: Mapping, model: str) -> Study:

    counts = trial_counts(study)
    if not counts["complete"]:
        return Study(study.study_name, model, counts, importance_note="no completed trial")
    best = study.best_trial
    importances, note = importances_of(study, counts["complete"])
    return Study(
        name=study.study_name,
        model=model,
        counts=counts,
        metric=best.user_attrs.get("metric", "fid"),
        best_number=best.number,
        best_value=best.value,
        best_params=dict(best.params),
        command=apply_command(params, model, best.params),
        importances=importances,
        importance_note=note,
    )


def importances_of(study, complete: int) -> tuple[dict[str, float] | None, str]:
    """Optuna's parameter importances (sorted, summing to 1), or None and why not."""
    import optuna

    if complete < MIN_TRIALS_FOR_IMPORTANCE:
        return None, (
            f"importances need at least {MIN_TRIALS_FOR_IMPORTANCE} completed trials; "
            f"this study has {complete}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's "experimental" and small-sample notes
            values = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as error:  # e.g. a parameter only some trials have
        return None, f"Optuna could not compute importances ({error})"
    values = {k: float(v) for k, v in values.items() if math.isfinite(v)}
    return values, ""
