"""The pipeline's commands, thin: read params, call the library, write declared outputs.

Outputs of `train --model NAME` (dvc.yaml declares them):
    models/NAME/generator.keras   the trained generator (keras.saving.load_model)
    models/NAME/discriminator.keras   the trained discriminator (sgan/catgan: the classifier)
    models/NAME/samples.png       a grid from fixed latents
    models/NAME/loss_curves.png   losses and D(x), D(G(z)) over the steps
    models/NAME/history.csv       the same numbers, drawn by `dvc plots show`
    models/NAME/train.json        final losses, in-training FID, throughput (`dvc metrics show`)
    models/NAME/fid.csv           the in-training FID per epoch (train.fid_every)
    models/NAME/run.json          the MLflow run id, which `evaluate` logs its scores to
Checkpoints live in models/NAME/checkpoints/ while a run is in flight and are removed when
it finishes.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from pathlib import Path

import numpy as np

from pipeline.config import RunConfig, load_params, parse_data, resolve_run
from pipeline.errors import DataError, PipelineError
from pipeline.images import atomic_path, display_scale, save_loss_curves, save_png
from pipeline.saved import (
    EVALUATOR_DIR,
    REFERENCE_DIR,
    load_generator,
    load_keras,
    model_dir,
)
from pipeline.tracking import tracking_uri

# TensorFlow is imported inside the commands that need it, so `fetch` and bad-params
# errors stay quick.


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
    from pipeline.distribute import is_chief
    from pipeline.tasks import task_for
    from pipeline.tracking import MlflowTracker, NullTracker, run_tags

    run = resolve_run(load_params(params_path), model)
    task = task_for(run)
    images = task.train_images
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

    probe = make_fid_probe(run, chief, task)  # before the MLflow run: no evaluator, no run
    tracker = NullTracker()
    if chief:
        tracker = MlflowTracker(
            experiment=experiment_name(run.data.dataset),
            run_name=model,
            tags=run_tags(model, {"dataset": run.data.dataset}),
            run_id=previous.extra.get("mlflow_run_id") if previous else None,
        )
    try:
        tracker.log_params(
            {
                **run.flat_params(),
                "data.image_shape": list(images.shape[1:]),
                "data.train_images": len(images),
                **_label_params(task.train_labels),
            }
        )
        if task.train_labels is not None and 0 < len(task.train_labels.labelled) < len(images):
            tracker.log_dict(_labelled_subset(run, task.train_labels), "labelled_subset.json")
        from pipeline.training import train

        result = train(
            run,
            images,
            checkpoint_dir=checkpoint_dir,
            tracker=tracker,
            progress=progress,
            fid_probe=probe,
            preview=task.preview,
            labels=task.train_labels,
        )
        extra = _baseline_scores(run, task, progress) if chief else {}
        summary = write_outputs(run, result, out, tracker.run_id, task, extra) if chief else {}
        # The losses and FIDs are in MLflow already, point by point; only the throughput and
        # the baseline are new (logging the summary's epoch means again would add a second
        # point at the last step).
        new = {k: v for k, v in summary.items() if k == "images_per_sec" or k in extra}
        if new:
            tracker.log_metrics(new, result.steps)
        for name in ("samples.png", "loss_curves.png", "history.csv", "fid.csv"):
            tracker.log_artifact(out / name)
        tracker.log_generator(result.gan.generator)
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish("FINISHED")
    if chief:
        store.clear()
    return summary


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
    """baseline_accuracy of a semi-supervised classifier family (pipeline.baseline), and
    how many labelled images both it and the GAN saw."""
    from pipeline.gans import is_classifier

    if not (is_classifier(run.model) and task.sees_labels):
        return {}
    from pipeline.baseline import train_baseline
    from pipeline.label_metrics import accuracy

    baseline = train_baseline(run, task.train_images, task.train_labels, progress)
    return {
        "baseline_accuracy": accuracy(task.classify(baseline), task.dataset.y_test),
        "labelled_images": len(task.train_labels.labelled),
    }


def make_fid_probe(run: RunConfig, chief: bool, task):
    """The in-training FID of train.fid_every, or None when off (or not the chief)."""
    from pipeline.scoring import FidProbe, Reference

    if not (chief and run.train.fid_every):
        return None
    embedder = load_embedder()  # first: a missing evaluator is the upstream cause to name
    reference = Reference.load()
    count = min(run.train.fid_samples, task.max_samples or run.train.fid_samples)
    if count <= reference.mu.shape[0]:  # fail now, not after the first epoch
        raise DataError(
            f"the in-training FID of {run.model} would use {count} samples (one per test "
            f"pair), but it needs more than the evaluator's {reference.mu.shape[0]} features; "
            "use a bigger dataset or set train.fid_every: 0"
        )
    return FidProbe(embedder, reference, count, task)


def write_outputs(
    run: RunConfig, result, out: Path, run_id: str | None, task, extra: dict | None = None
) -> dict:
    """Write the declared outputs of a finished run, each atomically; returns train.json,
    which gets the `extra` values too (the SGAN baseline's accuracy).

    `task` (pipeline.tasks) draws samples.png: a latent grid, a row per class, or
    translation triptychs."""
    out.mkdir(parents=True, exist_ok=True)
    _save_keras(result.gan.generator, out / "generator.keras")
    _save_keras(result.gan.discriminator, out / "discriminator.keras")

    picture = task.preview(result.gan.generator)
    save_png(picture, out / "samples.png", scale=display_scale(picture))
    save_loss_curves(
        result.history, out / "loss_curves.png", title=f"{run.model} on {run.data.dataset}"
    )
    names = result.gan.metric_names
    _write_csv(result.history, ["step", "epoch", *names], out / "history.csv")
    fid_keys = sorted({k for row in result.history for k in row if k.startswith("fid")})
    fid_rows = [row for row in result.history if any(k in row for k in fid_keys)]
    _write_csv(fid_rows, ["epoch", "step", *fid_keys], out / "fid.csv")

    last_epoch = [row for row in result.history if row["epoch"] == result.history[-1]["epoch"]]
    summary = {key: float(np.mean([row[key] for row in last_epoch])) for key in names}
    if fid_rows:
        summary |= {k: float(fid_rows[-1][k]) for k in fid_keys}
    summary |= {"steps": result.steps, "images_per_sec": round(result.images_per_sec, 1)}
    summary |= extra or {}
    write_json(summary, out / "train.json")
    write_json({"mlflow_run_id": run_id, "tracking_uri": tracking_uri()}, out / "run.json")
    return summary


def _save_keras(model, target: Path) -> None:
    tmp, commit = atomic_path(target)
    try:
        model.save(tmp)
        commit()
    finally:
        tmp.unlink(missing_ok=True)


def _write_csv(rows: list[dict], columns: list[str], target: Path) -> None:
    tmp, commit = atomic_path(target)
    try:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        commit()
    finally:
        tmp.unlink(missing_ok=True)


def write_json(payload: dict, target: Path) -> None:
    write_text(json.dumps(payload, indent=2) + "\n", target)


def write_text(text: str, target: Path) -> None:
    tmp, commit = atomic_path(target)
    try:
        tmp.write_text(text)
        commit()
    finally:
        tmp.unlink(missing_ok=True)


def sample_command(
    params_path: Path,
    model: str | None,
    count: int,
    seed: int,
    out: Path,
    columns: int | None,
    label: str | None = None,
    model_uri: str | None = None,
) -> Path:
    """A grid of `count` samples (triptychs of test pairs for a translation model); of
    class `label` (a name or an index) for a conditional model, else a row per class.

    The generator is models/MODEL/generator.keras, or with `model_uri` a registered one
    (`models:/fashion_mnist-dcgan@champion`), whose family comes from its version's tag."""
    from pipeline.data.labels import class_index
    from pipeline.tasks import ConditionalTask, task_for

    if count < 1:
        raise PipelineError("-n must be >= 1")
    params = load_params(params_path)
    if model_uri is None:
        run, generator = resolve_run(params, model), None  # loaded once the options check
    else:
        from pipeline.registry import registered_run

        run, generator = registered_run(params, model, model_uri)
    task = task_for(run, with_training_data=False)
    options = {}
    if label is not None:
        if not isinstance(task, ConditionalTask):
            raise PipelineError(
                f"--label needs a conditional model (cgan); {run.model}'s generator takes no label"
            )
        options["label"] = class_index(label, task.class_names)
    if generator is None:
        generator = load_generator(run.model)
    picture = task.picture(generator, count, seed, columns, **options)
    return save_png(picture, out, scale=display_scale(picture))


# --- scoring: the evaluator, the reference statistics, a GAN's evaluation ------------------


def evaluator_command(params_path: Path, progress: bool = True) -> dict:
    """Train the evaluator: models/evaluator/model.keras and its metrics.json (accuracy)."""
    from pipeline.config import parse_evaluator
    from pipeline.data.store import load_dataset
    from pipeline.evaluator import train_evaluator
    from pipeline.tracking import MlflowTracker, run_tags

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
        _save_keras(model, EVALUATOR_DIR / "model.keras")
        write_json(report, EVALUATOR_DIR / "metrics.json")
        tracker.log_metrics(report, step=cfg.epochs)
        tracker.log_artifact(EVALUATOR_DIR / "model.keras")
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish("FINISHED")
    return report


def load_embedder(batch_size: int = 500):
    """The trained evaluator as an Embedder (features and class probabilities)."""
    from pipeline.evaluator import Embedder

    return Embedder(load_keras(EVALUATOR_DIR / "model.keras", stage="evaluator"), batch_size)


def reference_command(params_path: Path) -> dict:
    """The evaluator's statistics of the real test split, and the real-vs-real floor."""
    from pipeline.config import parse_evaluate
    from pipeline.data.store import load_dataset
    from pipeline.scoring import REFERENCE_FILE, Reference, classifier_scores, score

    params = load_params(params_path)
    cfg = parse_evaluate(params)
    dataset = load_dataset(parse_data(params))
    embedder = load_embedder(cfg.batch_size)
    test = embedder(dataset.x_test)
    inception = None
    if cfg.inception_weights:
        from pipeline.inception import InceptionEmbedder

        inception = InceptionEmbedder(cfg.inception_weights)(dataset.x_test)
    reference = Reference.of(test, inception)
    # The floor: as many training images as a GAN is scored with, against the test split.
    count = min(cfg.n_samples, len(dataset.x_train))
    if count <= test.features.shape[1]:
        raise DataError(
            f"{dataset.name} has {len(dataset.x_train)} training images; scoring needs more "
            f"than the evaluator's {test.features.shape[1]} features (a few thousand for "
            "stable scores)"
        )
    chosen = np.random.default_rng(cfg.seed).choice(len(dataset.x_train), count, replace=False)
    floor = score(embedder(dataset.x_train[np.sort(chosen)]), reference, cfg)
    # ... except the classifier score, which is the real test images' own.
    floor |= classifier_scores(test, cfg)
    reference.save(REFERENCE_FILE)
    write_json(floor, REFERENCE_DIR / "metrics.json")
    return floor


def score_generator(generator, task, reference, cfg) -> tuple:
    """evaluate.n_samples images of `generator` (latents or test pairs seeded with
    evaluate.seed), their evaluator embedding, and the shared scores against `reference`:
    what `evaluate` writes, and what `retrain` re-measures a champion with."""
    from pipeline.scoring import score

    images = task.images(generator, cfg.n_samples, seed=cfg.seed, batch_size=cfg.batch_size)
    embedding = load_embedder(cfg.batch_size)(images)
    return images, embedding, score(embedding, reference, cfg)


def evaluate_command(params_path: Path, model: str) -> dict:
    """Score a trained generator: models/NAME/metrics.json, and the GAN's MLflow run."""
    from pipeline.config import parse_evaluate
    from pipeline.scoring import Reference, fid_inception
    from pipeline.tasks import task_for
    from pipeline.tracking import MlflowTracker, run_tags

    params = load_params(params_path)
    cfg = parse_evaluate(params)
    task = task_for(resolve_run(params, model), with_training_data=False)
    reference = Reference.load()
    images, embedding, scores = score_generator(load_generator(model), task, reference, cfg)
    scores |= task.extra_scores(images, embedding, model_dir(model))
    if cfg.inception_weights:
        scores["fid_inception"] = fid_inception(images, reference, cfg)
    write_json(scores, model_dir(model) / "metrics.json")

    run_file = model_dir(model) / "run.json"
    run_id = json.loads(run_file.read_text()).get("mlflow_run_id") if run_file.is_file() else None
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
        from pipeline.registry import file_digest, register_scored_run, registry_client

        version = register_scored_run(
            registry_client(tracker.uri),
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
