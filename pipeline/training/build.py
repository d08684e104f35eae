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
from pipeline.training.distribute import make_optimizer


def objective_name(run: RunConfig) -> str:
    """What the run trains with (MLflow's `objective`): train.loss, plus R1 when on, or
    the family's own objective when it takes no train.loss of that name."""
    family = get_family(run.model)
    name = family.objective(run.train.loss)
    if run.train.loss in family.losses and run.train.r1_gamma:
        name += f" + r1(gamma={run.train.r1_gamma:g})"
    return name


def build_gan(run: RunConfig, image_shape, num_classes: int = 0) -> AdversarialGAN:
    """The family's networks and objective for one resolved run. A family given a
    train.loss its objective cannot take keeps its own (the nonsaturating base of it)."""
    family = get_family(run.model)
    cfg = run.train
    takes = cfg.loss in family.losses
    settings = LossSettings(
        gp_weight=cfg.gp_weight, clip=cfg.clip, r1_gamma=cfg.r1_gamma if takes else 0.0
    )
    model_class = family.model or AdversarialGAN
    return model_class(
        family.build_generator(run, tuple(image_shape), num_classes),
        family.build_discriminator(run, tuple(image_shape), num_classes),
        global_batch_size=cfg.batch_size,
        k_steps=cfg.k_steps,
        loss=get_loss(cfg.loss if takes else "nonsaturating", settings),
        update=cfg.update,
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
        gan.compile(
            d_optimizer=make_optimizer(run.train.lr, run.train.beta1, run.train.precision),
            g_optimizer=make_optimizer(run.train.lr, run.train.beta1, run.train.precision),
        )
        gan.build_optimizers()
    return gan


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
