"""Where each GAN came from, read from the MLflow store through the project's tracking
code: its run (models/NAME/run.json), the git commit the run was tagged with, its
registered version and whether that version is the champion, and how long it trained.

The report is a reader: it never creates a store (a missing SQLite file stays missing),
waits at most REPORT_TIMEOUT seconds for one, and when the store is missing or fails it
says "not recorded" for what only the store knows, with one warning line on stderr. The
page is written either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.tracking.runs import experiment_name, tracking_uri
from pipeline.tracking.store import call_store, open_client, tracking_timeout

REPORT_TIMEOUT = 20.0  # seconds; GAN_ZOO_TRACKING_TIMEOUT may lower it
NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class Provenance:
    """What the store says about one GAN's run; None where it says nothing."""

    run_id: str | None = None  # models/NAME/run.json
    commit: str | None = None  # the run's git_commit tag
    dvc_experiment: str | None = None  # the run's dvc_experiment tag (under `dvc exp run`)
    registered: str | None = None  # registered model name, e.g. fashion_mnist-dcgan
    version: str | None = None  # the run's version of it
    champion: bool | None = None  # whether that version holds the alias `champion`
    champion_version: str | None = None  # the champion's version (maybe another run's)
    training_seconds: float | None = None  # first to last logged loss, wall clock
    note: str = ""  # why something is missing, one line


@dataclass
class Store:
    """The MLflow store, opened once for the whole report (or the reason it is not)."""

    uri: str
    client: Any = None  # mlflow.MlflowClient, None when unavailable
    problem: str = ""  # why it is unavailable, one line
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, uri: str | None = None) -> Store:
        uri = uri or tracking_uri()
        timeout = min(tracking_timeout(), REPORT_TIMEOUT)
        if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
            return cls._without(uri, f"no MLflow store at {uri.removeprefix('sqlite:///')}")
        try:
            client = call_store(lambda: open_client(uri, timeout), uri, timeout)
        except PipelineError as error:
            return cls._without(uri, str(error))
        return cls(uri, client)

    @classmethod
    def _without(cls, uri: str, problem: str) -> Store:
        store = cls(uri, None, problem)
        store.warnings.append(
            f"{problem}; the report says '{NOT_RECORDED}' for runs, commits and registry versions"
        )
        return store

    def _call(self, call):
        """`call()` against the store; a store failure disables it for the rest of the
        report (one warning) and returns None."""
        if self.client is None:
            return None
        timeout = min(tracking_timeout(), REPORT_TIMEOUT)
        try:
            return call_store(call, self.uri, timeout)
        except PipelineError as error:
            self.client, self.problem = None, str(error)
            self.warnings.append(
                f"the MLflow store failed while the report read it ({error}); the rest says "
                f"'{NOT_RECORDED}'"
            )
            return None

    def provenance(
        self, dataset: str, model: str, run_id: str | None, loss_key: str | None
    ) -> Provenance:
        """The run, commit, version and champion of `model`'s run `run_id`."""
        if not run_id:
            return Provenance(note=f"no MLflow run in models/{model}/run.json")
        if self.client is None:
            return Provenance(run_id=run_id, note=self.problem)
        found = self._call(lambda: _lookup(self.client, dataset, model, run_id, loss_key))
        return found if found is not None else Provenance(run_id=run_id, note=self.problem)

    def experiment_scores(
        self, dataset: str, experiments: Iterable[str], key: str = "fid"
    ) -> dict[str, dict[str, float]]:
        """{DVC experiment: {model: its `key`}} from runs tagged dvc_experiment (the newest
        run per experiment and model)."""
        wanted = set(experiments)
        if self.client is None or not wanted:
            return {}
        found = self._call(lambda: _experiment_scores(self.client, dataset, wanted, key))
        return found or {}


def _lookup(client, dataset: str, model: str, run_id: str, loss_key: str | None) -> Provenance:
    from mlflow.exceptions import MlflowException

    from pipeline.tracking.registry import CHAMPION, registered_name, version_of_run

    try:
        run = client.get_run(run_id)
    except MlflowException:
        return Provenance(run_id=run_id, note=f"run {run_id} is not in the store")
    tags = run.data.tags
    name = registered_name(dataset, model)
    version = version_of_run(client, name, run_id)
    champion_version = None
    if version is not None:
        aliases = client.get_registered_model(name).aliases
        champion_version = str(aliases[CHAMPION]) if CHAMPION in aliases else None
    return Provenance(
        run_id=run_id,
        commit=tags.get("git_commit") or tags.get("mlflow.source.git.commit"),
        dvc_experiment=tags.get("dvc_experiment"),
        registered=name if version is not None else None,
        version=str(version.version) if version is not None else None,
        champion=None if version is None else champion_version == str(version.version),
        champion_version=champion_version,
        training_seconds=_logged_span(client, run_id, loss_key),
        note="" if version is not None else "not registered (evaluate registers it)",
    )


def _logged_span(client, run_id: str, key: str | None) -> float | None:
    """Seconds from the first to the last logged value of `key` (the training's wall
    clock, a resumed run's pause included); None with fewer than two values."""
    if not key:
        return None
    stamps = [m.timestamp for m in client.get_metric_history(run_id, key)]
    return (max(stamps) - min(stamps)) / 1000 if len(stamps) > 1 else None


def _experiment_scores(client, dataset: str, wanted: set[str], key: str) -> dict:
    experiment = client.get_experiment_by_name(experiment_name(dataset))
    if experiment is None:
        return {}
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.dvc_experiment != ''",
        order_by=["attributes.start_time DESC"],
        max_results=2000,
    )
    scores: dict[str, dict[str, float]] = {}
    for run in runs:  # newest first: the first run of an (experiment, model) wins
        name, model = run.data.tags.get("dvc_experiment"), run.data.tags.get("model")
        value = run.data.metrics.get(key)
        if name in wanted and model and value is not None:
            scores.setdefault(name, {}).setdefault(model, value)
    return scores
