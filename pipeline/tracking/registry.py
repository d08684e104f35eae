"""The MLflow model registry: every evaluated generator is a version of `<dataset>-<model>`
(e.g. `fashion_mnist-dcgan`), and the alias `champion` marks the one to use.

Why a registry on top of the runs: a run records what happened, a registered version says
which generator to use. `sample --model-uri models:/fashion_mnist-dcgan@champion` keeps
drawing from the best generator while models/dcgan/ is retrained into a worse one, and
every version stays loadable (aliases move; versions are never deleted).

Source of a version: `models:/<model_id>`, the LoggedModel that `log_generator` made. In
MLflow 3 a version with the source `runs:/<run_id>/generator` registers but cannot be
downloaded: the run has no artifacts under `generator` (a LoggedModel keeps its files
under `models/<model_id>/artifacts`). `mlflow.register_model` maps runs:/ to models:/
itself, but prints to stderr and looks up through the global client; we look it up here.

A version's FID, its sample count and the evaluator it was measured with are version tags,
so promotion needs no run lookup, and refuses to compare FIDs measured differently
(DESIGN.md: compare FIDs only at the same sample count, and a new evaluator is a new
yardstick).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import RunConfig
from pipeline.errors import PipelineError
from pipeline.gans.families import resolve_run
from pipeline.tracking.runs import experiment_name, tracking_uri
from pipeline.tracking.store import call_store, open_client, tracking_timeout

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

CHAMPION = "champion"
GENERATOR_NAME = "generator"  # the name log_generator gives the LoggedModel
RETRAIN_HINT = "run `python -m pipeline retrain` first"


def registered_name(dataset: str, model: str) -> str:
    """`fashion_mnist-dcgan`: the experiment of the dataset, then the model."""
    return f"{experiment_name(dataset)}-{model}"


def registry_client(uri: str | None = None) -> MlflowClient:
    """A client on the pipeline's store (created once, waited for: store.open_client). It
    also sets the global tracking URI: MLflow's SQLite registry resolves a
    `models:/<model_id>` source through the global client."""
    import mlflow

    uri = uri or tracking_uri()
    client = call_store(lambda: open_client(uri), uri, tracking_timeout())
    mlflow.set_tracking_uri(uri)
    return client


def file_digest(path: Path) -> str:
    """A short SHA-256 of a file (the evaluator's identity); "" when it is missing."""
    if not path.is_file():
        return ""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


# --- registering -----------------------------------------------------------------------


def register_scored_run(
    client: MlflowClient,
    dataset: str,
    model: str,
    run_id: str,
    scores: Mapping[str, float],
    fid_samples: int,
    evaluator: str,
) -> ModelVersion | None:
    """The registered version of `run_id`'s generator, tagged with its FID; None when the
    scores have no FID (nothing to judge it by).

    Idempotent: a run that has a version keeps it (evaluating it again refreshes the score
    tags instead of adding a second version), so a locked store is simply tried again
    (store.call_store)."""
    fid = scores.get("fid")
    if fid is None or not math.isfinite(fid):
        return None
    tags = {
        "model": model,
        "dataset": dataset,
        "fid": repr(float(fid)),  # repr: exact, so equal FIDs compare equal
        "fid_samples": str(fid_samples),
        "evaluator": evaluator,
    }
    return call_store(
        lambda: _register_version(client, dataset, model, run_id, tags),
        client.tracking_uri,
        tracking_timeout(),
    )


def _register_version(
    client: MlflowClient, dataset: str, model: str, run_id: str, tags: dict[str, str]
) -> ModelVersion:
    """The store's part of register_scored_run: the version of `run_id`, made or updated."""
    name = registered_name(dataset, model)
    _ensure_registered_model(client, name, model, dataset)
    existing = version_of_run(client, name, run_id)
    if existing is not None:
        for key, value in tags.items():
            if existing.tags.get(key) != value:
                client.set_model_version_tag(name, existing.version, key, value)
        return client.get_model_version(name, existing.version)
    logged = _logged_generator(client, run_id, model)
    return client.create_model_version(
        name,
        source=logged.model_uri,  # models:/<model_id> (see the module docstring)
        run_id=run_id,
        tags=tags,
        description=f"{model} generator of run {run_id}, trained on {dataset}",
        model_id=logged.model_id,
    )


def version_of_run(client: MlflowClient, name: str, run_id: str) -> ModelVersion | None:
    """The version registered from `run_id`, if any (the oldest, should there be two)."""
    found = client.search_model_versions(f"name = '{name}' AND run_id = '{run_id}'")
    return min(found, key=lambda v: int(v.version)) if found else None


def _ensure_registered_model(client: MlflowClient, name: str, model: str, dataset: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return
    except MlflowException:
        pass
    try:
        client.create_registered_model(
            name,
            tags={"model": model, "dataset": dataset},
            description=(
                f"{model} generators trained on {dataset}, one version per evaluated run; "
                f"the alias `{CHAMPION}` marks the lowest FID (python -m pipeline retrain)."
            ),
        )
    except MlflowException:
        # Created meanwhile by a concurrent evaluate (two `dvc exp` jobs): fine if it exists.
        client.get_registered_model(name)


def _logged_generator(client: MlflowClient, run_id: str, model: str):
    """The LoggedModel `generator` of the run: the newest READY one (a resumed run may have
    logged two, and an upload killed midway leaves one PENDING)."""
    from mlflow.entities import LoggedModelStatus
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise PipelineError(
            f"MLflow run {run_id} (models/{model}/run.json) is not in the store "
            f"{client.tracking_uri}; set MLFLOW_TRACKING_URI to the store it was logged to"
        ) from None
    found = client.search_logged_models(
        [run.info.experiment_id],
        filter_string=f"source_run_id = '{run_id}' AND name = '{GENERATOR_NAME}'",
        order_by=[{"field_name": "creation_timestamp", "ascending": False}],
    )
    # by status here: the SQL store never matches a filter `status = 'READY'` (it stores ints)
    found = [logged for logged in found if logged.status == LoggedModelStatus.READY]
    if not found:
        raise PipelineError(
            f"MLflow run {run_id} has no logged generator to register; train it again: "
            f"`dvc repro -f train@{model}`"
        )
    return found[0]


# --- promoting -------------------------------------------------------------------------


@dataclass(frozen=True)
class Promotion:
    """What promotion decided for one version; str() is the line to print."""

    name: str
    version: str
    fid: float
    champion: str | None  # the champion before the decision (None: there was none)
    champion_fid: float | None
    promoted: bool
    line: str

    def __str__(self) -> str:
        return self.line


def decide(client: MlflowClient, name: str, version: str | int) -> Promotion:
    """Whether `version` should become champion (no changes made): yes when there is no
    champion or its FID is strictly lower; equal or worse keeps the champion; FIDs measured
    differently are not compared."""
    candidate = client.get_model_version(name, str(version))
    v, fid = str(candidate.version), _fid(candidate)
    current = client.get_registered_model(name).aliases.get(CHAMPION)
    current = None if current is None else str(current)  # the SQLite store gives ints
    if current is None:
        line = f"v{v} (FID {fid:.4g}) is the first champion; champion -> v{v}"
        return Promotion(name, v, fid, None, None, True, f"{name}: {line}")
    champion = client.get_model_version(name, str(current))
    best = _fid(champion)

    def kept(line: str) -> Promotion:
        return Promotion(name, v, fid, current, best, False, f"{name}: {line}")

    if current == v:
        return kept(f"v{v} is already champion (FID {fid:.4g})")
    differs = _yardstick_difference(champion, candidate)
    if differs:
        return kept(
            f"kept champion v{current}: its FID and v{v}'s are not comparable ({differs}); "
            "`retrain` measures the champion again"
        )
    if fid < best:
        line = f"v{v} FID {fid:.4g} beats champion v{current} ({best:.4g}); champion -> v{v}"
        return Promotion(name, v, fid, current, best, True, f"{name}: {line}")
    return kept(f"kept champion v{current} (FID {best:.4g} <= {fid:.4g} of v{v})")


def remeasure_champion(
    client: MlflowClient, name: str, candidate: str | int, params: Mapping[str, Any]
) -> str | None:
    """When the champion's FID was measured otherwise than `candidate`'s (another sample
    count, or an evaluator since retrained, e.g. on new data), score the champion again
    with today's evaluator and evaluate.* and retag it, so the two compare. Returns the
    line to print, or None when nothing needed measuring."""
    from pipeline.config import parse_evaluate
    from pipeline.gans.inputs import task_for
    from pipeline.saved import EVALUATOR_DIR
    from pipeline.scoring.reference import Reference
    from pipeline.scoring.score import score_generator

    current = client.get_registered_model(name).aliases.get(CHAMPION)
    if current is None or str(current) == str(candidate):
        return None
    champion = client.get_model_version(name, str(current))
    if not _yardstick_difference(champion, client.get_model_version(name, str(candidate))):
        return None
    run, generator = registered_run(params, None, f"models:/{name}@{CHAMPION}")
    cfg = parse_evaluate(params)
    task = task_for(run, with_training_data=False)
    fid = score_generator(generator, task, Reference.load(), cfg, names=("fid",))[2]["fid"]
    tags = {
        "fid": repr(float(fid)),
        "fid_samples": str(cfg.n_samples),
        "evaluator": file_digest(EVALUATOR_DIR / "model.keras"),
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, champion.version, key, value)
    return (
        f"{name}: re-measured champion v{champion.version} with the current evaluator and "
        f"{cfg.n_samples} samples: FID {_fid(champion):.4g} -> {fid:.4g}"
    )


def promote_if_better(client: MlflowClient, name: str, version: str | int) -> Promotion:
    """`decide`, then move the alias `champion` when it says so. No version is deleted."""
    result = decide(client, name, version)
    if result.promoted:
        client.set_registered_model_alias(name, CHAMPION, result.version)
    return result


def _fid(version: ModelVersion) -> float:
    try:
        return float(version.tags["fid"])
    except (KeyError, ValueError):
        model = version.tags.get("model", "MODEL")
        raise PipelineError(
            f"{version.name} v{version.version} has no `fid` tag; tag it in the MLflow UI "
            f"or, if it is the current run, evaluate it again: `dvc repro -f evaluate@{model}`"
        ) from None


def _yardstick_difference(a: ModelVersion, b: ModelVersion) -> str:
    """Why the FIDs of two versions cannot be compared ("" when they can). A missing tag
    (a version tagged by hand) is taken to match."""
    for key, what in (("fid_samples", "samples"), ("evaluator", "evaluator")):
        first, second = a.tags.get(key), b.tags.get(key)
        if first and second and first != second:
            return f"{what} {second} vs {first}"
    return ""


# --- loading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredGenerator:
    """A generator loaded from the registry, with what `sample` needs to draw from it."""

    generator: Any  # keras.Model
    model: str  # the family (gan, dcgan, ...), from the version's `model` tag
    dataset: str
    name: str
    version: str


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """`models:/NAME@ALIAS` -> (NAME, ALIAS, None); `models:/NAME/VERSION` -> (NAME, None,
    VERSION)."""
    usage = f"--model-uri must be models:/NAME@ALIAS or models:/NAME/VERSION, got {uri!r}"
    if not uri.startswith("models:/"):
        raise PipelineError(usage)
    rest = uri.removeprefix("models:/")
    if "@" in rest:
        name, alias = rest.rsplit("@", 1)
        if name and alias:
            return name, alias, None
    elif "/" in rest:
        name, version = rest.rsplit("/", 1)
        if name and version.isdigit():
            return name, None, version
    raise PipelineError(usage)


def resolve_version(client: MlflowClient, uri: str) -> ModelVersion:
    """The version a `models:/` URI names, with one-line errors naming the fix."""
    from mlflow.exceptions import MlflowException

    name, alias, number = parse_model_uri(uri)
    try:
        registered = client.get_registered_model(name)
    except MlflowException:
        known = sorted(m.name for m in client.search_registered_models())
        listing = f"registered: {', '.join(known)}" if known else "none is registered yet"
        raise PipelineError(f"no registered model {name} ({listing}); {RETRAIN_HINT}") from None
    if alias is not None:
        if alias not in registered.aliases:
            raise PipelineError(f"no version of {name} has the alias {alias}; {RETRAIN_HINT}")
        number = registered.aliases[alias]
    try:
        return client.get_model_version(name, str(number))
    except MlflowException:
        raise PipelineError(
            f"{name} has no version {number}; list them in the MLflow UI (Models > {name})"
        ) from None


def load_registered_generator(uri: str, client: MlflowClient | None = None) -> RegisteredGenerator:
    """The Keras generator a `models:/` URI names, and its family (the `model` tag)."""
    import mlflow

    parse_model_uri(uri)  # a malformed URI is the first thing to name
    store = tracking_uri()
    if client is None:
        if store.startswith("sqlite:///") and not Path(store.removeprefix("sqlite:///")).is_file():
            raise PipelineError(f"no MLflow store at {store}; {RETRAIN_HINT}")
        client = registry_client(store)
    version = resolve_version(client, uri)
    model = version.tags.get("model")
    if not model:
        raise PipelineError(f"{version.name} v{version.version} has no `model` tag; tag it")
    import pipeline.gans.blocks  # noqa: F401  (the zoo's custom layers, to load a generator)

    generator = mlflow.keras.load_model(
        f"models:/{version.name}/{version.version}", load_model_kwargs={"compile": False}
    )
    return RegisteredGenerator(
        generator, model, version.tags.get("dataset", ""), version.name, str(version.version)
    )


def registered_run(
    params: Mapping[str, Any],
    model: str | None,
    model_uri: str,
) -> tuple[RunConfig, Any]:
    """The run config and generator of a registered version: the family from its tag, the
    latent size from the generator itself (params.yaml may have changed since)."""
    from pipeline.gans.families import get_family
    from pipeline.gans.inputs import LATENT

    found = load_registered_generator(model_uri)
    if model is not None and model != found.model:
        raise PipelineError(
            f"--model {model} disagrees with {model_uri}, a {found.model} generator; drop --model"
        )
    run = resolve_run(params, found.model)
    # Labels and edge pairs come from data.dataset: they must be the ones it learned.
    needs_data = get_family(found.model).inputs is not LATENT
    if needs_data and found.dataset and found.dataset != run.data.dataset:
        raise PipelineError(
            f"{model_uri} was trained on {found.dataset} but data.dataset is "
            f"{run.data.dataset}; set data.dataset: {found.dataset} (and fetch it)"
        )
    latent = found.generator.inputs[0].shape
    if len(latent) == 2:  # [B, latent_dim]: a generator of noise
        train = dataclasses.replace(run.train, latent_dim=int(latent[-1]))
        run = dataclasses.replace(run, train=train)
    return run, found.generator
