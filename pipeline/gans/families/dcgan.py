"""DCGAN: convolutional generator and discriminator (seeds 000 and 004; Radford et al.).

The trunks are in pipeline.gans.blocks.dcgan; `models.dcgan.generator` picks the seed 000
pair (upsample) or the seed 004 pair (transposed), `g_width` / `d_width` their channels.
Discriminator dropout is train.dropout.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from pipeline.gans.blocks.dcgan import (
    TrunkConfig,
    build_latent_generator,
    discriminator_trunk,
    start_side,
)
from pipeline.gans.blocks.layers import logit_head
from pipeline.gans.blocks.stabilizers import BatchFeatures
from pipeline.gans.families import STABILIZERS, Family, register
from pipeline.gans.inputs import LATENT


@dataclass(frozen=True)
class Config(TrunkConfig):
    """models.dcgan.*: the trunks' generator, g_width, d_width"""


def build_generator(run, image_shape: tuple[int, int, int], num_classes: int = 0) -> keras.Model:
    return build_latent_generator(run, image_shape, "dcgan")  # G(z)


def build_discriminator(
    run, image_shape: tuple[int, int, int], num_classes: int = 0
) -> keras.Model:
    start_side(image_shape)
    image = keras.Input(image_shape, name="image")  # [B, H, W, C]
    cfg = run.family
    features = discriminator_trunk(
        image, cfg.generator, run.train.dropout, BatchFeatures.of(run), cfg.d_width
    )  # [B, F]
    logit = logit_head()(features)  # [B, 1]
    return keras.Model(image, logit, name="discriminator")


FAMILY = register(
    Family(
        name="dcgan",
        params=Config,
        inputs=LATENT,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        stabilizers=STABILIZERS,
        summary="convolutional GAN of seeds 000/004",
    )
)
