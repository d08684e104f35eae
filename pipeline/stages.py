"""The pipeline's commands, thin: read params, call the library, write declared outputs.

Outputs of `train --model NAME` (dvc.yaml declares them):
    models/NAME/generator.keras   the trained generator (keras.saving.load_model)
    models/NAME/samples.png       a grid from fixed latents
    models/NAME/loss_curves.png   losses and D(x), D(G(z)) over the steps
    models/NAME/history.csv       the same numbers, drawn by `dvc plots show`
    models/NAME/train.json        final losses and throughput (`dvc metrics show`)
Checkpoints live in models/NAME/checkpoints/ while a run is in flight and are removed when
it finishes.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

from pipeline.config import RunConfig, load_params, parse_data, resolve_run
from pipeline.errors import DataError, PipelineError
from pipeline.images import atomic_path, grid, save_loss_curves, save_png

MODELS_DIR = Path("models")


def model_dir(model: str) -> Path:
    return MODELS_DIR / model


def fetch_command(params_path: Path, progress: bool = True) -> Path:
    from pipeline.data.fetch import fetch

    return fetch(parse_data(load_params(params_path)), progress=progress)


def experiment_name(dataset_name: str) -> str:
    """One MLflow experiment per dataset; `folder:/a/b` becomes `folder-b`."""
    if dataset_name.startswith("folder:"):
        return "folder-" + (Path(dataset_name[len("folder:") :]).name or "images")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset_name)


def train_command(params_path: Path, model: str, progress: bool = True) -> dict:
    from pipeline.checkpoints import CheckpointStore
    from pipeline.data.store import load_dataset
    from pipeline.distribute import is_chief
    from pipeline.tracking import MlflowTracker, NullTracker, run_tags

    run = resolve_run(load_params(params_path), model)
    dataset = load_dataset(run.data)
    out = model_dir(model)
    checkpoint_dir = out / "checkpoints"
    store = CheckpointStore(checkpoint_dir, run.fingerprint())
    chief = is_chief()  # only the chief of a multi-worker cluster writes or deletes files
    if chief and store.stale():
        print(f"train@{model}: params changed since the last checkpoint; starting afresh")
        store.clear()
    previous = store.latest()
    if previous is not None:
        print(f"train@{model}: resuming from step {previous.step} ({previous.path})")

    tracker = NullTracker()
    if chief:
        tracker = MlflowTracker(
            experiment=experiment_name(dataset.name),
            run_name=model,
            tags=run_tags(model, {"dataset": dataset.name}),
            run_id=previous.extra.get("mlflow_run_id") if previous else None,
        )
    try:
        tracker.log_params(
            {
                **run.flat_params(),
                "data.image_shape": list(dataset.image_shape),
                "data.train_images": len(dataset.x_train),
            }
        )
        result = _train(run, dataset, checkpoint_dir, tracker, progress)
        summary = write_outputs(run, result, out) if chief else {}
        tracker.log_metrics({k: v for k, v in summary.items() if k != "steps"}, result.steps)
        for name in ("samples.png", "loss_curves.png", "history.csv"):
            tracker.log_artifact(out / name)
        tracker.log_generator(result.gan.generator)
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish("FINISHED")
    if chief:
        store.clear()
    return summary


def _train(run: RunConfig, dataset, checkpoint_dir: Path, tracker, progress: bool):
    from pipeline.training import train

    return train(
        run, dataset.x_train, checkpoint_dir=checkpoint_dir, tracker=tracker, progress=progress
    )


def write_outputs(run: RunConfig, result, out: Path) -> dict:
    """Write the declared outputs of a finished run, each atomically."""
    from pipeline.data.loader import fixed_latents
    from pipeline.training import sample_images

    out.mkdir(parents=True, exist_ok=True)
    tmp, commit = atomic_path(out / "generator.keras")
    try:
        result.gan.generator.save(tmp)
        commit()
    finally:
        tmp.unlink(missing_ok=True)

    cfg = run.train
    latents = fixed_latents(cfg.sample_grid**2, cfg.latent_dim, cfg.seed)
    picture = grid(sample_images(result.gan.generator, latents), columns=cfg.sample_grid)
    save_png(picture, out / "samples.png", scale=_display_scale(picture))
    save_loss_curves(
        result.history, out / "loss_curves.png", title=f"{run.model} on {run.data.dataset}"
    )
    _write_history(result.history, out / "history.csv")

    last_epoch = [row for row in result.history if row["epoch"] == result.history[-1]["epoch"]]
    summary = {
        key: float(np.mean([row[key] for row in last_epoch]))
        for key in ("d_loss", "g_loss", "d_real", "d_fake")
    }
    summary |= {"steps": result.steps, "images_per_sec": round(result.images_per_sec, 1)}
    _write_json(summary, out / "train.json")
    return summary


def _display_scale(picture: np.ndarray) -> int:
    return max(1, 512 // max(picture.shape[:2]))


def _write_history(history: list[dict], target: Path) -> None:
    tmp, commit = atomic_path(target)
    try:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
        commit()
    finally:
        tmp.unlink(missing_ok=True)


def _write_json(payload: dict, target: Path) -> None:
    tmp, commit = atomic_path(target)
    try:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
        commit()
    finally:
        tmp.unlink(missing_ok=True)


def load_generator(model: str):
    """The trained generator of `model`, with a one-line error naming the stage to run."""
    import keras

    import pipeline  # noqa: F401  (registers the project's custom layers)

    path = model_dir(model) / "generator.keras"
    if not path.is_file():
        raise DataError(f"{path} not found; train it first: `dvc repro train@{model}`")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # a truncated or foreign file
        raise DataError(
            f"{path} could not be loaded ({type(error).__name__}); retrain it: "
            f"`dvc repro -f train@{model}`"
        ) from None


def sample_command(model: str, count: int, seed: int, out: Path, columns: int | None) -> Path:
    from pipeline.training import sample_images

    if count < 1:
        raise PipelineError("-n must be >= 1")
    generator = load_generator(model)
    latent_dim = generator.inputs[0].shape[-1]
    latents = np.random.default_rng(seed).standard_normal((count, latent_dim)).astype(np.float32)
    picture = grid(sample_images(generator, latents), columns=columns)
    return save_png(picture, out, scale=_display_scale(picture))
