"""`evaluate --model NAME`: score a trained generator (models/NAME/metrics.json), log the
scores to the run that trained it, and register the generator as a model version (a side
effect, not a declared output: the registry's code is not a dependency of this stage)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipeline.config import load_params, parse_data
from pipeline.gans.families import resolve_run
from pipeline.saved import EVALUATOR_DIR, load_generator, model_dir, training_run_id, write_json
from pipeline.tracking.runs import experiment_name


def evaluate_command(params_path: Path, model: str) -> dict:
    """Score a trained generator: models/NAME/metrics.json, and the GAN's MLflow run."""
    import pipeline.gans.blocks  # noqa: F401  (the zoo's custom layers, to load a generator)
    from pipeline.config import parse_evaluate
    from pipeline.gans.inputs import task_for
    from pipeline.scoring.reference import Reference
    from pipeline.scoring.score import metric_names, score_generator
    from pipeline.tracking.runs import MlflowTracker, run_tags

    params = load_params(params_path)
    cfg = parse_evaluate(params)
    run = resolve_run(params, model)
    names = metric_names(cfg, model)  # evaluate.metrics and the family's own
    task = task_for(run, with_training_data=False)
    reference = Reference.load()
    generator = load_generator(model)
    run_id = training_run_id(model)  # before scoring: a damaged run.json fails fast
    scores = score_generator(generator, task, reference, cfg, names, model_dir(model))[2]
    write_json(scores, model_dir(model) / "metrics.json")

    tracker = MlflowTracker(
        experiment=experiment_name(parse_data(params).dataset),
        run_name=model,
        tags=run_tags(model),
        run_id=run_id,
    )
    tracker.log_params({f"evaluate.{k}": v for k, v in dataclasses.asdict(cfg).items()})
    tracker.log_metrics(scores, step=0)
    tracker.log_artifact(model_dir(model) / "metrics.json")
    tracker.finish("FINISHED")
    if run_id and tracker.run_id == run_id:  # the run that trained it, so it has the generator
        from pipeline.tracking.registry import file_digest, register_scored_run

        # the tracker's client: on the same store, which it opened and set as MLflow's
        # global URI (a second client costs a second store start-up, about a second)
        version = register_scored_run(
            tracker.client,
            parse_data(params).dataset,
            model,
            run_id,
            scores,
            fid_samples=cfg.n_samples,
            evaluator=file_digest(EVALUATOR_DIR / "model.keras"),
        )
        if version is not None:
            print(f"evaluate@{model}: registered as {version.name} v{version.version}")
    return scores
