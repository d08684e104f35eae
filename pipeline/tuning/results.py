"""What a study leaves: models/NAME/best_params.yaml, the `dvc exp run -S` line that
applies it, the parent MLflow run's summary, and the best trials queued as DVC
experiments (`--queue-top`)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.errors import PipelineError, TrainingError

BEST_PARAMS = "best_params.yaml"


def default_storage(root: Path | None = None) -> Path:
    """The SQLite file `tune` keeps its studies in when tune.storage is "": under the
    repository (absolute: DVC's queued experiments run in temporary copies and must add to
    the same study)."""
    from pipeline.tracking.runs import repository_root

    return repository_root(root) / "models" / "tune" / "optuna.db"


def storage_url(cfg, root: Path | None = None) -> str:
    """`tune.storage`, or the default SQLite storage (its folder created)."""
    if cfg.storage:
        return cfg.storage
    path = default_storage(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def study_name(dataset: str, model: str) -> str:
    """The study of `model` on `dataset`: `fashion_mnist-dcgan`."""
    from pipeline.tracking.runs import experiment_name

    return f"{experiment_name(dataset)}-{model}"


def trial_counts(study) -> dict[str, int]:
    """How many of a study's trials completed, were pruned, failed or still run."""
    import optuna

    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    return {
        "complete": sum(t.state == states.COMPLETE for t in trials),
        "pruned": sum(t.state == states.PRUNED for t in trials),
        "failed": sum(t.state == states.FAIL for t in trials),
        "running": sum(t.state == states.RUNNING for t in trials),
    }


def shown_url(url: str) -> str:
    """The storage URL without its password, for logs and MLflow tags."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a database URL; Optuna will say what is wrong with it
        return url


@dataclass
class StudySummary:
    """What `tune` prints and returns."""

    study: str
    storage: str
    best_number: int
    best_value: float
    metric: str
    counts: dict[str, int]
    command: str
    best_params_file: Path
    queued: list[str]


def override_keys(params: Mapping, model: str, values: Mapping) -> list[str]:
    """`-S` overrides applying `values` to models.<model>.*: `key=value` for a key that
    params.yaml has, `+key=value` (Hydra's append) for a new one."""
    own = ((params.get("models") or {}).get(model)) or {}
    return [
        f"{'' if name in own else '+'}models.{model}.{name}={value!r}"
        for name, value in values.items()
    ]


def apply_command(params: Mapping, model: str, values: Mapping) -> str:
    return "dvc exp run " + " ".join(f"-S '{o}'" for o in override_keys(params, model, values))


def conclude(
    study, params, model: str, parent, url: str, queue_top: int, out_dir: Path
) -> StudySummary:
    """Write best_params.yaml, log the study's summary to the parent run, queue the best."""
    import optuna

    from pipeline.saved import write_text

    trials = study.get_trials(deepcopy=False)
    counts = trial_counts(study)
    counts.pop("running")  # this worker's trials are over; another's may still run
    if not counts["complete"]:
        parent.finish("FAILED")
        raise TrainingError(
            f"no trial of study {study.study_name} completed ({counts['pruned']} pruned, "
            f"{counts['failed']} failed); raise tune.startup_trials or tune.epochs, or narrow "
            "the tune.* ranges"
        )
    best = study.best_trial
    metric = _metric_key(best)
    command = apply_command(params, model, best.params)
    document = {
        "study": study.study_name,
        "trial": best.number,
        metric: best.value,
        "trials": counts,
        "params": {f"models.{model}.{k}": v for k, v in best.params.items()},
        "command": command,
    }
    target = out_dir / BEST_PARAMS
    out_dir.mkdir(parents=True, exist_ok=True)
    header = (
        f"# The best trial of Optuna study {study.study_name}, at the tuning budget.\n"
        f"# Apply it (retrains {model} only):\n#   {command}\n"
    )
    write_text(header + yaml.safe_dump(document, sort_keys=False), target)
    parent.log_metrics({f"best_{metric}": best.value, **counts}, step=len(trials))
    parent.log_artifact(target)
    parent.finish("FINISHED")
    ranked = sorted(
        (t for t in trials if t.state == optuna.trial.TrialState.COMPLETE),
        key=lambda t: (t.value, t.number),
    )
    queued = [_queue(study.study_name, t, params, model) for t in ranked[:queue_top]]
    return StudySummary(
        study=study.study_name,
        storage=shown_url(url),
        best_number=best.number,
        best_value=best.value,
        metric=metric,
        counts=counts,
        command=command,
        best_params_file=target,
        queued=queued,
    )


def _metric_key(trial) -> str:
    return trial.user_attrs.get("metric", "fid")


def _queue(study: str, trial, params, model: str) -> str:
    """Queue trial's params as a DVC experiment (`dvc queue start` runs the queue)."""
    from pipeline.tracking.retrain import dvc_command, stage_env

    name = f"{study}-t{trial.number}".replace("_", "-")
    command = dvc_command("exp", "run", "--queue", "-n", name)
    for override in override_keys(params, model, trial.params):
        command += ["-S", override]
    result = subprocess.run(command, capture_output=True, text=True, env=stage_env())
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise PipelineError(
            f"`{' '.join(command)}` failed ({detail[-1] if detail else result.returncode}); "
            "is this a git repository with DVC and a commit?"
        )
    return name
