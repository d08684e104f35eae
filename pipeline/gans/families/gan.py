"""The MLP GAN: fully connected generator and discriminator.

Two architectures from the source documents, chosen by `models.gan.arch`:
    leaky256  seed 001 (PyTorch tutorial): hidden 256-256, ReLU generator, LeakyReLU(0.2)
              discriminator.
    selu      seed 004 (Keras, Fashion-MNIST): generator 100-150, discriminator 150-100,
              SELU everywhere. Its generator ends in a sigmoid for [0, 1] data; ours ends
              in tanh because the pipeline scales images to [-1, 1].
Discriminator dropout (train.dropout) follows each hidden layer; SELU layers get
AlphaDropout, which keeps their self-normalising mean and variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import keras

from pipeline.gans.blocks.layers import image_output, leaky_relu, logit_head
from pipeline.gans.blocks.stabilizers import BatchFeatures
from pipeline.gans.families import STABILIZERS, Family, register
from pipeline.gans.inputs import LATENT

ARCHITECTURES = {
    # arch: (generator hidden units, discriminator hidden units)
    "leaky256": ((256, 256), (256, 256)),
    "selu": ((100, 150), (150, 100)),
}


@dataclass(frozen=True)
class Config:
    """models.gan.*"""

    arch: Literal["leaky256", "selu"] = "leaky256"


def _hidden(units: int, arch: str, name: str, generator: bool) -> list[keras.layers.Layer]:
    if arch == "selu":
        return [keras.layers.Dense(units, activation="selu", name=name)]
    if generator:
        return [keras.layers.Dense(units, activation="relu", name=name)]
    return [keras.layers.Dense(units, name=name), leaky_relu(name=f"{name}_act")]


def build_generator(run, image_shape: tuple[int, int, int], num_classes: int = 0) -> keras.Model:
    arch = run.family.arch
    z = keras.Input((run.train.latent_dim,), name="z")  # [B, latent]
    x = z
    for i, units in enumerate(ARCHITECTURES[arch][0]):
        for layer in _hidden(units, arch, f"g_dense{i + 1}", generator=True):
            x = layer(x)  # [B, units]
    x = keras.layers.Dense(math.prod(image_shape), name="g_pixels")(x)  # [B, H*W*C]
    x = keras.layers.Reshape(image_shape, name="g_reshape")(x)  # [B, H, W, C]
    # Last, so the image stays float32 under a mixed policy (a later layer would re-cast it).
    image = image_output()(x)  # [B, H, W, C] in [-1, 1]
    return keras.Model(z, image, name="generator")


def build_discriminator(
    run, image_shape: tuple[int, int, int], num_classes: int = 0
) -> keras.Model:
    arch = run.family.arch
    dropout = keras.layers.AlphaDropout if arch == "selu" else keras.layers.Dropout
    image = keras.Input(image_shape, name="image")  # [B, H, W, C]
    batch = BatchFeatures.of(run)  # the stabilisers' layers, when on
    x = keras.layers.Flatten(name="d_flatten")(image)  # [B, H*W*C]
    hidden = ARCHITECTURES[arch][1]
    for i, units in enumerate(hidden):
        if i == len(hidden) - 1:
            x = batch.std(x)  # [B, F + 1] before the last hidden layer
        for layer in _hidden(units, arch, f"d_dense{i + 1}", generator=False):
            x = layer(x)  # [B, units]
        if run.train.dropout > 0:
            x = dropout(run.train.dropout, name=f"d_dropout{i + 1}")(x)
    x = batch.discrimination(x)  # [B, units + kernels] when on
    logit = logit_head()(x)  # [B, 1]
    return keras.Model(image, logit, name="discriminator")


FAMILY = register(
    Family(
        name="gan",
        params=Config,
        inputs=LATENT,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        stabilizers=STABILIZERS,
        summary="the MLP GAN of seeds 001/004",
    )
)
