"""Optuna tuning of one GAN: `python -m pipeline tune --model NAME --trials N`.

A study searches the four hyperparameters GANs are most sensitive to (seed 004): the
learning rate (log scale), Adam's beta_1, the discriminator steps per generator step and
the discriminator dropout, within the ranges of `tune.*`. Each trial trains the model for
a short budget (`tune.epochs` x `tune.steps_per_epoch`) with the in-training FID every
epoch. That FID, not a GAN loss (a poor signal: it says who is winning, not how good the
samples are), is reported to Optuna each epoch so the median pruner can stop weak trials,
and its last value is the objective. TPE is seeded (`tune.seed`).

Everything lands in MLflow, in the dataset's experiment beside the trained GANs: one
parent run per study (`tune-NAME`) and one child run per trial with its params, loss and
FID curves, tagged `optuna.state` (COMPLETE, PRUNED or FAIL).

The best trial's values are written to models/NAME/best_params.yaml under their params.yaml
keys, `models.NAME.<param>` (so applying them retrains NAME only), with the
`dvc exp run -S ...` line that applies them; `--queue-top K` queues the K best as DVC
experiments instead.

Storage: SQLite at <repo>/models/tune/optuna.db by default (one worker); a PostgreSQL URL
in `tune.storage` lets several workers share one study (docs/tuning.md).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig, TuneConfig, load_params, parse_tune
from pipeline.errors import ConfigError, PipelineError, TrainingError
from pipeline.gans.families import get_family, resolve_run
from pipeline.training.loop import Callback
from pipeline.tuning.results import (
    StudySummary,
    conclude,
    shown_url,
    storage_url,
    study_name,
)


def suggest(trial, cfg: TuneConfig) -> dict[str, Any]:
    """The trial's values of the searched hyperparameters."""
    return {
        "lr": trial.suggest_float("lr", *cfg.lr, log=True),
        "beta1": trial.suggest_float("beta1", *cfg.beta1),
        "k_steps": trial.suggest_int("k_steps", *cfg.k_steps),
        "dropout": trial.suggest_float("dropout", *cfg.dropout),
    }


def trial_params(params: Mapping, model: str, values: Mapping, cfg: TuneConfig) -> dict:
    """params.yaml as one trial trains with: `values` under models.<model>.*, the tuning
    budget for the training length, and the in-training FID every epoch."""
    params = copy.deepcopy(dict(params))
    models = params.setdefault("models", {}) or {}
    models[model] = {
        **(models.get(model) or {}),
        **values,
        "epochs": cfg.epochs,
        "steps_per_epoch": cfg.steps_per_epoch,
    }
    params["models"] = models
    params["train"] = {**(params.get("train") or {}), "fid_every": 1}
    return params


def study_fingerprint(run: RunConfig, cfg: TuneConfig) -> str:
    """What makes trials of one study comparable: every param but the searched ones, the
    FID's sample count, the budget and the ranges. A study refuses trials made otherwise."""
    import hashlib
    import json

    searched = tuple(
        f"{prefix}.{name}"
        for name in TuneConfig.SEARCHED
        for prefix in ("train", f"models.{run.model}")
    )
    ranges = {name: list(getattr(cfg, name)) for name in TuneConfig.SEARCHED}
    text = json.dumps(
        [run.fingerprint(ignore=searched), run.train.fid_samples, ranges], sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class PruneOnFid(Callback):
    """Reports the epoch's in-training FID to the trial; raises TrialPruned when the
    pruner says the trial is worse than the others were at the same epoch."""

    def __init__(self, trial, key: str):
        self.trial, self.key = trial, key
        self.curve: list[float] = []

    def on_epoch_end(self, epoch: int, values: dict[str, float]) -> None:
        import optuna

        if self.key not in values:
            return
        value = values[self.key]
        self.curve.append(value)
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"{self.key} {value:.2f} at epoch {epoch}")


def tune(
    params_path: Path,
    model: str,
    trials: int | None = None,
    *,
    worker: int = 0,
    queue_top: int = 0,
    progress: bool = True,
    fid_probe=None,
    out_dir: Path | None = None,
) -> StudySummary:
    """Run `trials` trials (default tune.trials) of the study of `model`, add them to
    what the storage holds, and write the best trial's params. `fid_probe` replaces the
    evaluator's in-training FID (tests)."""
    import optuna

    from pipeline.gans.inputs import task_for
    from pipeline.saved import model_dir
    from pipeline.scoring.probe import make_fid_probe
    from pipeline.tracking.runs import MlflowTracker, experiment_name, run_tags, training_data

    params = load_params(params_path)
    cfg = parse_tune(params)
    trials = trials if trials is not None else cfg.trials
    if trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {trials}")
    base = resolve_run(trial_params(params, model, {}, cfg), model)
    name, url = study_name(base.data.dataset, model), storage_url(cfg)
    study = _open_study(name, url, cfg, worker, study_fingerprint(base, cfg))
    task = task_for(base)
    data = training_data(base.data, get_family(model).inputs.data_file(base.data))  # hashed once
    probe = fid_probe or make_fid_probe(base, True, task)  # a missing evaluator: a clear error
    experiment = experiment_name(base.data.dataset)
    parent = _parent_run(study, experiment, model, url, cfg, worker)

    def objective(trial) -> float:
        values = suggest(trial, cfg)
        run = resolve_run(trial_params(params, model, values, cfg), model)
        tracker = MlflowTracker(
            experiment=experiment,
            run_name=f"{model}-trial-{trial.number}",
            tags=run_tags(
                model,
                {
                    "mlflow.parentRunId": parent.run_id,
                    "optuna.study": name,
                    "optuna.trial": str(trial.number),
                    "dataset": base.data.dataset,
                },
            ),
        )
        return _run_trial(trial, run, task, probe, tracker, values, progress, data)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study.optimize(objective, n_trials=trials, catch=(TrainingError,))
    except BaseException:
        parent.finish("KILLED")
        raise
    return conclude(study, params, model, parent, url, queue_top, out_dir or model_dir(model))


def _open_study(name: str, url: str, cfg: TuneConfig, worker: int, fingerprint: str):
    """The study `name` in `url`, created when new; refused when its trials were made
    with other settings (their FIDs would not compare)."""
    import optuna

    pruner = (
        optuna.pruners.MedianPruner(
            n_startup_trials=cfg.startup_trials,
            n_warmup_steps=cfg.warmup_epochs + 1,  # steps are epochs, counted from 1
        )
        if cfg.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    for attempt in range(3):
        try:
            study = optuna.create_study(
                storage=url,
                study_name=name,
                direction="minimize",
                sampler=optuna.samplers.TPESampler(seed=cfg.seed + worker),
                pruner=pruner,
                load_if_exists=True,
            )
            break
        except Exception as error:  # an unreachable server, a bad URL, a missing driver
            if attempt < 2:  # or workers starting together, both creating the tables
                time.sleep(1.0 + worker * 0.5)
                continue
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise PipelineError(
                f"cannot open the Optuna storage {shown_url(url)} ({type(error).__name__}: "
                f"{detail[:200]}); check tune.storage"
            ) from None
    recorded = study.user_attrs.get("fingerprint")
    if recorded is None:
        study.set_user_attr("fingerprint", fingerprint)
    elif recorded != fingerprint:
        raise ConfigError(
            f"study {name} in {shown_url(url)} was run with other params, budget or ranges; "
            f"its FIDs would not compare: delete it (`optuna delete-study --study-name "
            f"{name} --storage {shown_url(url)}`) or use another tune.storage"
        )
    return study


def _parent_run(study, experiment: str, model: str, url: str, cfg: TuneConfig, worker: int):
    """The study's MLflow parent run, shared by every worker and every `tune` call of the
    study (its id is kept in the study)."""
    from pipeline.tracking.runs import MlflowTracker, run_tags

    run_id = study.user_attrs.get("mlflow_parent_run_id")
    if run_id is None and worker > 0:
        run_id = _wait_for_parent(study)  # worker 0 makes it: one parent, not one per worker
    tracker = MlflowTracker(
        experiment=experiment,
        run_name=f"tune-{model}",
        tags=run_tags(model, {"optuna.study": study.study_name, "optuna.storage": shown_url(url)}),
        run_id=run_id,
    )
    if run_id != tracker.run_id:
        study.set_user_attr("mlflow_parent_run_id", tracker.run_id)
    tracker.log_params({f"tune.{k}": v for k, v in _tune_params(cfg).items()})
    return tracker


def _wait_for_parent(study, seconds: float = 120.0) -> str | None:
    """The parent run id worker 0 records in the study; None (make one) after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(1.0)
        run_id = study.user_attrs.get("mlflow_parent_run_id")  # re-read from the storage
        if run_id is not None:
            return run_id
    return None


def _tune_params(cfg: TuneConfig) -> dict[str, Any]:
    import dataclasses

    values = dataclasses.asdict(cfg)
    values.pop("trials")  # per call, not per study
    values.pop("storage")  # may carry a password; the tag has the redacted URL
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _run_trial(trial, run: RunConfig, task, probe, tracker, values: dict, progress: bool, data):
    """Train one trial into `tracker`'s run (its training data `data` as the run's input);
    its last in-training FID is the objective."""
    import tempfile

    import keras
    import optuna

    from pipeline.training.loop import train

    callback = PruneOnFid(trial, probe.key)
    trial.set_user_attr("metric", probe.key)  # fid2k: the key names the sample count
    state = "FAIL"
    try:
        tracker.log_input(data)
        tracker.log_params(run.flat_params())
        with tempfile.TemporaryDirectory(prefix="tune-") as checkpoints:
            train(
                run,
                task.train_images,
                checkpoint_dir=Path(checkpoints),
                tracker=tracker,
                callbacks=[callback],
                progress=progress,
                fid_probe=probe,
                preview=task.preview,
                labels=task.train_labels,
            )
        state = "COMPLETE"
    except optuna.TrialPruned as pruned:
        state = "PRUNED"
        _say(f"trial {trial.number}: pruned, {pruned} ({_describe(values)})")
        raise
    except TrainingError as error:  # diverged: a FAIL trial, and the study goes on
        _say(f"trial {trial.number}: failed, {error}")
        raise
    finally:
        tracker.set_tags({"optuna.state": state})
        tracker.finish({"COMPLETE": "FINISHED", "PRUNED": "KILLED"}.get(state, "FAILED"))
        keras.backend.clear_session()  # the next trial builds its models afresh
    value = callback.curve[-1]
    _say(f"trial {trial.number}: {probe.key} {value:.3f} ({_describe(values)})")
    return value


def _describe(values: Mapping) -> str:
    return ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )


def _say(line: str) -> None:
    from tqdm import tqdm

    tqdm.write(line)  # between the progress bars, not through them
