"""The data `dvc plots show` draws: every model's curves in long format, under reports/plots/.

A stage's plot in DVC takes one `y` column per file, and only top-level plots of files
named one by one take several. A file per model in long format (`step, series, value,
model`) lets one top-level definition of a folder draw every model of `train.models`, each
series a line: the template `.dvc/plots/series.json` colours by `series`, dashes by
revision (so `dvc plots diff` overlays an experiment on the workspace) and writes the
model's name in the corner. dvc.yaml's top-level `plots:` names the two folders:
    reports/plots/losses/NAME.csv   history.csv's losses and D's mean outputs (and a
                                    phased family's schedules, e.g. ProGAN's alpha)
    reports/plots/fid/NAME.csv      fid.csv's in-training FIDs
Both by step: fid.csv has the step of every FID, and ProGAN's several per epoch (one at
each phase change) would fold onto one x by epoch.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from pipeline.report.collect import read_table
from pipeline.report.inputs import model_files
from pipeline.saved import trained, write_csv

X = "step"
# Columns that place a point rather than measure something: never drawn as a series.
POSITION_COLUMNS = frozenset({"step", "epoch", "phase"})
CURVES = {"losses": "history.csv", "fid": "fid.csv"}  # folder -> the model file it redraws


def long_rows(rows: Iterable[Mapping[str, object]], model: str) -> list[dict]:
    """`rows` of a wide CSV (one column per series) as one row per (step, series) point;
    empty cells (a series not logged at that step) are left out."""
    points = []
    for row in rows:
        step = row.get(X)
        if step in (None, ""):
            continue
        for series, value in row.items():
            if series in POSITION_COLUMNS or value in (None, ""):
                continue
            points.append({X: step, "series": series, "value": value, "model": model})
    return points


def write_plot_data(models: Iterable[str], out: Path) -> list[Path]:
    """Redraw the curves of `models` under `out`, replacing what an earlier report left there
    (a model taken out of train.models leaves no stale curve). A model not trained yet has
    no file. Written into a folder beside `out`, then swapped in: a failure leaves the old
    curves. Returns the files written (at their final paths)."""
    models = sorted(models)
    draft = out.with_name(out.name + ".part")
    shutil.rmtree(draft, ignore_errors=True)
    written = []
    for folder, name in CURVES.items():
        (draft / folder).mkdir(parents=True)
        for model in models:
            table = read_table(model_files(model)[name], trained(model))
            points = long_rows(table[1], model) if table is not None else []
            if points:
                write_csv(points, [X, "series", "value", "model"], draft / folder / f"{model}.csv")
                written.append(out / folder / f"{model}.csv")
    shutil.rmtree(out, ignore_errors=True)
    draft.rename(out)
    return written
