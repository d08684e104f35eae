"""A toy family with two phases, for the trainer's tests: a fade-in whose `alpha` ramps
over its steps, then a phase that grows the generator by a layer (as ProGAN adds a
resolution); the trainer gives the grown generator a new optimizer."""

import math
from dataclasses import dataclass

import keras

from pipeline.errors import ConfigError
from pipeline.gans.families import Family, get_family, register
from pipeline.gans.inputs import LATENT
from pipeline.training.phases import Phase


@dataclass(frozen=True)
class PhasedParams:
    """models.phased.*: none of its own."""


def build_generator(run, image_shape, num_classes=0, grown=False):
    z = keras.Input((run.train.latent_dim,), name="z")  # [B, latent]
    x = keras.layers.Dense(16, activation="relu", name="p_hidden")(z)  # [B, 16]
    x = keras.layers.Dense(math.prod(image_shape), name="p_pixels")(x)  # [B, H*W*C]
    x = keras.layers.Reshape(image_shape, name="p_reshape")(x)  # [B, H, W, C]
    if grown:  # the new block, between the old layers
        x = keras.layers.Conv2D(image_shape[-1], 3, padding="same", name="p_refine")(x)
    image = keras.layers.Activation("tanh", dtype="float32", name="p_image")(x)
    return keras.Model(z, image, name="generator")


def build_discriminator(run, image_shape, num_classes=0):
    image = keras.Input(image_shape, name="image")  # [B, H, W, C]
    x = keras.layers.Flatten(name="p_flatten")(image)  # [B, H*W*C]
    x = keras.layers.Dense(16, activation="relu", name="p_d_hidden")(x)
    return keras.Model(image, keras.layers.Dense(1, name="p_logit")(x), name="discriminator")


def grow(run, gan) -> None:
    """The generator gets a block; its other layers keep their weights (by name). The
    trainer gives it a new optimizer (its variables changed)."""
    old = gan.generator
    new = build_generator(run, tuple(old.output.shape[1:]), grown=True)
    for layer in old.layers:
        new.get_layer(layer.name).set_weights(layer.get_weights())
    gan.generator = new


def phases(run, image_shape):
    half = max(1, run.train.epochs // 2)
    return (
        Phase("fade", half, schedules={"alpha": lambda progress: progress}),
        Phase("grow", run.train.epochs - half, enter=lambda gan: grow(run, gan)),
    )


def family() -> Family:
    """The phased family, registered if it is not yet (test_phases.py unregisters it after
    each test; tests/train_worker.py registers it in its own process)."""
    try:
        return get_family("phased")
    except ConfigError:  # not registered yet in this process
        return register(
            Family(
                name="phased",
                params=PhasedParams,
                inputs=LATENT,
                build_generator=build_generator,
                build_discriminator=build_discriminator,
                phases=phases,
                summary="two phases: a fade-in, then a grown generator",
            )
        )
