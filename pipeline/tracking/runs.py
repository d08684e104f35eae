"""MLflow tracking, as DESIGN.md's contract says.

Store: `sqlite:///<repo>/mlruns/mlflow.db` with artifacts in `<repo>/mlruns/artifacts/`,
unless MLFLOW_TRACKING_URI is set. `<repo>` is the real repository even when DVC runs a
queued experiment in a temporary copy (`<repo>/.dvc/tmp/exps/...`), so every run lands
in one store. One experiment per dataset; one run per trained GAN, named after the model.

The training loop talks to a tracker (pipeline.training.tracker); `MlflowTracker` is
the one that records.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.training.tracker import NullTracker

TRACKING_ENV = "MLFLOW_TRACKING_URI"


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


def artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite store sit beside it (mlruns/artifacts); servers choose their own."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
    return None


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


class MlflowTracker(NullTracker):
    """One MLflow run. Resumes `run_id` when given (a killed run continuing)."""

    def __init__(
        self,
        experiment: str,
        run_name: str,
        tags: dict[str, str],
        run_id: str | None = None,
        uri: str | None = None,
    ):
        import mlflow
        from mlflow.tracking import MlflowClient

        self.uri = uri or tracking_uri()
        self.pending: list = []  # queued metric writes (RunOperations)
        if self.uri.startswith("sqlite:///"):
            Path(self.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.uri)
        self.client = MlflowClient(self.uri)
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            experiment_id = self.client.create_experiment(
                experiment, artifact_location=artifact_location(self.uri)
            )
        else:
            experiment_id = found.experiment_id
        if run_id and self._exists(run_id):
            self.run_id = run_id
            self.client.update_run(run_id, status="RUNNING")
        else:
            run = self.client.create_run(experiment_id, run_name=run_name, tags=tags)
            self.run_id = run.info.run_id

    def _exists(self, run_id: str) -> bool:
        try:
            self.client.get_run(run_id)
        except Exception:  # MlflowException for an unknown id: start a new run instead
            return False
        return True

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        logged = self.client.get_run(self.run_id).data.params
        fresh = [Param(k, str(v)) for k, v in params.items() if k not in logged]
        for start in range(0, len(fresh), 100):  # MLflow's per-batch limit
            self.client.log_batch(self.run_id, params=fresh[start : start + 100])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        # Queued, not written inline: a SQLite write per logged step would slow the fast
        # models noticeably. finish() waits for the queue.
        self.pending.append(self.client.log_batch(self.run_id, metrics=batch, synchronous=False))

    def log_image(self, picture: np.ndarray, artifact_file: str) -> None:
        self.client.log_image(self.run_id, picture, artifact_file=artifact_file)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_dict(self, payload: dict, artifact_file: str) -> None:
        self.client.log_dict(self.run_id, payload, artifact_file)

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)

    def log_generator(self, generator) -> None:
        """The generator as an MLflow Keras model (loadable with mlflow.keras.load_model)."""
        import keras
        import mlflow
        import tensorflow as tf

        requirements = [f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}"]
        with mlflow.start_run(run_id=self.run_id):
            mlflow.keras.log_model(generator, name="generator", pip_requirements=requirements)

    def finish(self, status: str = "FINISHED") -> None:
        for operation in self.pending:
            operation.wait()
        self.pending.clear()
        self.client.set_terminated(self.run_id, status=status)
