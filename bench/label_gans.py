"""The label-aware GANs' own measures, from their metrics files.

    cgan    conditional_accuracy: the evaluator's accuracy on generated images against the
            classes asked for, beside the evaluator's accuracy on the real test split (the
            ceiling)
    sgan    the discriminator's test accuracy against the baseline (the same network on the
            same labels alone, same budget), at 100 labels and at 1000
    catgan  clustering_accuracy (unsupervised: clusters matched to classes, Hungarian)

The 100-label SGAN, cgan and catgan rows read models/<name>/metrics.json, which `dvc repro`
writes. Other label counts are trained here, in-process, with params.yaml's settings and
only models.sgan.labels_per_class changed, and their scores go to
bench/results/sgan-<N>-labels.json (the models/ outputs are left alone):

    .venv/bin/python bench/label_gans.py                    # print the table
    .venv/bin/python bench/label_gans.py --train-sgan 100   # 100 labels/class: 1000 labels
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
from pathlib import Path

RESULTS = Path("bench/results")


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def train_sgan(params: dict, per_class: int) -> Path:
    """Train and score SGAN with `per_class` labels per class; returns the results file."""
    from pipeline.gans.families import resolve_run
    from pipeline.gans.inputs import task_for
    from pipeline.scoring.metrics.classifier_accuracy import classifier_scores
    from pipeline.stages.train import _baseline_scores
    from pipeline.training.loop import train

    params = copy.deepcopy(params)
    params["models"]["sgan"]["labels_per_class"] = per_class
    run = resolve_run(params, "sgan")
    task = task_for(run)
    with tempfile.TemporaryDirectory() as checkpoints:
        result = train(
            run, task.train_images, checkpoint_dir=Path(checkpoints), labels=task.train_labels
        )
    scores = {
        "epochs": run.train.epochs,
        "steps": result.steps,
        **classifier_scores(task, result.gan.discriminator),
        **_baseline_scores(run, task, progress=True),  # with labelled_images
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / f"sgan-{scores['labelled_images']}-labels.json"
    target.write_text(json.dumps(scores, indent=2) + "\n")
    return target


def main() -> None:
    from pipeline.config import load_params

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--train-sgan",
        type=int,
        metavar="PER_CLASS",
        help="train SGAN with this many labels per class",
    )
    args = parser.parse_args()
    params = load_params(args.params)
    if args.train_sgan:
        print(f"wrote {train_sgan(params, args.train_sgan)}")

    models = Path("models")
    evaluator = _read(models / "evaluator/metrics.json") or {}
    cgan, catgan = _read(models / "cgan/metrics.json"), _read(models / "catgan/metrics.json")
    print("measure                                   value   compare with")
    if cgan:
        ceiling = evaluator.get("accuracy", float("nan"))
        print(
            f"cgan conditional_accuracy              {cgan['conditional_accuracy']:8.4f}   "
            f"evaluator on real test images {ceiling:.4f}"
        )
    else:
        print("cgan: models/cgan/metrics.json missing; run `dvc repro evaluate@cgan`")
    sgan_runs = {}
    default, trained = _read(models / "sgan/metrics.json"), _read(models / "sgan/train.json")
    if default and trained:
        sgan_runs[trained["labelled_images"]] = default
    for path in sorted(RESULTS.glob("sgan-*-labels.json")):
        result = _read(path)
        sgan_runs.setdefault(result["labelled_images"], result)
    if not sgan_runs:
        print("sgan: no metrics; run `dvc repro evaluate@sgan` or --train-sgan N")
    for labels, result in sorted(sgan_runs.items()):
        print(
            f"sgan accuracy, {labels:>5} labels          {result['accuracy']:8.4f}   "
            f"baseline (labels alone) {result['baseline_accuracy']:.4f}"
        )
    if catgan:
        value = catgan["clustering_accuracy"]
        print(f"catgan clustering_accuracy             {value:8.4f}   chance 1/K")
    else:
        print("catgan: models/catgan/metrics.json missing; run `dvc repro evaluate@catgan`")


if __name__ == "__main__":
    main()
