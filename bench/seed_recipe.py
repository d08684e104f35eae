"""Does each GAN's default beat its seed document's own recipe at equal wall time?

For each model with a recipe below, in one process on this machine:
1. the project's default: params.yaml as it is, trained through the project's loop
   (pipeline.training.loop.train, what `dvc repro` runs; checkpoints in a scratch folder,
   no MLflow, no in-training FID), timed from the first step to the last;
2. the seed's recipe, AS WRITTEN: its batch size, optimiser and update order in its own
   loop (`generator.predict`, then `discriminator.train_on_batch` on a real batch and on
   the fake one, then `combined.train_on_batch` on the same latents labelled real), on the
   project's networks of that family, for the same number of wall-clock seconds. Trained
   correctly (`recipe_loop`): each of the three updates is its own Adam step, and D's
   BatchNorm normalises with the batch's statistics in all three, as in the Keras seed
   000 was written for. Keras 3's frozen D (bench/train_throughput.py's `build_baseline`
   with the `trainable` flip, which this bench used before 2026-12-02) switches D's
   BatchNorm to its moving averages inside `combined`, so G learns from a D it never
   trained as: that recipe collapsed (fid 64, recall 0 at 1166 steps);
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

import numpy as np
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
    # The update order. keras (seed 000): D steps on the real batch, then on G's fakes, then
    # G on the same latents. torch (seed 001): one D step on the real + fake losses summed,
    # then G on fresh latents.
    loop: str = "keras"
    # The seed's networks, as models.<name>.* values: the recipe keeps them whatever the
    # project's default has become (a narrower default is part of what is compared).
    network: tuple[tuple[str, object], ...] = ()


RECIPES = {
    "dcgan": Recipe(
        "000",
        32,
        2e-4,
        0.5,
        "train(epochs=10, batch_size=32), Adam(0.0002, 0.5)",
        network=(("generator", "upsample"), ("g_width", 1.0), ("d_width", 1.0)),
    ),
    "gan": Recipe(
        "001",
        100,
        2e-4,
        0.9,
        "batch_size = 100, torch.optim.Adam(lr=0.0002)",
        loop="torch",
        network=(("arch", "leaky256"),),
    ),
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


def recipe_loop(run, images, loop: str = "keras"):
    """A seed's loop on the family's networks, trained correctly: (generator, one_step).

    keras, seed 000's: latents z ~ N(0, 1); fakes = G(z) in inference mode
    (`generator.predict`); a D update on a real batch labelled 1, another on the fakes
    labelled 0 (two `train_on_batch` calls: two Adam steps, each batch normalised by its
    own statistics); then a G update through D on the same z labelled 1 (`combined`), D's
    weights untouched but its BatchNorm on the batch's statistics, as a frozen model's
    was in the Keras of the seed. Two Adam optimizers where the seed shares one object
    between its two models (separate moments either way).
    torch, seed 001's: fakes from G in training mode, one D update on the real and the
    fake loss summed (each batch its own forward pass), then a G update on fresh latents.
    Both: binary cross-entropy on D's logits (the seeds' sigmoid then cross-entropy,
    without Keras' clipping of probabilities).
    """
    import keras
    import tensorflow as tf

    from pipeline.gans.families import get_family

    cfg, shape = run.train, images.shape[1:]
    family = get_family(run.model)
    keras.utils.set_random_seed(cfg.seed)
    generator = family.build_generator(run, shape)
    discriminator = family.build_discriminator(run, shape)  # logits
    d_optimizer = keras.optimizers.Adam(cfg.lr, beta_1=cfg.beta1)
    g_optimizer = keras.optimizers.Adam(cfg.lr, beta_1=cfg.beta1)
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    batch = cfg.batch_size
    ones, zeros = tf.ones((batch, 1)), tf.zeros((batch, 1))

    def descend(optimizer, tape, loss, network) -> None:
        variables = network.trainable_variables
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))

    @tf.function
    def d_update(batch_images, target):
        with tf.GradientTape() as tape:
            loss = cross_entropy(target, discriminator(batch_images, training=True))
        descend(d_optimizer, tape, loss, discriminator)

    @tf.function
    def d_update_summed(real, z):
        with tf.GradientTape() as tape:
            fake = generator(z, training=True)
            loss = cross_entropy(ones, discriminator(real, training=True))
            loss += cross_entropy(zeros, discriminator(fake, training=True))
        descend(d_optimizer, tape, loss, discriminator)

    @tf.function
    def g_update(z):
        with tf.GradientTape() as tape:
            judged = discriminator(generator(z, training=True), training=True)
            loss = cross_entropy(ones, judged)
        descend(g_optimizer, tape, loss, generator)

    predict = tf.function(lambda z: generator(z, training=False))
    x_train = images.astype(np.float32) / 127.5 - 1.0  # seed 000's scaling, once
    rng = np.random.default_rng(cfg.seed)

    def latents():
        return tf.constant(rng.standard_normal((batch, cfg.latent_dim)), tf.float32)

    def one_step() -> None:
        real = tf.constant(x_train[rng.integers(0, len(x_train), batch)])
        z = latents()
        if loop == "torch":
            d_update_summed(real, z)
            g_update(latents())
        else:
            d_update(real, ones)
            d_update(predict(z), zeros)
            g_update(z)

    if loop not in ("keras", "torch"):
        raise ValueError(f"loop {loop!r}: keras or torch")
    return generator, one_step


def recipe_run(run, recipe: Recipe):
    """The run as the seed writes it: its batch, Adam and networks on `run`'s data."""
    import dataclasses

    cfg = dataclasses.replace(
        run.train, batch_size=recipe.batch_size, lr=recipe.lr, beta1=recipe.beta1
    )
    family = dataclasses.replace(run.family, **dict(recipe.network))
    return dataclasses.replace(run, train=cfg, family=family)


def train_recipe(run, images, recipe: Recipe, seconds: float) -> tuple[object, dict]:
    generator, one_step = recipe_loop(recipe_run(run, recipe), images, recipe.loop)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        one_step()
        steps += 1
    return generator, {"seconds": time.perf_counter() - started, "steps": steps}


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
