"""The training loop: a custom loop over `strategy.run`, with phases, checkpoints and resume.

A custom loop rather than `model.fit`: fit fails under MultiWorkerMirroredStrategy in
Keras 3.15 (keras issue 20585), and the loop needs to own checkpointing, divergence
checks and per-step logging anyway. The algorithm itself is `AdversarialGAN.train_step`;
the family's phases and schedules (pipeline.training.phases), the averaged generator
(train.ema) and the named checkpoints are run here without knowing the family.
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

from pipeline.config import RunConfig, check_labelled_slots
from pipeline.data.labels import TrainingLabels
from pipeline.data.loader import StepPlan, training_dataset
from pipeline.errors import ConfigError, TrainingError
from pipeline.gans.blocks.progressive import scheduled_layers
from pipeline.gans.families import get_family
from pipeline.gans.inputs import default_preview
from pipeline.training.build import (
    build_compiled_gan,
    distributed_step,
    fresh_optimizers,
    learning_rate_at,
    set_learning_rate,
)
from pipeline.training.checkpoints import Checkpoint, CheckpointStore, CorruptCheckpoint
from pipeline.training.distribute import is_chief, make_strategy, precision_policy
from pipeline.training.ema import AveragedGenerator
from pipeline.training.phases import PhasePlan, phase_plan
from pipeline.training.state import gan_state, restore, snapshot
from pipeline.training.timing import Timings
from pipeline.training.tracker import NullTracker


class Callback:
    """Hooks into the loop; every method is optional."""

    def on_step_end(self, step: int, values: dict[str, float]) -> None: ...
    def on_checkpoint(self, step: int) -> None: ...
    def on_epoch_end(self, epoch: int, values: dict[str, float]) -> None: ...


class FidProbe(Protocol):
    """The cheap in-training FID (pipeline.scoring.FidProbe): `key` names the metric. It
    gets the generator the run keeps and the discriminator (which a probe of a classifying
    family's discriminator, bench/quality_per_minute.py's, scores too)."""

    key: str

    def __call__(self, generator, discriminator) -> float: ...


@dataclass
class TrainResult:
    gan: object
    steps: int
    generator: object = None  # the one to keep: the averaged generator with train.ema
    history: list[dict] = field(default_factory=list)
    images_per_sec: float = float("nan")
    seconds: float = 0.0
    resumed_from: int = 0
    timings: Timings = field(default_factory=Timings)


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
    timings: Timings | None = None,
) -> TrainResult:
    """Train one GAN on uint8 `images` [N, H, W, C]; resumes from `checkpoint_dir`.

    A translation model (pix2pix) gets its pairs stacked on the channel axis, [N, H, W,
    1 + C]. With a `fid_probe`, every `train.fid_every` epochs its value joins the epoch's
    last history row (and the checkpoint written right after it), MLflow and the
    callbacks. `preview(generator)` draws the per-epoch picture MLflow keeps (default: the
    family's input kind draws it). A label-aware family (cgan, sgan, catgan) needs the
    `labels` it sees (pipeline.data.labels). `timings` (pipeline.training.timing) gets
    the seconds of each part of the loop; the result carries them.
    """
    tracker = tracker or NullTracker()
    timings = timings or Timings()
    cfg = run.train
    family = get_family(run.model)
    strategy = strategy or make_strategy(cfg.strategy)
    chief = is_chief()
    plan = _step_plan(run, len(images), strategy)
    labels = _check_labels(run, labels, len(images), cfg.batch_size)
    phases = phase_plan(family, run, plan.steps_per_epoch, images.shape[1:])
    # only the chief writes, moves or deletes checkpoint files
    store = CheckpointStore(checkpoint_dir, run.fingerprint(), writable=chief)

    with precision_policy(cfg.precision):
        with timings.part("setup"):
            num_classes = labels.num_classes if labels else 0
            gan = build_compiled_gan(
                run, images.shape[1:], strategy, num_classes, phases.schedule_names()
            )
            loop = _Loop(run, gan, strategy, phases, tracker, chief, timings)
            checkpoint, saved = _resume_point(store)
            if checkpoint is not None:
                loop.resume(checkpoint, saved)

        def save_checkpoint() -> None:
            if chief:
                with timings.part("checkpoint"):
                    store.save(loop.step, snapshot(loop.state), loop.extra_state())
            for callback in callbacks:
                callback.on_checkpoint(loop.step)

        def log_picture(name: str) -> None:
            with timings.part("preview"):
                picture = preview(loop.generator)
            with timings.part("tracking"):
                tracker.log_image(picture, name)

        preview = preview or default_preview(run, images, labels)
        augment = family.augmentation(run, tuple(images.shape[1:])) if family.augmentation else None
        bar = tqdm(
            total=phases.total_steps,
            initial=loop.step,
            desc=f"train {run.model}",
            unit="step",
            disable=not (progress and chief),
            mininterval=1.0,
            dynamic_ncols=True,
        )
        while loop.step < phases.total_steps:
            epoch, offset = divmod(loop.step, plan.steps_per_epoch)
            with timings.part("setup"):  # a new phase grows the networks
                loop.enter_phase_at(loop.step)
            phase_end = phases.bounds(loop.phase)[1]
            with timings.part("input"):
                dataset = training_dataset(
                    images,
                    plan,
                    seed=cfg.seed,
                    latent_dim=cfg.latent_dim,
                    epoch=epoch,
                    first_step_in_epoch=offset,
                    augment=augment,
                    labels=labels,
                    draws=gan.draws,
                )
                batches = iter(_distribute(dataset, strategy))
            for batch in _timed_batches(batches, timings):
                values = loop.run_step(batch, plan.images_per_step)
                _check_finite(values, loop.step, store, run.model)
                bar.update(1)
                for callback in callbacks:
                    callback.on_step_end(loop.step, values)
                epoch_end = loop.step % plan.steps_per_epoch == 0
                # the end of one of several phases, which may fall inside an epoch
                phase_done = loop.step == phase_end and len(phases.phases) > 1
                if loop.step % cfg.log_every == 0 or epoch_end or phase_done:
                    means = loop.log_point(epoch + 1)
                    bar.set_postfix({k: f"{v:.3f}" for k, v in means.items()}, refresh=False)
                probe_due = epoch_end and cfg.fid_every and (epoch + 1) % cfg.fid_every == 0
                if fid_probe and (probe_due or phase_done):
                    with timings.part("fid_probe"):
                        loop.history[-1][fid_probe.key] = fid_probe(
                            loop.generator, loop.gan.discriminator
                        )
                    with timings.part("tracking"):
                        fid = {fid_probe.key: loop.history[-1][fid_probe.key]}
                        tracker.log_metrics(fid, loop.step)
                if phase_done:  # MLflow keeps each phase's last picture
                    log_picture(
                        f"samples/phase_{loop.phase + 1}_{phases.phases[loop.phase].name}.png"
                    )
                if loop.step % cfg.checkpoint_every == 0 or epoch_end or phase_done:
                    save_checkpoint()
                if phase_done or loop.step >= phases.total_steps:
                    break  # enter the next phase (the epoch goes on from this step) or stop
            if loop.step % plan.steps_per_epoch and loop.step < phases.total_steps:
                continue  # a phase ended inside the epoch
            log_picture(f"samples/epoch_{epoch + 1:03d}.png")
            epoch_values = {k: v for k, v in loop.history[-1].items() if k.startswith("fid")}
            for callback in callbacks:
                callback.on_epoch_end(epoch + 1, epoch_values)
        bar.close()
    return loop.result()


class _Loop:
    """The state of one training run between steps: the step counter, the phase it is
    in, the logging window, the history, the averaged generator and the named variables
    a checkpoint holds."""

    def __init__(
        self, run, gan, strategy, phases: PhasePlan, tracker, chief: bool, timings: Timings
    ):
        self.run, self.gan, self.strategy, self.phases = run, gan, strategy, phases
        self.tracker, self.chief, self.timings = tracker, chief, timings
        self.step = self.resumed_from = 0
        self.phase = -1  # none entered yet
        self.history: list[dict] = []
        decays = ("lr",) if run.train.lr_decay else ()
        self.names = (*gan.metric_names, *phases.schedule_names(), *decays)  # what is logged
        self.window = _Window(self.names)
        self.ema = None
        if run.train.ema:
            with strategy.scope():
                self.ema = AveragedGenerator(gan.generator, run.train.ema)
        self.timed_images, self.timed_seconds = 0, 0.0
        self._train_step = None

    @property
    def generator(self):
        """The generator the run keeps: the averaged one when train.ema is on."""
        return self.ema.model if self.ema is not None else self.gan.generator

    @property
    def state(self) -> dict:
        return gan_state(self.gan, self.ema.named_variables() if self.ema else None)

    def extra_state(self) -> dict:
        return {
            "history": self.history,
            "window": self.window.state(),
            "mlflow_run_id": self.tracker.run_id,
            "phase": self.phase,
        }

    def enter_phase_at(self, step: int) -> None:
        """Enter every phase up to the one `step` is in (each `enter` runs once)."""
        target = self.phases.index_at(step)
        while self.phase < target:
            self.phase += 1
            phase = self.phases.phases[self.phase]
            if phase.enter is not None:
                with self.strategy.scope():
                    before = _variable_ids(self.gan)
                    phase.enter(self.gan)
                    fresh_optimizers(self.gan, self.run, before)
                    if self.ema is not None:
                        self.ema.follow(self.gan.generator)
                self._train_step = None  # the networks changed: trace the step again
            if self.phase > 0 or phase.enter is not None:
                self.tracker.log_metrics({"phase": float(self.phase)}, step)

    def resume(self, checkpoint: Checkpoint, saved: dict[str, np.ndarray]) -> None:
        """Continue from `checkpoint`, whose variables are `saved` (by name)."""
        self.enter_phase_at(checkpoint.step)
        # names or shapes that do not match (other code) stay a DataError: not corrupt
        restore(self.state, saved, f"checkpoint {checkpoint.path}")
        self.step = self.resumed_from = checkpoint.step
        self.history = list(checkpoint.extra.get("history", []))
        self.window = _Window(self.names, **checkpoint.extra.get("window", {}))

    def run_step(self, batch, images_per_step: int) -> dict[str, float]:
        traced = self._train_step is None  # this step includes tracing: not timed
        if traced:
            self._train_step = distributed_step(
                self.gan, self.strategy, self.run.train.jit_compile, self.ema
            )
            networks = [self.gan.generator, self.gan.discriminator]
            networks += [self.ema.model] if self.ema is not None else []
            self._scheduled = [layer for model in networks for layer in scheduled_layers(model)]
        schedule = self.phases.values_at(self.step)
        for name, value in schedule.items():
            self.gan.schedule[name].assign(value)
        for layer in self._scheduled:
            layer.value.assign(schedule[layer.schedule])
        if self.run.train.lr_decay:  # logged beside the phases' schedules
            schedule["lr"] = learning_rate_at(self.run, self.step, self.phases.total_steps)
            set_learning_rate(self.gan, schedule["lr"])
        started = time.perf_counter()
        values = {k: float(v) for k, v in self._train_step(batch).items()}
        seconds = time.perf_counter() - started
        self.timings.add("trace" if traced else "step", seconds)
        if not traced:  # the first step of a process or a new phase includes tracing
            self.timed_seconds += seconds
            self.timed_images += images_per_step
        self.step += 1
        self.window.add({**values, **schedule})
        return values

    def log_point(self, epoch: int) -> dict[str, float]:
        means = self.window.flush()
        several = len(self.phases.phases) > 1
        phase = {"phase": self.phases.phases[self.phase].name} if several else {}
        self.history.append({"step": self.step, "epoch": epoch, **phase, **means})
        with self.timings.part("tracking"):
            self.tracker.log_metrics(means, self.step)
        return means

    def result(self) -> TrainResult:
        seconds = self.timed_seconds
        rate = self.timed_images / seconds if seconds > 0 else float("nan")
        return TrainResult(
            self.gan,
            self.step,
            self.generator,
            self.history,
            rate,
            seconds,
            self.resumed_from,
            self.timings,
        )


def _timed_batches(batches, timings: Timings):
    """The batches of `batches`, the wait for each counted as `input`."""
    while True:
        with timings.part("input"):
            batch = next(batches, None)
        if batch is None:
            return
        yield batch


def _resume_point(store: CheckpointStore) -> tuple[Checkpoint | None, dict[str, np.ndarray]]:
    """The newest usable checkpoint and its variables, or (None, {}): a fresh start.

    `latest` has checked meta.json and state.npz's checksum; loading can still fail (a
    checkpoint from before checksums, the file changing in between), and such a
    checkpoint is set aside like any corrupt one before anything is built from it."""
    while (checkpoint := store.latest()) is not None:
        try:
            return checkpoint, checkpoint.load_state()
        except CorruptCheckpoint as error:
            store.set_aside(checkpoint.path, error.reason)
    return None, {}


def _variable_ids(gan) -> dict[str, set[int]]:
    return {
        "generator": {id(v) for v in gan.generator.trainable_variables},
        "discriminator": {id(v) for v in gan.discriminator.trainable_variables},
    }


def _step_plan(run: RunConfig, num_images: int, strategy) -> StepPlan:
    cfg = run.train
    plan = StepPlan(num_images, cfg.batch_size, cfg.k_steps, cfg.steps_per_epoch)
    if plan.steps_per_epoch < 1:
        raise ConfigError(
            f"train.batch_size x train.k_steps = {plan.images_per_step} exceeds the "
            f"{num_images} training images; lower train.batch_size"
        )
    if cfg.batch_size % strategy.num_replicas_in_sync:
        raise ConfigError(
            f"train.batch_size ({cfg.batch_size}) must divide evenly over "
            f"{strategy.num_replicas_in_sync} replicas"
        )
    return plan


def _distribute(dataset: tf.data.Dataset, strategy) -> object:
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def _check_labels(run: RunConfig, labels, num_images: int, batch_size: int):
    """The labels a label-aware family needs (and only it gets), checked against the data."""
    if get_family(run.model).label_plan is None:
        return None
    if labels is None:
        raise ConfigError(f"{run.model} trains on labels; pass train(..., labels=...)")
    if len(labels.labels) != num_images:
        raise ConfigError(f"{len(labels.labels)} labels for {num_images} training images")
    check_labelled_slots(run.model, labels.per_batch, batch_size)
    return labels


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
