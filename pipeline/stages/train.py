"""`train --model NAME`: train one GAN and write its declared outputs.

Outputs (dvc.yaml declares them):
    models/NAME/generator.keras   the trained generator (the averaged one with train.ema)
    models/NAME/discriminator.keras   the trained discriminator (sgan/catgan: the classifier)
    models/NAME/samples.png       the family's preview picture (a grid from fixed latents)
    models/NAME/loss_curves.png   losses and D's mean outputs over the steps
    models/NAME/history.csv       the same numbers, drawn by `dvc plots show`
    models/NAME/train.json        final losses, in-training FID, throughput, wall-clock seconds
                                  and where they went (`seconds_by_part`, pipeline.training.
                                  timing) (`dvc metrics show`)
    models/NAME/fid.csv           the in-training FID per epoch (train.fid_every)
    models/NAME/run.json          the MLflow run id, which `evaluate` logs its scores to
The MLflow run also records the data file it trained on as its input (runs.training_data).
Checkpoints live in models/NAME/checkpoints/ while a run is in flight and are removed when
it finishes (corrupt ones set aside in checkpoints/corrupt/ stay, for a look; see
pipeline.training.checkpoints). A resumed run's MLflow run has the tag `resumed_from`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pipeline.config import RunConfig, load_params
from pipeline.errors import StorageError
from pipeline.gans.blocks.equalized import to_builtin
from pipeline.gans.families import get_family, resolve_run
from pipeline.images import display_scale, save_loss_curves, save_png
from pipeline.saved import model_dir, save_keras, write_csv, write_json
from pipeline.tracking.runs import experiment_name, tracking_uri
from pipeline.training.build import objective_name
from pipeline.training.checkpoints import Checkpoint, CheckpointStore


def train_command(params_path: Path, model: str, progress: bool = True) -> dict:
    from pipeline.gans.inputs import task_for
    from pipeline.scoring.probe import make_fid_probe
    from pipeline.tracking.runs import (
        MlflowTracker,
        logging_after_training,
        run_tags,
    )
    from pipeline.training.distribute import is_chief
    from pipeline.training.timing import Timings
    from pipeline.training.tracker import NullTracker

    stage_started = time.monotonic()
    timings = Timings()
    with timings.part("setup"):
        run = resolve_run(load_params(params_path), model)
        task = task_for(run)
        images = task.train_images
        out = model_dir(model)
        checkpoint_dir = out / "checkpoints"
        chief = is_chief()  # only the chief of a multi-worker cluster writes or deletes files
        store = CheckpointStore(checkpoint_dir, run.fingerprint(), writable=chief)
        previous = _resume_point(store, model) if chief else None
        probe = make_fid_probe(run, chief, task)  # before the MLflow run: no evaluator, no run
    tracker = NullTracker()
    if chief:
        with timings.part("setup"):  # once per run: counted apart from the per-step logging
            tracker = MlflowTracker(
                experiment=experiment_name(run.data.dataset),
                run_name=model,
                tags=run_tags(model, {"dataset": run.data.dataset}),
                run_id=previous.extra.get("mlflow_run_id") if previous else None,
            )
    try:
        with timings.part("setup"):
            _log_run_inputs(run, task, tracker, previous, chief)
        from pipeline.training.loop import train

        started = time.monotonic()
        result = train(
            run,
            images,
            checkpoint_dir=checkpoint_dir,
            tracker=tracker,
            progress=progress,
            fid_probe=probe,
            preview=task.preview,
            labels=task.train_labels,
            timings=timings,
        )
        if chief and result.resumed_from != (previous.step if previous else 0):
            # the loop fell back further: a checkpoint that passed the checks did not load
            tracker.set_tags({"resumed_from": str(result.resumed_from)})
        # wall-clock seconds of this process's training (FID probes and checkpoints included;
        # a resumed run counts from its resume): train.json's `seconds`, the report's time
        extra = {"seconds": round(time.monotonic() - started, 1)}
        if chief and getattr(task, "sees_labels", False):  # sgan's supervised-only model
            with timings.part("baseline"):
                extra |= _baseline_scores(run, task, progress)
        with timings.part("outputs"):
            summary = write_outputs(run, result, out, tracker.run_id, task, extra) if chief else {}
            # The losses and FIDs are in MLflow already, point by point; only the throughput
            # and the baseline are new (logging the summary's epoch means again would add a
            # second point at the last step).
            new = {k: v for k, v in summary.items() if k == "images_per_sec" or k in extra}
            # The outputs are written: a store failing now says so, and how to log them later.
            with logging_after_training(model, out):
                if new:
                    tracker.log_metrics(new, result.steps)
                for name in ("samples.png", "loss_curves.png", "history.csv", "fid.csv"):
                    tracker.log_artifact(out / name)
                tracker.log_generator(to_builtin(result.generator))
                tracker.finish("FINISHED")
    except BaseException:
        tracker.finish("FAILED")  # nothing to do when it was the store that failed
        raise
    if chief:
        # written again with where this process's time went, now that all of it is known;
        # before the checkpoints go, so a failed write can be mended by running again
        summary["seconds_by_part"] = _seconds_by_part(timings, time.monotonic() - stage_started)
        try:
            write_json(summary, out / "train.json")
        except OSError as error:
            raise _storage_error(out, error) from error
        store.clear()
    return summary


def _seconds_by_part(timings, wall_seconds: float) -> dict[str, float]:
    """train.json's `seconds_by_part`: every part that ran, `other` (imports, what no part
    covers) and `total`, the process's wall time from the stage's start."""
    parts = timings.rounded()
    other = max(wall_seconds - sum(timings.seconds.values()), 0.0)
    return parts | {"other": round(other, 2), "total": round(wall_seconds, 2)}


def _log_run_inputs(run: RunConfig, task, tracker, previous, chief: bool) -> None:
    """The run's params (and the precision `auto` chose), data file and labelled subset
    in MLflow."""
    from pipeline.tracking.runs import training_data
    from pipeline.training.distribute import resolve_precision

    images, model = task.train_images, run.model
    precision, why = resolve_precision(run.train.precision)
    if run.train.precision == "auto" and chief:
        print(f"train@{model}: train.precision auto -> {precision} ({why})")
    if previous is not None:  # a tag, not a param: a run resumed twice updates it
        tracker.set_tags({"resumed_from": str(previous.step)})
    tracker.log_params(
        {
            **run.flat_params(),
            "objective": objective_name(run),
            "stabilizers": get_family(model).stabilizers_of(run.train),
            "generator.averaged": bool(run.train.ema),
            "train.precision_used": precision,
            "data.image_shape": list(images.shape[1:]),
            "data.train_images": len(images),
            **_label_params(task.train_labels),
        }
    )
    if chief:  # hashing the data file is for the run's record only
        data_file = get_family(model).inputs.data_file(run.data)
        tracker.log_input(training_data(run.data, data_file))
    if task.train_labels is not None and 0 < len(task.train_labels.labelled) < len(images):
        tracker.log_dict(_labelled_subset(run, task.train_labels), "labelled_subset.json")


def _resume_point(store: CheckpointStore, model: str) -> Checkpoint | None:
    """The checkpoint this run resumes from, said in one line. Corrupt ones met on the
    way were set aside (one stderr line each); ones written with other params are removed."""
    previous = store.latest()
    if previous is not None:
        print(f"train@{model}: resuming from step {previous.step} ({previous.path})")
    elif store.stale():
        print(f"train@{model}: params changed since the last checkpoint; starting afresh")
        store.clear()
    elif store.set_aside_count:
        print(f"train@{model}: no usable checkpoint left; starting afresh")
    return previous


def _label_params(labels) -> dict:
    """What MLflow records of the labels a run saw (none for a model without labels)."""
    if labels is None:
        return {}
    return {"labels.classes": labels.num_classes, "labels.labelled": len(labels.labelled)}


def _labelled_subset(run: RunConfig, labels) -> dict:
    """The labelled subset of a semi-supervised run, so it can be repeated or checked."""
    return {
        "model": run.model,
        "dataset": run.data.dataset,
        "seed": run.train.seed,
        "per_class": int(len(labels.labelled) // max(labels.num_classes, 1)),
        "indices": [int(i) for i in labels.labelled],
        "labels": [int(labels.labels[i]) for i in labels.labelled],
    }


def _baseline_scores(run: RunConfig, task, progress: bool) -> dict:
    """baseline_accuracy of a semi-supervised classifier family (pipeline.training.baseline), and
    how many labelled images both it and the GAN saw (for a task that `sees_labels`)."""
    from pipeline.scoring.metrics.labels import accuracy
    from pipeline.training.baseline import train_baseline

    baseline = train_baseline(run, task.train_images, task.train_labels, progress)
    return {
        "baseline_accuracy": accuracy(task.classify(baseline), task.dataset.y_test),
        "labelled_images": len(task.train_labels.labelled),
    }


def write_outputs(
    run: RunConfig, result, out: Path, run_id: str | None, task, extra: dict | None = None
) -> dict:
    """Write the declared outputs of a finished run, each atomically (a temp file beside
    it, then a rename: pipeline.saved, pipeline.images); returns train.json, which gets the
    `extra` values too (the SGAN baseline's accuracy).

    `task` (pipeline.gans.inputs) draws samples.png: a latent grid, a row per class, or
    translation triptychs. A write that fails (disk full) is a StorageError; the
    checkpoints are still there, so running again only writes the outputs."""
    try:
        return _write_outputs(run, result, out, run_id, task, extra)
    except OSError as error:  # each file is whole or absent; the checkpoints are kept
        raise _storage_error(out, error) from error


def _storage_error(out: Path, error: OSError) -> StorageError:
    return StorageError(
        f"cannot write the outputs in {out} ({error.strerror or error}); free space there "
        "(or make it writable) and run the same command again: it resumes from the last "
        "checkpoint"
    )


def _write_outputs(
    run: RunConfig, result, out: Path, run_id: str | None, task, extra: dict | None
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    # built-in layers only (equalized layers folded), so it loads without this package
    save_keras(to_builtin(result.generator), out / "generator.keras")
    save_keras(result.gan.discriminator, out / "discriminator.keras")

    picture = task.preview(result.generator)
    save_png(picture, out / "samples.png", scale=display_scale(picture))
    save_loss_curves(
        result.history,
        out / "loss_curves.png",
        title=f"{run.model} on {run.data.dataset} ({objective_name(run)})",
        probabilities=result.gan.loss.scores_are_probabilities,
    )
    names = result.gan.metric_names
    # a family with phases: which phase each row is in, and its schedules (alpha)
    phased = ["phase"] if any("phase" in row for row in result.history) else []
    schedules = sorted(getattr(result.gan, "schedule", {})) if phased else []
    write_csv(result.history, ["step", "epoch", *phased, *names, *schedules], out / "history.csv")
    fid_keys = sorted({k for row in result.history for k in row if k.startswith("fid")})
    fid_rows = [row for row in result.history if any(k in row for k in fid_keys)]
    write_csv(fid_rows, ["epoch", "step", *phased, *fid_keys], out / "fid.csv")

    last_epoch = [row for row in result.history if row["epoch"] == result.history[-1]["epoch"]]
    summary = {key: float(np.mean([row[key] for row in last_epoch])) for key in names}
    if fid_rows:
        summary |= {k: float(fid_rows[-1][k]) for k in fid_keys}
    summary["steps"] = result.steps
    if np.isfinite(result.images_per_sec):  # a rerun that only logs (resumed at the end) times
        summary["images_per_sec"] = round(result.images_per_sec, 1)  # no step: no NaN in JSON
    summary |= extra or {}
    write_json(summary, out / "train.json")
    write_json({"mlflow_run_id": run_id, "tracking_uri": tracking_uri()}, out / "run.json")
    return summary
