"""Build what one run trains: the family's adversarial model with its objective, its two
Adam optimizers, the averaged generator (train.ema), and the distributed train step."""

from __future__ import annotations

import keras
import tensorflow as tf

from pipeline.config import RunConfig
from pipeline.errors import ConfigError
from pipeline.gans.adversarial import AdversarialGAN
from pipeline.gans.families import get_family
from pipeline.gans.objectives import LossSettings, get_loss
from pipeline.gans.replay import ReplayBuffer
from pipeline.training.distribute import make_optimizer


def objective_name(run: RunConfig) -> str:
    """What the run trains with (MLflow's `objective`): train.loss, plus R1 when on, or
    the family's own objective when it takes no train.loss of that name."""
    family = get_family(run.model)
    name = family.objective(run.train.loss)
    if run.train.loss in family.losses and run.train.r1_gamma:
        name += f" + r1(gamma={run.train.r1_gamma:g})"
    if run.train.loss in family.losses and run.train.drift:
        name += f" + drift({run.train.drift:g})"
    return name


def build_gan(run: RunConfig, image_shape, num_classes: int = 0) -> AdversarialGAN:
    """The family's networks and objective for one resolved run. A family given a
    train.loss its objective cannot take keeps its own (the nonsaturating base of it)."""
    family = get_family(run.model)
    cfg = run.train
    takes = cfg.loss in family.losses
    settings = LossSettings(
        gp_weight=cfg.gp_weight,
        clip=cfg.clip,
        r1_gamma=cfg.r1_gamma if takes else 0.0,
        drift=cfg.drift if takes else 0.0,
    )
    generator = family.build_generator(run, tuple(image_shape), num_classes)
    discriminator = family.build_discriminator(run, tuple(image_shape), num_classes)
    replay = None
    if cfg.replay and "replay" in family.stabilizers:
        replay = ReplayBuffer(cfg.replay, cfg.replay_buffer, tuple(discriminator.input.shape[1:]))
    model_class = family.model or AdversarialGAN
    return model_class(
        generator,
        discriminator,
        global_batch_size=cfg.batch_size,
        k_steps=cfg.k_steps,
        loss=get_loss(cfg.loss if takes else "nonsaturating", settings),
        update=cfg.update,
        discriminator_passes=cfg.discriminator_passes,
        replay=replay,
        name=run.model,
        **family.model_options(run),
    )


def build_compiled_gan(
    run: RunConfig,
    image_shape,
    strategy: tf.distribute.Strategy,
    num_classes: int = 0,
    schedules: tuple[str, ...] = (),
):
    """Build the GAN, its two Adam optimizers and their slots inside `strategy`'s scope;
    `schedules` names the phase values (pipeline.training.phases) it gets as variables."""
    keras.utils.set_random_seed(run.train.seed)  # the same initial weights for a seed
    with strategy.scope():
        gan = build_gan(run, tuple(image_shape), num_classes)
        gan.schedule = {
            name: tf.Variable(0.0, trainable=False, name=name, dtype=tf.float32)
            for name in schedules
        }
        gan.compile(d_optimizer=_optimizer(run), g_optimizer=_optimizer(run))
        gan.build_optimizers()
    return gan


def _optimizer(run: RunConfig) -> keras.optimizers.Optimizer:
    return make_optimizer(run.train.lr, run.train.beta1, run.train.precision)


def learning_rate_at(run: RunConfig, step: int, total_steps: int) -> float:
    """Both networks' learning rate for the step after `step` completed ones: train.lr,
    then over the last train.lr_decay share of the run's `total_steps` falling linearly
    toward 0 (the last step still moves, at 1 / its share of steps of train.lr). A pure
    function of the step, so a resumed run follows the same schedule."""
    lr, share = run.train.lr, run.train.lr_decay
    start = (1 - share) * total_steps
    if not share or step < start:
        return lr
    return lr * max(0.0, (total_steps - step) / (total_steps - start))


def set_learning_rate(gan, lr: float) -> None:
    """Both optimizers' learning rate (a variable the compiled step reads); a phase's fresh
    optimizers start at train.lr, so the trainer sets it before every step."""
    for optimizer in (gan.d_optimizer, gan.g_optimizer):
        optimizer.learning_rate.assign(lr)


def fresh_optimizers(gan, run: RunConfig, before: dict[str, set[int]]) -> None:
    """After a phase changed the networks: a new optimizer (no moments, step 0) for each
    network whose trainable variables are not the ones it had `before` (ids by network
    name), as ProGAN resets Adam at each new resolution; call in the strategy's scope."""
    changed = {
        name
        for name in ("generator", "discriminator")
        if {id(v) for v in getattr(gan, name).trainable_variables} != before[name]
    }
    if not changed:
        return
    gan.compile(
        d_optimizer=_optimizer(run) if "discriminator" in changed else gan.d_optimizer,
        g_optimizer=_optimizer(run) if "generator" in changed else gan.g_optimizer,
    )
    gan.build_optimizers()


def distributed_step(gan, strategy: tf.distribute.Strategy, jit_compile: bool, ema=None):
    """A tf.function running one train step on every replica, returning global means;
    with `ema` (pipeline.training.ema) the average follows each step."""
    if jit_compile and strategy.num_replicas_in_sync > 1:
        raise ConfigError(
            "train.jit_compile needs a single replica; set it false for this strategy"
        )
    replica_step = tf.function(gan.train_step, jit_compile=True) if jit_compile else gan.train_step

    @tf.function
    def step(batch):
        per_replica = strategy.run(replica_step, args=(batch,))
        if ema is not None:  # cross-replica context: one assignment sets every replica
            ema.update()
        # each replica returned its share of the global-batch mean: the sum is the mean
        return {
            name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            for name, value in per_replica.items()
        }

    return step
