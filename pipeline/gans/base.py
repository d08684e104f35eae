"""The adversarial model every unconditional GAN family trains with.

`AdversarialGAN.train_step` is the algorithm of seed 003 (Goodfellow et al.): k
discriminator updates, then one generator update, written with gradient tapes rather than
the `trainable = False` + combined-model trick of seeds 000/004, which under Keras 3 freezes
the discriminator for good (the flag is read when the step is traced).

Data layout of one step, per replica (b = the replica's share of the global batch):
    real:  [b, k, H, W, C] float32 in [-1, 1]  (k real minibatches, one per D update)
    noise: [b, k + 1, latent]                  (one latent batch per D update, one for G)
Splitting the batch axis across replicas and averaging every loss over the *global* batch
(`tf.nn.compute_average_loss`) makes the summed gradients equal to those of one device.

A family that is not "noise in, image out" (pix2pix translates the edge map in `real`)
subclasses and overrides three hooks, keeping `train_step`, k_steps, the update order, loss
scaling and the averaging here:
    _generate(real, z) -> fake                      what G makes for this minibatch
    _discriminator_input(real, fake) -> D input      what D sees for a fake (the real
                                                     minibatch is already D's input)
    _generator_objective(real, fake, fake_logits)    {"g_loss": ..., extra values}
and lists the extra values in `metric_names`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from pipeline.gans.losses import discriminator_loss, generator_loss, mean_probability

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
        loss: str = "nonsaturating",
        update: str = "simultaneous",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.global_batch_size = global_batch_size
        self.k_steps = k_steps
        self.generator_loss_kind = loss
        self.update = update

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

    # --- hooks: what is generated, what D sees, what G minimises -------------------------

    def _generate(self, real: tf.Tensor | None, z: tf.Tensor) -> tf.Tensor:
        """G's output for this minibatch: [b, H, W, C] from the latents (real is unused)."""
        return self.generator(z, training=True)

    def _discriminator_input(self, real: tf.Tensor | None, fake: tf.Tensor) -> tf.Tensor:
        """What D judges for a fake, shaped like the real minibatch: the image itself."""
        return fake

    def _generator_objective(self, real, fake, fake_logits) -> dict[str, tf.Tensor]:
        """{"g_loss": the global-batch mean G minimises, plus any extra logged values}."""
        return {"g_loss": self._average(generator_loss(fake_logits, self.generator_loss_kind))}

    def _judge(self, real: tf.Tensor, fake: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """D's logits for real and fake in one forward pass over [2b, ...]."""
        both = tf.concat([real, self._discriminator_input(real, fake)], axis=0)
        real_logits, fake_logits = tf.split(self.discriminator(both, training=True), 2, axis=0)
        return real_logits, fake_logits

    # --- the three updates ----------------------------------------------------------------

    def _discriminator_update(self, real, z) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            fake = self._generate(real, z)
            real_logits, fake_logits = self._judge(real, fake)
            d_loss = self._average(discriminator_loss(real_logits, fake_logits))
            scaled = self.d_optimizer.scale_loss(d_loss)
        self._apply(self.d_optimizer, tape, scaled, self.discriminator.trainable_variables)
        return self._report(d_loss, real_logits, fake_logits)

    def _generator_update(self, z, real=None) -> dict[str, tf.Tensor]:
        """G's update on fakes only (D's batch statistics from fakes, as in the textbook
        loop); `real` is the minibatch whose conditions G translates, if any."""
        with tf.GradientTape() as tape:
            fake = self._generate(real, z)
            fake_logits = self.discriminator(self._discriminator_input(real, fake), training=True)
            objective = self._generator_objective(real, fake, fake_logits)
            scaled = self.g_optimizer.scale_loss(objective["g_loss"])
        self._apply(self.g_optimizer, tape, scaled, self.generator.trainable_variables)
        return objective

    def _joint_update(self, real, z) -> dict[str, tf.Tensor]:
        """One generator forward pass serves both updates (the simultaneous form).

        Both gradients are taken at the same point, before either network moves; this
        saves a generator forward pass and a discriminator pass per step.
        """
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            fake = self._generate(real, z)
            real_logits, fake_logits = self._judge(real, fake)
            d_loss = self._average(discriminator_loss(real_logits, fake_logits))
            objective = self._generator_objective(real, fake, fake_logits)
            d_scaled = self.d_optimizer.scale_loss(d_loss)
            g_scaled = self.g_optimizer.scale_loss(objective["g_loss"])
        self._apply(self.d_optimizer, d_tape, d_scaled, self.discriminator.trainable_variables)
        self._apply(self.g_optimizer, g_tape, g_scaled, self.generator.trainable_variables)
        return {**self._report(d_loss, real_logits, fake_logits), **objective}

    def _report(self, d_loss, real_logits, fake_logits) -> dict[str, tf.Tensor]:
        return {
            "d_loss": d_loss,
            "d_real": self._average(mean_probability(real_logits)),
            "d_fake": self._average(mean_probability(fake_logits)),
        }

    # --- the algorithm ---------------------------------------------------------------

    def train_step(self, data):
        """k discriminator updates and one generator update; returns this replica's share
        of each global-batch mean (sum them over replicas for the logged value)."""
        real, noise = data
        joint = self.update == "simultaneous"
        last = self.k_steps - 1
        report: dict[str, tf.Tensor] = {}
        for i in range(last if joint else self.k_steps):
            report = self._discriminator_update(real[:, i], noise[:, i])
        if joint:
            report = self._joint_update(real[:, last], noise[:, last])
        else:  # G translates the last D minibatch's conditions (an unconditional G ignores it)
            report.update(self._generator_update(noise[:, self.k_steps], real[:, last]))
        return {name: report[name] for name in self.metric_names}

    def get_config(self):
        # The trained artefact is the generator (saved on its own); this wrapper is rebuilt
        # from params, so it is not meant to be serialised.
        raise NotImplementedError("save AdversarialGAN.generator, not the wrapper")
