"""MLflow tracking, as DESIGN.md's contract says.

Store: `sqlite:///<repo>/mlruns/mlflow.db` with artifacts in `<repo>/mlruns/artifacts/`,
unless MLFLOW_TRACKING_URI is set. `<repo>` is the real repository even when DVC runs a
queued experiment in a temporary copy (`<repo>/.dvc/tmp/exps/...`), so every run lands
in one store. One experiment per dataset; one run per trained GAN, named after the model.

The training loop talks to a tracker (pipeline.training.tracker); `MlflowTracker` is
the one that records. What the MLflow UI shows of it:
- experiments are tagged as model training (`mlflow.experimentKind`), new ones and ones
  made before the tag existed;
- a run's training data is a dataset input (the run table's Dataset column): the data
  file's name, SHA-256 prefix, path and split sizes;
- the generator is a Keras model with a signature (its inputs and output, from the model
  itself) and a two-row input example, so `mlflow.pyfunc.load_model(uri).predict` works.

Opening the store, its bounded waits and its one-line failures are
pipeline.tracking.store's.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from pipeline.errors import TrackingError
from pipeline.tracking.store import (
    TRACKING_ENV,
    StoreUnavailable,
    artifact_location,
    call_store,
    diagnose,
    open_client,
    tracking_timeout,
)
from pipeline.training.tracker import NullTracker

if TYPE_CHECKING:
    from pipeline.data.described import DataInput

T = TypeVar("T")

# The tag the MLflow UI reads for what an experiment is, and its value for classic model
# training (the frontend's ExperimentKind.CUSTOM_MODEL_DEVELOPMENT; the other values are
# genai_development, finetuning, regression, ...). MLflow 3.17's UI opens an experiment on
# the view of the sidebar's "GenAI | Model training" switch (README, MLflow) and earlier
# 3.x UIs on the view this tag names.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
TRAINING_CONTEXT = "training"  # the dataset input's context (mlflow.data.context)


def repository_root(start: Path | None = None) -> Path:
    """The repo that owns `start`; a DVC temp copy maps back to its original repo."""
    start = (start or Path.cwd()).resolve()
    parts = start.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return start


def tracking_uri(root: Path | None = None) -> str:
    if os.environ.get(TRACKING_ENV):
        return os.environ[TRACKING_ENV]
    return f"sqlite:///{repository_root(root) / 'mlruns' / 'mlflow.db'}"


def experiment_name(dataset_name: str) -> str:
    """One MLflow experiment per dataset; `folder:/a/b` becomes `folder-b`."""
    if dataset_name.startswith("folder:"):
        return "folder-" + (Path(dataset_name[len("folder:") :]).name or "images")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset_name)


def git_commit(cwd: Path | None = None) -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def run_tags(model: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Tags every run carries: model, git commit, DVC experiment (when under `dvc exp`)."""
    tags = {"model": model}
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags["git_commit"] = commit
    for env, tag in (("DVC_EXP_NAME", "dvc_experiment"), ("DVC_EXP_BASELINE_REV", "dvc_baseline")):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    return {**tags, **(extra or {})}


# --- the tracker ------------------------------------------------------------------------


class MlflowTracker(NullTracker):
    """One MLflow run. Resumes `run_id` when given (a killed run continuing).

    Every store call waits at most `timeout` seconds (GAN_ZOO_TRACKING_TIMEOUT). Once one
    has failed, the tracker leaves the store alone: `finish` does nothing, and the run
    stays as it was for the next run (resumed from its checkpoint) to continue."""

    def __init__(
        self,
        experiment: str,
        run_name: str,
        tags: dict[str, str],
        run_id: str | None = None,
        uri: str | None = None,
        timeout: float | None = None,
    ):
        import mlflow

        self.uri = uri or tracking_uri()
        self.timeout = tracking_timeout() if timeout is None else timeout
        self.pending: list[tuple[Any, list]] = []  # queued metric writes and their batches
        self.failed: TrackingError | None = None
        self.client = self._store(open_client, self.uri, self.timeout)
        mlflow.set_tracking_uri(self.uri)
        self.experiment_id = self._store(self._experiment_id, experiment)
        self.run_id = self._store(self._open_run, run_name, tags, run_id)

    def _store(self, call: Callable[..., T], *args, **kwargs) -> T:
        """`call(*args, **kwargs)` against the store, its failure remembered."""
        try:
            return call_store(lambda: call(*args, **kwargs), self.uri, self.timeout)
        except TrackingError as error:
            self.failed = error
            raise

    def _experiment_id(self, name: str) -> str:
        """The experiment `name`, created when missing; either way tagged as model training
        (a store made before the tag existed gets it here; a kind set by hand is kept)."""
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                return self.client.create_experiment(
                    name,
                    artifact_location=artifact_location(self.uri),
                    tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING},
                )
            except MlflowException as error:
                if error.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                # another process (a second queued experiment) created it meanwhile
                found = self.client.get_experiment_by_name(name)
        if EXPERIMENT_KIND_TAG not in found.tags:
            self.client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
        return found.experiment_id

    def _open_run(self, run_name: str, tags: dict[str, str], run_id: str | None) -> str:
        if run_id and self._exists(run_id):
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        return self.client.create_run(self.experiment_id, run_name=run_name, tags=tags).info.run_id

    def _exists(self, run_id: str) -> bool:
        """Whether the store has the run; only "no such run" is a no (a locked store is
        not, or a resumed run would start a second MLflow run)."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_run(run_id)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise
        return True

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        logged = self._store(self.client.get_run, self.run_id).data.params
        fresh = [Param(k, str(v)) for k, v in params.items() if k not in logged]
        for start in range(0, len(fresh), 100):  # MLflow's per-batch limit
            self._store(self.client.log_batch, self.run_id, params=fresh[start : start + 100])

    def log_input(self, data: DataInput) -> None:
        """`data` as the run's training dataset input, unless the run has it already (a
        resumed run: the same name and digest are not logged twice)."""
        self._store(self._log_input, data)

    def _log_input(self, data: DataInput) -> None:
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        from pipeline.tracking.logged import dataset_entity

        inputs = self.client.get_run(self.run_id).inputs
        for logged in inputs.dataset_inputs if inputs else []:
            if (logged.dataset.name, logged.dataset.digest) == (data.name, data.digest):
                return
        tags = [InputTag(MLFLOW_DATASET_CONTEXT, TRAINING_CONTEXT)]
        # the file in the real repository, not in a DVC temp copy
        source = data.path if data.path.is_absolute() else repository_root() / data.path
        entity = dataset_entity(data, source)
        self.client.log_inputs(self.run_id, [DatasetInput(entity, tags)])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        # Queued, not written inline: a SQLite write per logged step would slow the fast
        # models noticeably. finish() waits for the queue.
        operation = self._store(
            self.client.log_batch, self.run_id, metrics=batch, synchronous=False
        )
        self.pending.append((operation, batch))

    def log_image(self, picture: np.ndarray, artifact_file: str) -> None:
        self._store(self.client.log_image, self.run_id, picture, artifact_file=artifact_file)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._store(self.client.log_artifact, self.run_id, str(path), artifact_path)

    def log_dict(self, payload: dict, artifact_file: str) -> None:
        self._store(self.client.log_dict, self.run_id, payload, artifact_file)

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self._store(self.client.set_tag, self.run_id, key, value)

    def log_generator(self, generator) -> None:
        """The generator as an MLflow Keras model (loadable with mlflow.keras.load_model).

        A generator whose upload was killed stays PENDING in MLflow; it is marked FAILED
        first, so the run holds one finished generator (the registry takes the newest
        READY one)."""
        self._store(self._fail_unfinished_generators)
        self._store(self._log_generator, generator)

    def _fail_unfinished_generators(self) -> None:
        from mlflow.entities import LoggedModelStatus

        # by status in Python: MLflow 3.17's SQL store compares `status = 'PENDING'` with
        # the integer it stores, and never matches
        logged = self.client.search_logged_models(
            [self.experiment_id],
            filter_string=f"source_run_id = '{self.run_id}' AND name = 'generator'",
        )
        for model in logged:
            if model.status == LoggedModelStatus.PENDING:
                self.client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)

    def _log_generator(self, generator) -> None:
        import keras
        import mlflow
        import tensorflow as tf
        from mlflow.models import Model

        from pipeline.tracking.logged import KerasFlavor, generator_example, generator_signature

        requirements = [f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}"]
        # in the run (not Model.log(run_id=...), which files the model under the default
        # experiment when no run is active)
        with mlflow.start_run(run_id=self.run_id):
            Model.log(
                None,  # artifact_path: deprecated for `name`
                flavor=KerasFlavor,
                flavor_name="mlflow.keras",  # what mlflow.keras.log_model records
                name="generator",
                model=generator,
                signature=generator_signature(generator),
                input_example=generator_example(generator),
                pip_requirements=requirements,
                # MLflow would load the model again to predict the example (a second or so,
                # and a Keras progress bar in train's output); tests/test_mlflow_inputs.py does
                validate_serving_input=False,
            )

    def finish(self, status: str = "FINISHED") -> None:
        """Wait for the queued metrics (a batch that failed is written again), then end the
        run with `status`. Ending a run as FAILED or KILLED is best effort: the error that
        stopped it is the one to report."""
        if self.failed is not None:
            return  # the store failed: leave the run for the next (resumed) run
        try:
            self._drain()
            self._store(self.client.set_terminated, self.run_id, status=status)
        except TrackingError:
            if status == "FINISHED":
                raise

    def _drain(self) -> None:
        for operation, batch in self.pending:
            try:
                operation.wait()
            except Exception as error:
                if diagnose(error) is None:
                    raise
                self._store(self.client.log_batch, self.run_id, metrics=batch)
        self.pending.clear()


def training_data(data, path: Path) -> DataInput:
    """The data file at `path` that a run with data params `data` (a DataConfig) trains on,
    as the run's input: named after the dataset as its experiment is (`fashion_mnist`); a
    file another stage made from the dataset is named after that stage's folder too
    (data/edges/pairs.npz: `fashion_mnist-edges`). `path` is the family's data file
    (`get_family(model).inputs.data_file(data)`). Hashes the file once."""
    from pipeline.data.described import describe_data_file
    from pipeline.data.store import dataset_path

    name = experiment_name(data.dataset)
    if Path(path) != dataset_path(data):
        name = f"{name}-{Path(path).parent.name}"
    return describe_data_file(name, Path(path))


@contextmanager
def logging_after_training(model: str, out: Path) -> Iterator[None]:
    """Around what train logs once its outputs are written: a store failure there says so,
    and that running train again only logs (it resumes from the final checkpoint)."""
    try:
        yield
    except StoreUnavailable as error:
        raise error.after(
            f"train@{model} finished and wrote {out}/, but MLflow did not record its run",
            f"then `dvc repro train@{model}` (or `python -m pipeline train --model {model}`) "
            "resumes from the final checkpoint and only logs",
        ) from error
