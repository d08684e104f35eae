"""The training loop: a custom loop over `strategy.run`, with checkpoints and resume.

A custom loop rather than `model.fit`: fit fails under MultiWorkerMirroredStrategy in
Keras 3.15 (keras issue 20585), and the loop needs to own checkpointing, divergence
checks and per-step logging anyway. The algorithm itself is `AdversarialGAN.train_step`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from pipeline.checkpoints import CheckpointStore
from pipeline.config import RunConfig, check_labelled_slots
from pipeline.data.labels import TrainingLabels
from pipeline.data.loader import StepPlan, fixed_latents, training_dataset
from pipeline.distribute import is_chief, make_optimizer, make_strategy, precision_policy
from pipeline.errors import ConfigError, TrainingError
from pipeline.gans import build_gan, family_of, label_plan
from pipeline.images import grid
from pipeline.tasks import default_preview
from pipeline.tracking import NullTracker


class Callback:
    """Hooks into the loop; every method is optional."""

    def on_step_end(self, step: int, values: dict[str, float]) -> None: ...
    def on_checkpoint(self, step: int) -> None: ...
    def on_epoch_end(self, epoch: int, values: dict[str, float]) -> None: ...


class FidProbe(Protocol):
    """The cheap in-training FID (pipeline.scoring.FidProbe): `key` names the metric."""

    key: str

    def __call__(self, generator) -> float: ...


@dataclass
class TrainResult:
    gan: object
    steps: int
    history: list[dict] = field(default_factory=list)
    images_per_sec: float = float("nan")
    seconds: float = 0.0
    resumed_from: int = 0


def state_variables(gan) -> list:
    """Every variable a checkpoint must hold, in a fixed order."""
    seen, ordered = set(), []
    for variable in [*gan.variables, *gan.d_optimizer.variables, *gan.g_optimizer.variables]:
        if id(variable) not in seen:
            seen.add(id(variable))
            ordered.append(variable)
    return ordered


def build_compiled_gan(
    run: RunConfig, image_shape, strategy: tf.distribute.Strategy, num_classes: int = 0
):
    """Build the GAN, its two Adam optimizers and their slots inside `strategy`'s scope."""
    import keras

    keras.utils.set_random_seed(run.train.seed)  # the same initial weights for a seed
    with strategy.scope():
        gan = build_gan(run, tuple(image_shape), num_classes)
        gan.compile(
            d_optimizer=make_optimizer(run.train.lr, run.train.beta1, run.train.precision),
            g_optimizer=make_optimizer(run.train.lr, run.train.beta1, run.train.precision),
        )
        gan.build_optimizers()
    return gan


def distributed_step(gan, strategy: tf.distribute.Strategy, jit_compile: bool):
    """A tf.function running one train step on every replica, returning global means."""
    if jit_compile and strategy.num_replicas_in_sync > 1:
        raise ConfigError(
            "train.jit_compile needs a single replica; set it false for this strategy"
        )
    replica_step = tf.function(gan.train_step, jit_compile=True) if jit_compile else gan.train_step

    @tf.function
    def step(batch):
        per_replica = strategy.run(replica_step, args=(batch,))
        # each replica returned its share of the global-batch mean: the sum is the mean
        return {
            name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            for name, value in per_replica.items()
        }

    return step


def _distribute(dataset: tf.data.Dataset, strategy) -> object:
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def sample_images(generator, latents: np.ndarray) -> np.ndarray:
    """Generator output in inference mode (batch norm uses its moving statistics)."""
    return np.asarray(generator(latents, training=False), dtype=np.float32)


def latent_preview(run: RunConfig) -> Callable[[object], np.ndarray]:
    """The picture of a generator of noise: a grid from the run's fixed latents."""
    cfg = run.train
    latents = fixed_latents(cfg.sample_grid**2, cfg.latent_dim, cfg.seed)
    return lambda generator: grid(sample_images(generator, latents), columns=cfg.sample_grid)


class _Window:
    """Means of the step values between two logged points (part of a checkpoint, so a
    resumed run logs exactly the points an uninterrupted one does)."""

    def __init__(self, names: Sequence[str], sums: dict[str, float] | None = None, count=0):
        self.names = tuple(names)
        self.sums = dict(sums) if sums else dict.fromkeys(self.names, 0.0)
        self.count = count

    def state(self) -> dict:
        return {"sums": self.sums, "count": self.count}

    def add(self, values: dict[str, float]) -> None:
        for name in self.names:
            self.sums[name] += values[name]
        self.count += 1

    def flush(self) -> dict[str, float]:
        means = {name: total / self.count for name, total in self.sums.items()}
        self.sums, self.count = dict.fromkeys(self.names, 0.0), 0
        return means


def train(
    run: RunConfig,
    images: np.ndarray,
    *,
    checkpoint_dir: Path,
    tracker=None,
    callbacks: Sequence[Callback] = (),
    strategy: tf.distribute.Strategy | None = None,
    progress: bool = True,
    fid_probe: FidProbe | None = None,
    preview: Callable[[object], np.ndarray] | None = None,
    labels: TrainingLabels | None = None,
) -> TrainResult:
    """Train one GAN on uint8 `images` [N, H, W, C]; resumes from `checkpoint_dir`.

    A translation model (pix2pix) gets its pairs stacked on the channel axis, [N, H, W,
    1 + C]. With a `fid_probe`, every `train.fid_every` epochs its value joins the epoch's
    last history row (and the checkpoint written right after it), MLflow and the
    callbacks. `preview(generator)` draws the per-epoch picture MLflow keeps (default: a
    grid from the fixed latents, or triptychs of the first pairs). A label-aware family
    (cgan, sgan, catgan) needs the `labels` it sees (pipeline.data.labels).
    """
    tracker = tracker or NullTracker()
    cfg = run.train
    strategy = strategy or make_strategy(cfg.strategy)
    chief = is_chief()
    plan = StepPlan(len(images), cfg.batch_size, cfg.k_steps, cfg.steps_per_epoch)
    if plan.steps_per_epoch < 1:
        raise ConfigError(
            f"train.batch_size x train.k_steps = {plan.images_per_step} exceeds the "
            f"{len(images)} training images; lower train.batch_size"
        )
    if cfg.batch_size % strategy.num_replicas_in_sync:
        raise ConfigError(
            f"train.batch_size ({cfg.batch_size}) must divide evenly over "
            f"{strategy.num_replicas_in_sync} replicas"
        )
    labels = _check_labels(run, labels, len(images), cfg.batch_size)
    total_steps = cfg.epochs * plan.steps_per_epoch
    store = CheckpointStore(checkpoint_dir, run.fingerprint())

    with precision_policy(cfg.precision):
        num_classes = labels.num_classes if labels else 0
        gan = build_compiled_gan(run, images.shape[1:], strategy, num_classes)
        variables = state_variables(gan)
        history: list[dict] = []
        window = _Window(gan.metric_names)
        step = 0
        checkpoint = store.latest()
        if checkpoint is not None:
            for variable, value in zip(variables, checkpoint.load_state(), strict=True):
                variable.assign(value)
            step = checkpoint.step
            history = list(checkpoint.extra.get("history", []))
            window = _Window(gan.metric_names, **checkpoint.extra.get("window", {}))
        resumed_from = step

        def save_checkpoint() -> None:
            if chief:
                state = [np.asarray(v.numpy()) for v in variables]
                extra = {
                    "history": history,
                    "window": window.state(),
                    "mlflow_run_id": tracker.run_id,
                }
                store.save(step, state, extra)
            for callback in callbacks:
                callback.on_checkpoint(step)

        train_step = distributed_step(gan, strategy, cfg.jit_compile)
        preview = preview or default_preview(run, images, labels)
        augment = augmentation_for(run, images.shape[1:])
        bar = tqdm(
            total=total_steps,
            initial=step,
            desc=f"train {run.model}",
            unit="step",
            disable=not (progress and chief),
            mininterval=1.0,
            dynamic_ncols=True,
        )
        timed_images, timed_seconds = 0, 0.0
        while step < total_steps:
            epoch, offset = divmod(step, plan.steps_per_epoch)
            dataset = training_dataset(
                images,
                plan,
                seed=cfg.seed,
                latent_dim=cfg.latent_dim,
                epoch=epoch,
                first_step_in_epoch=offset,
                augment=augment,
                labels=labels,
            )
            for batch in _distribute(dataset, strategy):
                started = time.perf_counter()
                values = {k: float(v) for k, v in train_step(batch).items()}
                if step > resumed_from:  # the first step of a process includes tracing
                    timed_seconds += time.perf_counter() - started
                    timed_images += plan.images_per_step
                _check_finite(values, step + 1, store, run.model)
                step += 1
                window.add(values)
                bar.update(1)
                for callback in callbacks:
                    callback.on_step_end(step, values)
                epoch_end = step % plan.steps_per_epoch == 0
                if step % cfg.log_every == 0 or epoch_end:
                    means = window.flush()
                    history.append({"step": step, "epoch": epoch + 1, **means})
                    tracker.log_metrics(means, step)
                    bar.set_postfix({k: f"{v:.3f}" for k, v in means.items()}, refresh=False)
                if epoch_end and fid_probe and cfg.fid_every and (epoch + 1) % cfg.fid_every == 0:
                    history[-1][fid_probe.key] = fid_probe(gan.generator)
                    tracker.log_metrics({fid_probe.key: history[-1][fid_probe.key]}, step)
                if step % cfg.checkpoint_every == 0 or epoch_end:
                    save_checkpoint()
            tracker.log_image(preview(gan.generator), f"samples/epoch_{epoch + 1:03d}.png")
            epoch_values = {k: v for k, v in history[-1].items() if k.startswith("fid")}
            for callback in callbacks:
                callback.on_epoch_end(epoch + 1, epoch_values)
        bar.close()

    rate = timed_images / timed_seconds if timed_seconds > 0 else float("nan")
    return TrainResult(gan, step, history, rate, timed_seconds, resumed_from)


def _check_labels(run: RunConfig, labels, num_images: int, batch_size: int):
    """The labels a label-aware family needs (and only it gets), checked against the data."""
    if label_plan(run.model, run) is None:
        return None
    if labels is None:
        raise ConfigError(f"{run.model} trains on labels; pass train(..., labels=...)")
    if len(labels.labels) != num_images:
        raise ConfigError(f"{len(labels.labels)} labels for {num_images} training images")
    check_labelled_slots(run.model, labels.per_batch, batch_size)
    return labels


def augmentation_for(run: RunConfig, image_shape):
    """The family's augmentation of the real batches (pix2pix's jitter), or None."""
    make = getattr(family_of(run.model), "augmentation", None)  # e.g. pix2pix's jitter
    return make(run, tuple(image_shape)) if make else None


def _check_finite(values: dict[str, float], step: int, store: CheckpointStore, model: str):
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if not bad:
        return
    name, value = next(iter(bad.items()))
    kept = store.latest()
    where = (
        f"the last good checkpoint (step {kept.step}) is kept in {kept.path}"
        if kept
        else "no checkpoint was written yet"
    )
    raise TrainingError(
        f"train@{model}: {name} became {value} at step {step}; {where}; lower train.lr or "
        "change train.loss/train.beta1 (the same params would diverge again)"
    )
