"""The adversarial model every family trains with, as it is or through a subclass of its own.

`AdversarialGAN.train_step` is the algorithm of seed 003 (Goodfellow et al.): k
discriminator updates, then one generator update, written with gradient tapes rather than
the `trainable = False` + combined-model trick of seeds 000/004, which under Keras 3 freezes
the discriminator for good (the flag is read when the step is traced).

The objective composes: `loss` (pipeline.gans.objectives, chosen by train.loss) gives
both networks' losses on D's outputs and, where it needs them, a penalty that gets D
itself and its inputs (WGAN-GP, DRAGAN; R1 on the reals with train.r1_gamma). A family
adds its own terms through the hooks below (pix2pix's L1, SGAN's classes).

Data layout of one step, a dict, per replica (b = the replica's share of the global batch):
    real:   [b, k, H, W, C] float32 in [-1, 1]  (k real minibatches, one per D update)
    noise:  [b, k + 1, latent]                  (one latent batch per D update, one for G)
    labels: [b, k] int32, -1 where hidden       (only for the label-aware families)
    alpha, perturbation: [b, k], [b, k, H, W, C] U(0, 1)   (only for a loss that draws them)
Splitting the batch axis across replicas and averaging every loss over the *global* batch
(`tf.nn.compute_average_loss`, or `_global_mean` for a statistic of the whole batch) makes
the summed gradients equal to those of one device.

A family that is not "noise in, image out" subclasses and overrides hooks, keeping
`train_step`, k_steps, the update order, loss scaling and the averaging here. A batch is
(real, labels) with labels None for a family without them:
    _generate(real, labels, z) -> fake              what G makes for this minibatch
    _discriminator_input(real, labels, fake)        what D sees for a fake, shaped like the
                                                    real minibatch (pix2pix adds the edges)
    _discriminate(images, labels) -> D output       D on a batch of D inputs, [2b, ...] when
                                                    real and fake share a pass (cgan passes
                                                    the labels)
    _discriminator_objective(real_out, fake_out, labels)   {"d_loss", "d_real", "d_fake", ...}
    _generator_objective(real, labels, fake, fake_out, real_out)   {"g_loss", ...}
and lists the extra values in `metric_names`. `real_out` is D's output on the real
minibatch; the G-only update computes it only for a family that sets
`generator_sees_real` (SGAN's feature matching).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from pipeline.gans.losses import supervised_loss
from pipeline.gans.objectives import Loss, get_loss
from pipeline.gans.replay import DRAW as replay_draw
from pipeline.gans.replay import ReplayBuffer

# What one train step returns (global-batch means), in this order.
METRIC_NAMES = ("d_loss", "g_loss", "d_real", "d_fake")


class AdversarialGAN(keras.Model):
    """A generator and a discriminator trained against each other."""

    # The values `train_step` returns; the training loop logs exactly these.
    metric_names: tuple[str, ...] = METRIC_NAMES

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        *,
        global_batch_size: int,
        k_steps: int = 1,
        loss: Loss | str = "nonsaturating",
        update: str = "simultaneous",
        discriminator_passes: str = "joint",
        replay: ReplayBuffer | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.global_batch_size = global_batch_size
        self.k_steps = k_steps
        self.loss = get_loss(loss) if isinstance(loss, str) else loss
        self.update = update
        self.discriminator_passes = discriminator_passes  # joint | separate (_discriminate_each)
        self.replay = replay  # experience replay (train.replay), or None

    @property
    def draws(self) -> tuple[str, ...]:
        """The per-example U(0, 1) draws a step needs from the data pipeline."""
        return (*self.loss.draws, *(self.replay.draws if self.replay else ()))

    def checkpointed(self) -> dict[str, object]:
        """A family's own state beyond the networks, optimizers, schedules and replay
        buffer, by checkpoint name (StyleGAN's mixing RNG); none here."""
        return {}

    def call(self, z, training=False):
        # A wrapper model needs a call() to be usable under a strategy (and by fit).
        return self.generator(z, training=training)

    def compile(self, d_optimizer: keras.optimizers.Optimizer, g_optimizer):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    def build_optimizers(self) -> None:
        """Create the optimizer slots now, so a checkpoint can be restored into them."""
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    # --- pieces of the algorithm ------------------------------------------------------

    def _average(self, per_example: tf.Tensor) -> tf.Tensor:
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch_size)

    @staticmethod
    def _apply(optimizer, tape, scaled_loss, variables) -> None:
        gradients = tape.gradient(scaled_loss, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))

    def _global_mean(self, per_example: tf.Tensor) -> tf.Tensor:
        """The mean over the *global* batch of per-example rows [b, ...] -> [...], the same
        on every replica (an all-reduce, through which gradients flow to each replica's
        examples): for statistics of the whole batch, such as CatGAN's class marginal."""
        total = tf.reduce_sum(tf.cast(per_example, tf.float32), axis=0)
        total = tf.distribute.get_replica_context().all_reduce("sum", total)
        return total / self.global_batch_size

    def _labelled_mean(self, per_example: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """This replica's share of the mean of `per_example` [b] over the labelled rows
        (labels >= 0) of the global batch; 0 when no row of it is labelled."""
        labelled = tf.cast(labels >= 0, tf.float32)
        count = tf.distribute.get_replica_context().all_reduce("sum", tf.reduce_sum(labelled))
        return tf.math.divide_no_nan(tf.reduce_sum(per_example * labelled), count)

    def _replica_share(self, value: tf.Tensor) -> tf.Tensor:
        """A global-batch value every replica computed alike, as this replica's share: the
        replicas' shares sum to it (the convention of every loss and logged value here)."""
        return value / tf.distribute.get_replica_context().num_replicas_in_sync

    # --- hooks: what is generated, what D sees, what each network minimises ---------------

    generator_sees_real = False  # whether _generator_objective needs real_out in a G update

    def _present_reals(self, real: tf.Tensor) -> tf.Tensor:
        """The step's real minibatches [b, k, H, W, C] as D and every objective see them:
        as they come (ProGAN fades them between two resolutions in a fade-in)."""
        return real

    def _generate(self, real, labels, z: tf.Tensor) -> tf.Tensor:
        """G's output for this minibatch: [b, H, W, C] from the latents (real is unused)."""
        return self.generator(z, training=True)

    def _discriminator_input(self, real, labels, fake: tf.Tensor) -> tf.Tensor:
        """What D judges for a fake, shaped like the real minibatch: the image itself."""
        return fake

    def _discriminate(self, images: tf.Tensor, labels):
        """D's output on a batch of D inputs (labels, when given, match its rows)."""
        return self.discriminator(images, training=True)

    @staticmethod
    def critic_logit(d_output) -> tf.Tensor:
        """The real/fake logit (or critic score) in D's output: [B, ...]. A family whose D
        outputs more (SGAN's K + 1 classes and features) says where it is."""
        return d_output

    def _discriminator_objective(self, real_out, fake_out, labels) -> dict[str, tf.Tensor]:
        """{"d_loss": the global-batch mean D minimises, "d_real", "d_fake", extras}.
        d_real / d_fake are D(x) and D(G(z)) for a probability loss, the critic's mean
        score otherwise (`loss.scores_are_probabilities`)."""
        return {
            "d_loss": self._average(self.loss.discriminator(real_out, fake_out)),
            "d_real": self._average(self.loss.report(real_out)),
            "d_fake": self._average(self.loss.report(fake_out)),
        }

    def _generator_objective(self, real, labels, fake, fake_out, real_out):
        """{"g_loss": the global-batch mean G minimises, plus any extra logged values}."""
        return {"g_loss": self._average(self.loss.generator(fake_out))}

    def _penalty(self, real, labels, fake, draws) -> tf.Tensor | None:
        """The loss's penalty (it gets D and D's inputs; R1 included when on), as this
        replica's share of the global-batch mean; None when there is none (no extra ops,
        so the numbers of a loss without one are unchanged)."""
        if not self.loss.has_penalty:
            return None

        def critic(inputs):
            return self.critic_logit(self._discriminate(inputs, labels))

        fake_inputs = self._discriminator_input(real, labels, fake)
        penalty = self.loss.penalty(critic, real, fake_inputs, draws or {})
        return None if penalty is None else self._average(penalty)

    def _with_penalty(self, report, real, labels, fake, draws) -> dict[str, tf.Tensor]:
        penalty = self._penalty(real, labels, fake, draws)
        if penalty is None:
            return report
        return {**report, "d_loss": report["d_loss"] + penalty}

    def _judge(self, real, labels, fake, draws=None):
        """D's outputs for real and fake (`_discriminate_each`); with replay (and its
        draws: a D update) some fakes are past ones from the buffer."""
        fake_inputs = self._discriminator_input(real, labels, fake)
        if self.replay is not None and draws:
            fake_inputs = self.replay.mix(fake_inputs, draws[replay_draw])
        real_out, fake_out = self._discriminate_each([real, fake_inputs], [labels, labels])
        return real_out, fake_out

    def _discriminate_each(self, parts: list, part_labels: list) -> list:
        """D's output on each of `parts` (D inputs [b, ...], with their labels or None).
        `joint` passes: one pass over their concatenation [n b, ...], so a BatchNorm in D
        normalises real and fake with the statistics of the mixed batch. `separate`: a
        pass per part, as seed 000's two `train_on_batch` calls (a real batch, then a fake
        one), so each kind is normalised by its own statistics."""
        if self.discriminator_passes == "separate":
            return [self._discriminate(*pair) for pair in zip(parts, part_labels, strict=True)]
        both = tf.concat(parts, axis=0)
        both_labels = None if part_labels[0] is None else tf.concat(part_labels, axis=0)
        out = self._discriminate(both, both_labels)  # D may output several tensors
        pieces = [tf.split(t, len(parts), axis=0) for t in tf.nest.flatten(out)]
        return [
            tf.nest.pack_sequence_as(out, [piece[i] for piece in pieces]) for i in range(len(parts))
        ]

    # --- the three updates ----------------------------------------------------------------

    def _discriminator_update(self, real, labels, z, draws=None) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            fake = self._generate(real, labels, z)
            real_out, fake_out = self._judge(real, labels, fake, draws)
            report = self._discriminator_objective(real_out, fake_out, labels)
            report = self._with_penalty(report, real, labels, fake, draws)
            scaled = self.d_optimizer.scale_loss(report["d_loss"])
        self._apply(self.d_optimizer, tape, scaled, self.discriminator.trainable_variables)
        self.loss.after_discriminator_update(self.discriminator)
        self._remember(real, labels, fake)
        return report

    def _generator_update(self, z, real, labels) -> dict[str, tf.Tensor]:
        """G's update (D's batch statistics from fakes only, as in the textbook loop, unless
        the objective needs D on the reals too); `real` is the last D minibatch, whose
        conditions (edges, labels) G is given."""
        with tf.GradientTape() as tape:
            fake = self._generate(real, labels, z)
            if self.generator_sees_real:
                real_out, fake_out = self._judge(real, labels, fake)
            else:
                real_out = None
                fake_out = self._discriminate(self._discriminator_input(real, labels, fake), labels)
            objective = self._generator_objective(real, labels, fake, fake_out, real_out)
            scaled = self.g_optimizer.scale_loss(objective["g_loss"])
        self._apply(self.g_optimizer, tape, scaled, self.generator.trainable_variables)
        return objective

    def _joint_update(self, real, labels, z, draws=None) -> dict[str, tf.Tensor]:
        """One generator forward pass serves both updates (the simultaneous form).

        Both gradients are taken at the same point, before either network moves; this
        saves a generator forward pass and a discriminator pass per step.
        """
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            fake = self._generate(real, labels, z)
            real_out, fake_out = self._judge(real, labels, fake, draws)
            report = self._discriminator_objective(real_out, fake_out, labels)
            report = self._with_penalty(report, real, labels, fake, draws)
            if self.replay is not None:  # G's loss on its fresh fakes, not the swapped ones
                fake_out = self._discriminate(self._discriminator_input(real, labels, fake), labels)
            objective = self._generator_objective(real, labels, fake, fake_out, real_out)
            d_scaled = self.d_optimizer.scale_loss(report["d_loss"])
            g_scaled = self.g_optimizer.scale_loss(objective["g_loss"])
        self._apply(self.d_optimizer, d_tape, d_scaled, self.discriminator.trainable_variables)
        self._apply(self.g_optimizer, g_tape, g_scaled, self.generator.trainable_variables)
        self.loss.after_discriminator_update(self.discriminator)
        self._remember(real, labels, fake)
        return {**report, **objective}

    def _remember(self, real, labels, fake) -> None:
        """After a D update, the replay buffer takes its fresh fakes (D inputs)."""
        if self.replay is not None:
            self.replay.store(self._discriminator_input(real, labels, fake))

    # --- the algorithm ---------------------------------------------------------------

    def train_step(self, data):
        """k discriminator updates and one generator update; returns this replica's share
        of each global-batch mean (sum them over replicas for the logged value)."""
        if not isinstance(data, dict):  # (real, noise[, labels]), as tests build it
            data = dict(zip(("real", "noise", "labels"), data, strict=False))
        real, noise, labels = data["real"], data["noise"], data.get("labels")
        real = self._present_reals(real)
        joint = self.update == "simultaneous"
        last = self.k_steps - 1

        def labels_of(i):
            return None if labels is None else labels[:, i]

        def draws_of(i):
            return {name: data[name][:, i] for name in self.draws}

        report: dict[str, tf.Tensor] = {}
        for i in range(last if joint else self.k_steps):
            report = self._discriminator_update(real[:, i], labels_of(i), noise[:, i], draws_of(i))
        if joint:
            report = self._joint_update(
                real[:, last], labels_of(last), noise[:, last], draws_of(last)
            )
        else:  # G gets the last D minibatch's conditions (an unconditional G ignores them)
            report.update(
                self._generator_update(noise[:, self.k_steps], real[:, last], labels_of(last))
            )
        return {name: report[name] for name in self.metric_names}

    def get_config(self):
        # The trained artefact is the generator (saved on its own); this wrapper is rebuilt
        # from params, so it is not meant to be serialised.
        raise NotImplementedError("save AdversarialGAN.generator, not the wrapper")


class ClassifierGAN(AdversarialGAN):
    """A GAN whose discriminator is also a K-way classifier (SGAN, CatGAN)."""

    @staticmethod
    def class_logits(d_output) -> tf.Tensor:
        """[B, K] class logits from the discriminator's output."""
        raise NotImplementedError

    def supervised_step(self, images: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """One D update on the cross-entropy of labelled images alone: how the baseline
        classifier (pipeline.training.baseline) trains, with the same network and optimizer."""
        with tf.GradientTape() as tape:
            out = self.discriminator(images, training=True)
            loss = tf.reduce_mean(supervised_loss(self.class_logits(out), labels))
            scaled = self.d_optimizer.scale_loss(loss)
        self._apply(self.d_optimizer, tape, scaled, self.discriminator.trainable_variables)
        return loss
