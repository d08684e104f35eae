"""train.ema: an exponential moving average of the generator's weights.

    averaged <- d_t * averaged + (1 - d_t) * current      after step t (t = 0, 1, ...)
    d_t = min(train.ema, (1 + t) / (10 + t))

The warm-up (TensorFlow's ExponentialMovingAverage rule with num_updates) keeps a short
run's average from being mostly its random initial weights: with train.ema = 0.999 and no
warm-up, 0.999^600 = 55% of the average after 600 steps would still be the initialisation.
The update count is part of the checkpoint (`ema/updates`).

The averaged generator (Karras et al. 2018; Yazici et al. 2019) is a second Keras model of
the same architecture; its non-trainable state (batch-norm statistics) is copied, not
averaged, as StyleGAN does with its buffers. When train.ema > 0 it is the generator the
pipeline keeps: generator.keras, the scores and samples.png are the averaged one.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from pipeline.training.state import model_variables


class AveragedGenerator:
    """The averaged copy of `generator`, built in the current strategy scope."""

    def __init__(self, generator: keras.Model, decay: float):
        self.decay = decay
        self.updates = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="ema_updates")
        self._track(generator)

    def _track(self, generator: keras.Model) -> None:
        self.model = keras.models.clone_model(generator)
        self.model.set_weights(generator.get_weights())
        self._pairs = list(zip(self.model.variables, generator.variables, strict=True))
        self._trainable = {id(v) for v in generator.trainable_variables}

    def follow(self, generator: keras.Model) -> None:
        """The generator changed (a phase grew it): average the new one, keeping the
        averages of every variable whose name it still has (call in the strategy scope)."""
        kept = {k.split("/", 1)[1]: v.numpy() for k, v in self.named_variables().items()}
        self._track(generator)
        for key, variable in self.named_variables().items():
            if key.split("/", 1)[1] in kept:
                variable.assign(kept[key.split("/", 1)[1]])

    def named_variables(self) -> dict[str, object]:
        return {**model_variables("ema", self.model), "ema/updates": self.updates}

    def update(self) -> None:
        """One averaging step; call in cross-replica context (inside tf.function is fine),
        where an assignment sets every replica's copy alike."""
        count = tf.cast(self.updates, tf.float32)
        decay = tf.minimum(self.decay, (1.0 + count) / (10.0 + count))
        self.updates.assign_add(1)
        for averaged, current in self._pairs:
            if id(current) in self._trainable:
                averaged.assign(decay * averaged + (1.0 - decay) * current)
            else:
                averaged.assign(current)
