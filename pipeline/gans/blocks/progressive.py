"""Layers driven by a phase's schedule (pipeline.training.phases): ProGAN's fade-in.

A scheduled layer holds the schedule's value in a non-trainable weight named after it
and declares the schedule it follows (`schedule`); the trainer sets every such weight of
both networks (and of the averaged generator) before each step, so the networks need no
extra input and the value is saved and restored with their other variables.
"""

from __future__ import annotations

import keras

from pipeline.gans.blocks.equalized import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class FadeIn(keras.layers.Layer):
    """[old, new] -> old + alpha * (new - old): the new resolution's path blended in as
    `alpha` ramps 0 -> 1 over a fade-in phase."""

    schedule = "alpha"

    def build(self, input_shape):
        self.value = self.add_weight(
            name=self.schedule, shape=(), initializer="zeros", trainable=False
        )

    def call(self, inputs):
        old, new = inputs
        alpha = keras.ops.cast(self.value, old.dtype)
        return old + alpha * (new - old)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def scheduled_layers(model: keras.Model) -> list:
    """Every layer of `model` (nested models included) that follows a schedule."""
    found = []
    for layer in model.layers:
        if hasattr(layer, "layers"):
            found += scheduled_layers(layer)
        elif isinstance(getattr(layer, "schedule", None), str):
            found.append(layer)
    return found
