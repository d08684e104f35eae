"""Everything the report shows, gathered into dataclasses before any HTML is written.

Per GAN of train.models: its family's declaration (input kind, summary), its resolved
params, and the files its stages wrote (inputs.MODEL_FILES). A file that is missing means
a stage has not run yet: the model gets a row saying which command makes it, not an
error. A file that is there but damaged is a one-line DataError naming it and the stage
that writes it again (pipeline.saved), as everywhere in the pipeline.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import parse_data, parse_train
from pipeline.gans.families import get_family, resolve_run
from pipeline.report.charts import Chart, Series
from pipeline.report.experiments import Experiments, collect_experiments
from pipeline.report.inputs import model_files
from pipeline.report.provenance import Provenance, Store
from pipeline.report.studies import Studies, collect_studies
from pipeline.saved import (
    EDGES,
    EVALUATOR,
    EVALUATOR_DIR,
    LOWRES,
    REFERENCE,
    REFERENCE_DIR,
    Maker,
    read_json,
    trained,
)

# history.csv columns that are not a curve: the x axis, the epoch counter, and the phase
# (a label, drawn as markers where it changes).
STEP, EPOCH, PHASE = "step", "epoch", "phase"


def evaluated(model: str) -> Maker:
    """The stage that writes models/MODEL/metrics.json."""
    return Maker(f"evaluate@{model}", f"evaluate --model {model}")


@dataclass(frozen=True)
class Picture:
    """A PNG, checked to decode, with its size in pixels."""

    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class Param:
    """One of a model's own resolved params (`models.NAME.<key>`)."""

    key: str
    value: Any
    shared: Any = None  # the train.* value it overrides (None: a family param)
    overrides: bool = False
    written: bool = True  # set in params.yaml (False: the family's default)


@dataclass(frozen=True)
class ModelEntry:
    """One GAN of train.models, as the leaderboard and its card show it."""

    name: str
    task: str  # the family's input kind: latent, conditional, classifier, edge pairs, ...
    summary: str
    scores: dict[str, float] | None  # metrics.json; None before evaluate@NAME ran
    status: str  # "" when evaluated, else what to run
    trained: dict[str, Any] = field(default_factory=dict)  # train.json
    samples: Picture | None = None
    losses: Chart | None = None
    fid: Chart | None = None
    params: tuple[Param, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)
    reproduce: str = ""  # the command that makes it again

    @property
    def training_seconds(self) -> float | None:
        recorded = self.trained.get("seconds")
        if isinstance(recorded, int | float):
            return float(recorded)
        return self.provenance.training_seconds


@dataclass(frozen=True)
class DerivedData:
    """A data stage's outputs the page shows: data/<stage>/preview.png and stats.json."""

    stage: str  # edges, lowres
    caption: str
    preview: Picture | None
    stats: dict[str, Any] | None


# The data stages whose pictures and figures the page shows: (stage, its Maker, caption).
DERIVED = (
    ("edges", EDGES, "Canny edge maps (edges.*) and the images they pair with, for pix2pix"),
    ("lowres", LOWRES, "low | bicubic | original: the images shrunk by lowres.*, for srgan"),
)


@dataclass(frozen=True)
class DataSection:
    dataset: str
    derived: tuple[DerivedData, ...]  # edges and lowres, each possibly not made yet
    evaluator: dict[str, Any] | None  # models/evaluator/metrics.json


@dataclass(frozen=True)
class Report:
    models: tuple[ModelEntry, ...]
    floor: dict[str, float] | None  # models/reference/metrics.json: real vs real
    data: DataSection
    studies: Studies
    experiments: Experiments
    store: str  # the MLflow store read ("" when none)
    generated: str  # when, UTC
    commit: str | None  # the workspace's git HEAD
    warnings: tuple[str, ...] = ()


# --- reading files -------------------------------------------------------------------------


def optional_json(path: Path, maker: Maker) -> dict | None:
    """A JSON object a stage wrote, None when it is not there yet."""
    return read_json(path, maker) if Path(path).is_file() else None


def read_picture(path: Path, maker: Maker) -> Picture | None:
    """A PNG (None when missing), decoded once to prove it whole."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise ValueError(f"a {image.format} image, not a PNG")
            image.load()  # decodes every pixel: a truncated file fails here
            width, height = image.size
    except (OSError, ValueError, UnidentifiedImageError, SyntaxError) as error:
        raise maker.corrupt(path, error) from None
    return Picture(data, width, height)


def read_table(path: Path, maker: Maker) -> tuple[list[str], list[dict[str, str]]] | None:
    """A CSV a stage wrote: (columns, rows); None when missing."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except (OSError, ValueError, csv.Error) as error:
        raise maker.corrupt(path, error) from None
    if any(None in row or None in row.values() for row in rows):  # ragged rows
        raise maker.corrupt(path, "a row with more or fewer fields than the header")
    return columns, rows


def _number(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def numeric_columns(columns: list[str], rows: list[dict[str, str]], skip) -> list[str]:
    """The columns (but `skip`) whose every non-empty value is a number (nan included)."""
    return [
        c
        for c in columns
        if c not in skip and rows and all(_is_number(r[c]) for r in rows if r[c] != "")
    ]


def phase_markers(rows: list[dict[str, str]], x: str) -> tuple[tuple[float, str], ...]:
    """(x, phase) where the phase column changes: e.g. ProGAN's growth steps."""
    markers, previous = [], None
    for row in rows:
        phase = row.get(PHASE)
        if phase and phase != previous and previous is not None:
            markers.append((_number(row[x]), phase))
        previous = phase
    return tuple(markers)


def _chart(model: str, file: str, table, x: str, title: str, y_label: str) -> Chart | None:
    """Every numeric column of a stage's CSV against its column `x`; phase changes as
    markers. None when the file is not there yet."""
    if table is None:
        return None
    columns, rows = table
    if x not in columns:
        raise trained(model).corrupt(model_files(model)[file], f"no {x} column")
    xs = tuple(_number(r[x]) for r in rows)
    series = tuple(
        Series(c, xs, tuple(_number(r[c]) for r in rows))
        for c in numeric_columns(columns, rows, {STEP, EPOCH, PHASE})
    )
    return Chart(title, x, y_label, series, phase_markers(rows, x))


def loss_chart(model: str, table) -> Chart | None:
    """history.csv: the losses (and D's mean outputs, a phase's alpha) per logged step."""
    return _chart(model, "history.csv", table, STEP, f"{model}: losses per step", "value")


def fid_chart(model: str, table) -> Chart | None:
    """fid.csv: the in-training FID per epoch; per step when an epoch has several values
    (ProGAN scores at each phase change too)."""
    x = EPOCH
    if table is not None:
        columns, rows = table
        epochs = [r.get(EPOCH) for r in rows]
        if STEP in columns and len(set(epochs)) < len(epochs):
            x = STEP
    title = f"{model}: in-training FID (lower is better)"
    return _chart(model, "fid.csv", table, x, title, "FID")


# --- one model ---------------------------------------------------------------------------


def own_params(params: Mapping, model: str) -> tuple[Param, ...]:
    """`models.MODEL.*` resolved: the family's own params (defaults included) and the
    train.* values it overrides, with the shared value it replaces."""
    run = resolve_run(params, model)
    shared = parse_train(params)
    written = ((params.get("models") or {}).get(model)) or {}
    prefix = f"models.{model}."
    rows = []
    for key, value in run.flat_params().items():
        if not key.startswith(prefix):
            continue
        name = key.removeprefix(prefix)
        overrides = name in run.overrides
        rows.append(
            Param(
                key=key,
                value=value,
                shared=getattr(shared, name) if overrides else None,
                overrides=overrides,
                written=name in written,
            )
        )
    return tuple(sorted(rows, key=lambda p: (not p.overrides, p.key)))


def reproduce_command(model: str, provenance: Provenance) -> str:
    """The commands that make the model again: its run's commit checked out (and, for a
    run of a DVC experiment, that experiment's params applied), then its stages."""
    steps = [f"git checkout {provenance.commit}"] if provenance.commit else []
    if provenance.dvc_experiment:
        steps.append(f"dvc exp apply {provenance.dvc_experiment}")
    return " && ".join([*steps, f"dvc repro evaluate@{model}"])


def collect_model(params: Mapping, model: str, store: Store) -> ModelEntry:
    family = get_family(model)
    files = model_files(model)
    scores = optional_json(files["metrics.json"], evaluated(model))
    summary = optional_json(files["train.json"], trained(model))
    run = optional_json(files["run.json"], trained(model)) or {}
    losses = loss_chart(model, read_table(files["history.csv"], trained(model)))
    status = ""
    if summary is None:
        status = f"not trained yet: dvc repro evaluate@{model}"
    elif scores is None:
        status = f"not evaluated yet: dvc repro evaluate@{model}"
    loss_key = next((s.name for s in losses.series), None) if losses else None
    provenance = store.provenance(
        parse_data(params).dataset, model, run.get("mlflow_run_id"), loss_key
    )
    return ModelEntry(
        name=model,
        task=family.inputs.name,
        summary=family.summary,
        scores={k: v for k, v in scores.items() if isinstance(v, int | float)}
        if scores is not None
        else None,
        status=status,
        trained=summary or {},
        samples=read_picture(files["samples.png"], trained(model)),
        losses=losses,
        fid=fid_chart(model, read_table(files["fid.csv"], trained(model))),
        params=own_params(params, model),
        provenance=provenance,
        reproduce=reproduce_command(model, provenance),
    )


# --- the whole report ----------------------------------------------------------------------


def collect(params: Mapping, store: Store | None = None) -> Report:
    """Everything the page shows, read from the working directory (the repository)."""
    from pipeline.tracking.runs import git_commit

    store = store or Store.open()
    warnings: list[str] = []
    names = [str(name) for name in (params.get("train") or {}).get("models") or {}]
    models = tuple(collect_model(params, name, store) for name in names)
    data = DataSection(
        dataset=parse_data(params).dataset,
        derived=tuple(
            DerivedData(
                stage,
                caption,
                read_picture(Path(f"data/{stage}/preview.png"), maker),
                optional_json(Path(f"data/{stage}/stats.json"), maker),
            )
            for stage, maker, caption in DERIVED
        ),
        evaluator=optional_json(EVALUATOR_DIR / "metrics.json", EVALUATOR),
    )
    studies = collect_studies(params, warnings)
    experiments = collect_experiments(params, names)
    experiments = _scores_from_mlflow(experiments, store, data.dataset)
    return Report(
        models=models,
        floor=optional_json(REFERENCE_DIR / "metrics.json", REFERENCE),
        data=data,
        studies=studies,
        experiments=experiments,
        store=store.uri if store.client is not None else "",
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        commit=git_commit(),
        warnings=(*store.warnings, *warnings),
    )


def _scores_from_mlflow(experiments: Experiments, store: Store, dataset: str) -> Experiments:
    """Experiments whose commit holds no metrics.json (git-ignored) get their fids from
    the MLflow runs tagged with their name."""
    from dataclasses import replace

    missing = [e.name for e in experiments.experiments if not e.scores]
    found = store.experiment_scores(dataset, missing)
    if not found:
        return experiments
    updated = tuple(
        replace(e, scores=found[e.name], source="MLflow") if e.name in found else e
        for e in experiments.experiments
    )
    return replace(experiments, experiments=updated)
