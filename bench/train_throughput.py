"""Training throughput of one GAN through the project's own train step, in images/sec.

What it measures: the wall time of `pipeline.training.distributed_step` (the step the
training loop runs) fed by `pipeline.data.loader.training_dataset`, so the input pipeline
is included. Each step reads its loss values with float(), as the training loop does,
which forces the step to finish. One step uses batch_size * k_steps real images; the
rate is those images over the wall time of `--steps` steps, after `--warmup` untimed
steps (tracing, XLA compilation). Images are data/raw/dataset.npz's x_train if it exists,
else random uint8 images [N, 28, 28, 1] (the compute does not depend on the pixels);
the label-aware families (cgan, sgan, catgan, stackgan) need the fetched dataset's labels.

--bare also times the same networks in a bare compiled step: one tf.function with two
GradientTapes (the simultaneous update, non-saturating loss, Adam), real batches gathered
from one tensor, no strategy, checkpoints, logging, schedules or averaged generator; its
ratio to ours is the pipeline's own overhead per step (latent families only).

--baseline also times seed 000's train_on_batch loop (float32, Keras defaults, whatever
--precision/--jit say; see `build_baseline`), interleaved with ours round by round so
both see the same machine load, then checks that the loop really trains the
discriminator (and, as a note, that seed 000's loop as written does not).

Reading the output: one line per round, then the median over rounds with the min..max
spread; the LAST line is always `images_per_sec <float>`, the median of ours. Rates on
a shared CPU vary run to run by 10-40%: compare within one run (the ratio), and trust a
difference between runs only when it is larger than that.

    .venv/bin/python bench/train_throughput.py --model dcgan --steps 30 --rounds 3 --baseline
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import yaml


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        required=True,
        help="any family of the zoo, e.g. dcgan or sgan (label-aware ones need the fetched data)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per round")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--jit", action="store_true", help="train.jit_compile: true")
    parser.add_argument("--baseline", action="store_true", help="also time seed 000's loop")
    parser.add_argument("--bare", action="store_true", help="also time a bare compiled step")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="any other param, e.g. models.dcgan.generator=transposed",
    )  # fmt: skip
    return parser.parse_args(argv)


def load_run(args: argparse.Namespace):
    from pipeline.config import load_params
    from pipeline.gans.families import resolve_run

    params = load_params(args.params)
    overrides = [
        f"train.batch_size={args.batch_size}",
        f"train.precision={args.precision}",
        f"train.jit_compile={str(args.jit).lower()}",
    ]
    model_params = (params.get("models") or {}).get(args.model) or {}
    for key in ("batch_size", "precision"):  # a models.<name> override would win otherwise
        model_params.pop(key, None)
    for item in [*overrides, *args.set]:
        key, _, text = item.partition("=")
        *path, last = key.split(".")
        node = params
        for part in path:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(text)
    from pipeline.gans.families import get_family

    return get_family(args.model).inputs.configure(resolve_run(params, args.model), params)


def load_images(run, count: int) -> tuple[np.ndarray, object]:
    """(images, labels): what the family's train stage iterates if its data file exists
    (uint8 [N, 28, 28, 1], pix2pix's edge pairs [N, 32, 32, 2], srgan's low/high pairs
    [N, 28, 28, 2]), else random pixels of that shape. `labels` is the family's
    pipeline.data.labels.TrainingLabels for a label-aware family (cgan, sgan, catgan,
    stackgan: the fetched dataset's, as the train stage makes them), else None."""
    from pipeline.gans.families import get_family

    family = get_family(run.model)
    path = Path(family.inputs.data_file(run.data))
    if family.label_plan is not None and not path.is_file():
        raise SystemExit(
            f"{run.model} trains on class labels, which random pixels do not have: "
            f"run `dvc repro fetch` first ({path} is missing)"
        )
    if path.is_file():  # what the train stage iterates: images, edge or low/high pairs
        task = family.inputs.task(run)
        return task.train_images, task.train_labels
    stacked = {"edge pairs": (32, 32, 2), "low-resolution pairs": (28, 28, 2)}
    shape = stacked.get(family.inputs.name, (28, 28, 1))
    return np.random.default_rng(0).integers(0, 256, (count, *shape), dtype=np.uint8), None


def build_ours(run, images: np.ndarray, labels=None):
    """The project's step and input pipeline (the first phase's, for a phased family);
    returns (one_step, images per step)."""
    import tensorflow as tf

    from pipeline.data.loader import StepPlan, training_dataset
    from pipeline.gans.families import get_family
    from pipeline.training.build import build_compiled_gan, distributed_step
    from pipeline.training.distribute import precision_policy

    cfg = run.train
    strategy = tf.distribute.get_strategy()
    plan = StepPlan(len(images), cfg.batch_size, cfg.k_steps)
    family = get_family(run.model)  # pix2pix's jitter counts too
    augment = family.augmentation(run, images.shape[1:]) if family.augmentation else None
    num_classes = labels.num_classes if labels is not None else 0
    with precision_policy(cfg.precision):  # layers keep their policy: tracing outside
        gan = build_compiled_gan(run, images.shape[1:], strategy, num_classes)
        step = distributed_step(gan, strategy, cfg.jit_compile)  # it gives the same losses
    dataset = training_dataset(
        images,
        plan,
        seed=cfg.seed,
        latent_dim=cfg.latent_dim,
        epoch=0,
        augment=augment,
        labels=labels,
        draws=gan.draws,  # a loss's per-example draws, as the training loop feeds them
    )
    batches = iter(dataset.repeat())

    def one_step() -> float:
        values = {name: float(value) for name, value in step(next(batches)).items()}
        return values["g_loss"]

    return one_step, plan.images_per_step


def build_baseline(run, images: np.ndarray, *, flip: bool = True) -> SimpleNamespace:
    """Seed 000's loop, made fair: .step(), .images_per_step and the models.

    Fair: the project's generator and discriminator (plus the sigmoid seed 000 ends
    with), the same images, Adam(lr, beta1) for each of D and combined.

    `flip` is seed 004's `discriminator.trainable = True/False` around the D updates.
    Keras 3 reads `trainable` when a model's train function is first traced (its first
    train_on_batch), not at compile(): TensorFlowTrainer.train_step takes
    self.trainable_weights, the optimizer is built from the variables of its first
    apply, BatchNormalization uses batch statistics only `if training and self.trainable`,
    and the traced function is cached, not retraced when the flag changes. (Its warning
    for a flag changed since compile, Trainer._warn_if_trainable_state_changed, is dead
    code in 3.15: it follows a `raise`.) Seed 000 as written sets the flag False before
    building `combined` and never back, so D is traced with no trainable weights ("The
    model does not have any trainable weights") and never learns. With the flip each
    model is traced with the flag it should have: zero recompiles are needed, and only
    the first flip matters (the later ones, kept as seed 004 has them, cost microseconds).
    `check_baseline` verifies both cases.
    """
    import keras

    from pipeline.gans.families import get_family

    cfg, shape = run.train, images.shape[1:]
    family = get_family(run.model)
    keras.utils.set_random_seed(cfg.seed)
    generator = family.build_generator(run, shape)
    logits = family.build_discriminator(run, shape)
    image = keras.Input(shape)
    discriminator = keras.Model(image, keras.layers.Activation("sigmoid")(logits(image)))
    d_variables = list(discriminator.trainable_weights)
    discriminator.compile(
        loss="binary_crossentropy", optimizer=keras.optimizers.Adam(cfg.lr, cfg.beta1)
    )
    discriminator.trainable = False  # seed 000: "only train the generator" in combined
    z = keras.Input((cfg.latent_dim,))
    combined = keras.Model(z, discriminator(generator(z)))
    combined.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(cfg.lr, cfg.beta1))

    x_train = images.astype(np.float32) / 127.5 - 1.0  # seed 000's scaling, once
    batch = cfg.batch_size
    ones, zeros = np.ones((batch, 1)), np.zeros((batch, 1))

    def one_step() -> float:
        real = x_train[np.random.randint(0, len(x_train), batch)]
        noise = np.random.normal(size=(batch, cfg.latent_dim))
        fake = generator.predict(noise, verbose=0)
        if flip:
            discriminator.trainable = True
        discriminator.train_on_batch(real, ones)
        discriminator.train_on_batch(fake, zeros)
        if flip:
            discriminator.trainable = False
        return combined.train_on_batch(noise, ones)  # a Python float: the step is done

    found = dict(d_variables=d_variables, generator=generator, combined=combined, ones=ones)
    return SimpleNamespace(step=one_step, images_per_step=batch, **found)


def build_bare(run, images: np.ndarray):
    """The same networks in a bare compiled train step; returns (one_step, images per step)."""
    import keras
    import tensorflow as tf

    from pipeline.gans.families import get_family
    from pipeline.training.distribute import precision_policy

    cfg, shape = run.train, images.shape[1:]
    family = get_family(run.model)
    if family.label_plan is not None or len(shape) != 3 or shape[-1] not in (1, 3):
        raise SystemExit(f"--bare times latent GANs only (gan, dcgan, progan), not {run.model}")
    if cfg.update != "simultaneous" or cfg.k_steps != 1:
        raise SystemExit("--bare times the simultaneous update with k_steps 1 only")
    keras.utils.set_random_seed(cfg.seed)
    with precision_policy(cfg.precision):
        generator = family.build_generator(run, shape)
        discriminator = family.build_discriminator(run, shape)
    g_opt = keras.optimizers.Adam(cfg.lr, beta_1=cfg.beta1)
    d_opt = keras.optimizers.Adam(cfg.lr, beta_1=cfg.beta1)
    pixels = tf.constant(images.astype(np.float32) / 127.5 - 1.0)
    batch = cfg.batch_size

    def bce(logits, target: float):
        logits = tf.cast(logits, tf.float32)
        labels = tf.fill(tf.shape(logits), target)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits))

    @tf.function(jit_compile=cfg.jit_compile)
    def step(indices):
        real = tf.gather(pixels, indices)
        noise = tf.random.normal((batch, cfg.latent_dim))
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            fake = tf.cast(generator(noise, training=True), tf.float32)
            logits = discriminator(tf.concat([real, fake], 0), training=True)
            real_logits, fake_logits = tf.split(logits, 2)
            d_loss = bce(real_logits, 1.0) + bce(fake_logits, 0.0)
            g_loss = bce(fake_logits, 1.0)
        d_vars, g_vars = discriminator.trainable_variables, generator.trainable_variables
        d_opt.apply(d_tape.gradient(d_loss, d_vars), d_vars)
        g_opt.apply(g_tape.gradient(g_loss, g_vars), g_vars)
        return g_loss

    rng = np.random.default_rng(cfg.seed)

    def one_step() -> float:
        return float(step(rng.integers(0, len(images), batch)))

    return one_step, batch


def _moved(variables, before) -> float:
    return max(float(np.max(np.abs(v.numpy() - b))) for v, b in zip(variables, before, strict=True))


def check_baseline(run, images: np.ndarray) -> None:
    """Print whether one baseline step moves D's weights, with and without the flip."""
    for flip in (True, False):
        base = build_baseline(run, images, flip=flip)
        d_vars, generator = base.d_variables, base.generator
        before = [v.numpy() for v in d_vars]
        g_before = [v.numpy() for v in generator.trainable_weights]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            base.step()
        said = sorted(
            {str(w.message).split(".")[0] for w in caught if "trainable" in str(w.message)}
        )
        d_moved, g_moved = _moved(d_vars, before), _moved(generator.trainable_weights, g_before)
        after = [v.numpy() for v in d_vars]
        noise = np.random.normal(size=(len(base.ones), run.train.latent_dim))
        base.combined.train_on_batch(noise, base.ones)
        name = "with the trainable flip (seed 004)" if flip else "NOTE seed 000 as written"
        print(
            f"check {name}: one step moves D by {d_moved:.2e} (max |dw|), G by {g_moved:.2e}; "
            f"a combined step then moves D by {_moved(d_vars, after):.2e}"
            + (f"; Keras warned: {said}" if said else "")
        )


def timed_rate(one_step, images_per_step: int, steps: int) -> float:
    started = time.perf_counter()
    for _ in range(steps):
        one_step()
    return images_per_step * steps / (time.perf_counter() - started)


def summary(values: list[float], digits: int = 1) -> str:
    median, low, high = statistics.median(values), min(values), max(values)
    return f"{median:.{digits}f} (min {low:.{digits}f}, max {high:.{digits}f})"


def main(argv=None) -> None:
    args = parse_args(argv)
    from pipeline.config import load_params, runtime_environment

    # As the CLI does: train.inter_op_threads before TensorFlow starts; an environment
    # variable already set wins (TF_NUM_INTEROP_THREADS=0 is TensorFlow's own default).
    for name, value in runtime_environment(load_params(args.params)).items():
        os.environ.setdefault(name, value)
    print(f"TF_NUM_INTEROP_THREADS={os.environ.get('TF_NUM_INTEROP_THREADS', '(unset)')}")
    run = load_run(args)
    cfg = run.train
    total_steps = args.warmup + args.rounds * args.steps
    images, labels = load_images(run, cfg.batch_size * cfg.k_steps * total_steps + 1)
    print(
        f"model {run.model} {run.family}  batch {cfg.batch_size}  k_steps {cfg.k_steps}  "
        f"precision {cfg.precision}  jit {cfg.jit_compile}  images {images.shape}  "
        f"{args.rounds} rounds x {args.steps} steps after {args.warmup} warm-up steps"
    )
    contenders = {"ours": build_ours(run, images, labels)}
    if args.bare:
        contenders["bare"] = build_bare(run, images)
    if args.baseline:
        base = build_baseline(run, images)
        contenders = {"baseline": (base.step, base.images_per_step), **contenders}
    for one_step, _ in contenders.values():
        for _ in range(args.warmup):
            one_step()
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(1, args.rounds + 1):
        for name, (one_step, per_step) in contenders.items():  # interleaved
            rates[name].append(timed_rate(one_step, per_step, args.steps))
        line = "  ".join(f"{name} {values[-1]:.1f}" for name, values in rates.items())
        if args.baseline:
            line += f"  ratio {rates['ours'][-1] / rates['baseline'][-1]:.2f}"
        print(f"round {round_}: images/sec {line}")
    for name, values in rates.items():
        print(f"{name}_images_per_sec {summary(values)}")
    if args.bare:
        ratios = [o / b for o, b in zip(rates["ours"], rates["bare"], strict=True)]
        print(f"ratio_ours_over_bare {summary(ratios, 2)}")
    if args.baseline:
        ratios = [o / b for o, b in zip(rates["ours"], rates["baseline"], strict=True)]
        print(f"ratio_ours_over_baseline {summary(ratios, 2)}")
        check_baseline(run, images)
    print(f"images_per_sec {statistics.median(rates['ours']):.1f}")


if __name__ == "__main__":
    main()
