"""train.ema: an exponential moving average of the generator's weights.

    averaged <- decay * averaged + (1 - decay) * current      after every step

The averaged generator (Karras et al. 2018; Yazici et al. 2019) is a second Keras model of
the same architecture; its non-trainable state (batch-norm statistics) is copied, not
averaged, as StyleGAN does with its buffers. When train.ema > 0 it is the generator the
pipeline keeps: generator.keras, the scores and samples.png are the averaged one.
"""

from __future__ import annotations

import keras

from pipeline.training.state import model_variables


class AveragedGenerator:
    """The averaged copy of `generator`, built in the current strategy scope."""

    def __init__(self, generator: keras.Model, decay: float):
        self.decay = decay
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
        return model_variables("ema", self.model)

    def update(self) -> None:
        """One averaging step; call in cross-replica context (inside tf.function is fine),
        where an assignment sets every replica's copy alike."""
        for averaged, current in self._pairs:
            if id(current) in self._trainable:
                averaged.assign(self.decay * averaged + (1.0 - self.decay) * current)
            else:
                averaged.assign(current)
