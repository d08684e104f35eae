"""Does each GAN's default beat its seed document's own recipe at equal wall time?

For each model with a recipe below, in one process on this machine:
1. the project's default: params.yaml as it is, trained through the project's loop
   (pipeline.training.loop.train, what `dvc repro` runs; checkpoints in a scratch folder,
   no MLflow, no in-training FID), timed from the first step to the last;
2. the seed's recipe, AS WRITTEN: its batch size, optimiser and update order in its own
   loop (`generator.predict`, `discriminator.train_on_batch` on a real then a fake batch,
   `combined.train_on_batch`; bench/train_throughput.py's `build_baseline`, with seed 004's
   `trainable` flip so both networks learn), on the project's networks of that family,
   for the same number of wall-clock seconds;
3. both generators scored like `evaluate` does: FID, precision and recall of
   evaluate.n_samples samples (latents from evaluate.seed) against the test split, on
   the project's evaluator.

It prints a row per model and `fid_ratio` = default fid / recipe fid (below 1: the
default is better; the issue's goal is at most 0.7). Results go to `--out` (JSON) and a
markdown table beside it, headed by the CPU and its AVX-512 flags.

A family slots in with a RECIPES entry: the seed it comes from and the batch size and
Adam settings it writes down; families whose seed gives no runnable recipe (the lecture
notes of seed 003) have none.

    .venv/bin/python bench/seed_recipe.py [--models dcgan gan] [--params params.yaml]

Needs data/raw/dataset.npz and models/evaluator (`dvc repro evaluator`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loss_table import cpu_flags, cpu_name, eval_settings, scoring_setup

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Recipe:
    seed: str  # the source document, ../shared/seeds/<seed>_*.txt
    batch_size: int
    lr: float
    beta1: float
    where: str  # what in the seed says so


RECIPES = {
    "dcgan": Recipe("000", 32, 2e-4, 0.5, "train(epochs=10, batch_size=32), Adam(0.0002, 0.5)"),
    "gan": Recipe("001", 100, 2e-4, 0.9, "batch_size = 100, torch.optim.Adam(lr=0.0002)"),
}


def scores(generator, real_features, embed, eval_cfg: dict, samples: int) -> dict:
    from pipeline import metrics
    from pipeline.gans.inputs import generate

    fake = embed(generate(generator, samples, seed=eval_cfg["seed"], batch_size=500)).features
    precision, recall = metrics.precision_recall(real_features, fake, k=eval_cfg["pr_k"])
    fid = metrics.fid_from_features(real_features, fake)
    return {"fid": float(fid), "precision": float(precision), "recall": float(recall)}


def train_default(run, images) -> tuple[object, dict]:
    from pipeline.training.loop import train
    from pipeline.training.timing import Timings

    timings = Timings()
    with tempfile.TemporaryDirectory(prefix="seed_recipe-") as checkpoints:
        result = train(
            run, images, checkpoint_dir=Path(checkpoints), progress=False, timings=timings
        )
    # from the first step to the last: tracing, steps, input, checkpoints
    seconds = sum(timings.seconds[p] for p in ("trace", "step", "input", "checkpoint"))
    return result.generator, {"seconds": seconds, "steps": result.steps}


def train_recipe(run, images, recipe: Recipe, seconds: float) -> tuple[object, dict]:
    import dataclasses

    from train_throughput import build_baseline

    cfg = dataclasses.replace(
        run.train, batch_size=recipe.batch_size, lr=recipe.lr, beta1=recipe.beta1
    )
    base = build_baseline(dataclasses.replace(run, train=cfg), images, flip=True)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        base.step()
        steps += 1
    return base.generator, {"seconds": time.perf_counter() - started, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(RECIPES))
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="bench/results/seed_recipe.json")
    args = parser.parse_args()
    os.chdir(REPO)
    params = yaml.safe_load(Path(args.params).read_text())
    from pipeline.config import runtime_environment

    for key, value in runtime_environment(params).items():  # as the CLI does
        os.environ.setdefault(key, value)
    import keras

    from pipeline.gans.families import resolve_run

    eval_cfg = eval_settings(params)
    samples = int(params["evaluate"]["n_samples"])
    rows = []
    for model in args.models:
        if model not in RECIPES:
            raise SystemExit(f"{model}: no seed recipe; known: {', '.join(RECIPES)}")
        recipe = RECIPES[model]
        run = resolve_run(json.loads(json.dumps(params)), model)
        images, embed, real_features = scoring_setup(run)
        generator, default = train_default(run, images)
        default |= scores(generator, real_features, embed, eval_cfg, samples)
        print(f"{model} default: {default}", flush=True)
        keras.backend.clear_session()
        gc.collect()
        generator, seed = train_recipe(run, images, recipe, default["seconds"])
        seed |= scores(generator, real_features, embed, eval_cfg, samples)
        print(f"{model} seed {recipe.seed} recipe: {seed}", flush=True)
        keras.backend.clear_session()
        gc.collect()
        rows.append(
            {
                "model": model,
                "recipe": asdict(recipe),
                "default": default,
                "seed_recipe": seed,
                "fid_ratio": default["fid"] / seed["fid"],
            }
        )
        print(f"{model}: fid_ratio {rows[-1]['fid_ratio']:.3f}", flush=True)
    meta = {"date": str(date.today()), "cpu": cpu_name(), "cpu_flags": cpu_flags()}
    out = Path(args.out)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    lines = [
        f"# Default against the seed's recipe at equal wall time, {meta['date']}",
        "",
        f"CPU: {meta['cpu']}; AVX-512 flags: {meta['cpu_flags']}. FID, precision, recall of "
        f"{samples} samples on the project's evaluator.",
        "",
        "| model | seconds | default: steps, fid, recall | seed recipe | steps, fid, recall "
        "| fid ratio |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        d, s, r = row["default"], row["seed_recipe"], row["recipe"]
        lines.append(
            f"| {row['model']} | {d['seconds']:.0f} | {d['steps']}, {d['fid']:.2f}, "
            f"{d['recall']:.3f} | seed {r['seed']}: batch {r['batch_size']}, Adam "
            f"({r['lr']:g}, {r['beta1']:g}) | {s['steps']}, {s['fid']:.2f}, {s['recall']:.3f} "
            f"| {row['fid_ratio']:.2f} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
