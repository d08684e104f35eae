"""`evaluator`: train the network every score uses (models/evaluator/)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipeline.config import load_params, parse_data
from pipeline.saved import EVALUATOR_DIR, save_keras, write_json
from pipeline.tracking.runs import experiment_name


def evaluator_command(params_path: Path, progress: bool = True) -> dict:
    """Train the evaluator: models/evaluator/model.keras and its metrics.json (accuracy)."""
    from pipeline.config import parse_evaluator
    from pipeline.data.store import load_dataset
    from pipeline.scoring.evaluator import train_evaluator
    from pipeline.tracking.runs import MlflowTracker, run_tags

    params = load_params(params_path)
    cfg, data = parse_evaluator(params), parse_data(params)
    dataset = load_dataset(data)
    tracker = MlflowTracker(
        experiment=experiment_name(dataset.name),
        run_name="evaluator",
        tags=run_tags("evaluator", {"dataset": dataset.name}),
    )
    try:
        tracker.log_params({f"evaluator.{k}": v for k, v in dataclasses.asdict(cfg).items()})
        model, report = train_evaluator(cfg, dataset, progress=progress)
        EVALUATOR_DIR.mkdir(parents=True, exist_ok=True)
        save_keras(model, EVALUATOR_DIR / "model.keras")
        write_json(report, EVALUATOR_DIR / "metrics.json")
        tracker.log_metrics(report, step=cfg.epochs)
        tracker.log_artifact(EVALUATOR_DIR / "model.keras")
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish("FINISHED")
    return report
