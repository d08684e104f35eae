"""DCGAN's trunks, shared by the families built on them (dcgan, cgan, sgan, catgan).

Two generator/discriminator pairs from the source documents, chosen by each family's
`generator` param:
    upsample    seed 000: Dense -> 2x (UpSampling2D, Conv2D 3x3, BatchNorm 0.8, ReLU) ->
                Conv2D -> tanh; its discriminator: Conv2D 32/64/128/256 (3x3, strides
                2/2/2/1), LeakyReLU 0.2, Dropout, BatchNorm 0.8 and a ZeroPadding2D.
    transposed  seed 004: Dense -> BatchNorm -> Conv2DTranspose 64 (5x5, stride 2, SELU) ->
                BatchNorm -> Conv2DTranspose C (tanh); its discriminator has no BatchNorm:
                Conv2D 64/128 (5x5, stride 2), LeakyReLU 0.2, Dropout (seed 004: 0.4).
Both upsample twice, so the image side must be a multiple of 4 (28 -> start at 7x7).
`g_width` and `d_width` scale every convolution's channels of the generator and of the
discriminator (1: the seeds' widths above; 0.5 halves them, and with them most of a
step's cost: docs/operations.md, Narrower networks).

A layer followed by BatchNorm has no bias: the normalisation subtracts it again, so its
gradient is zero up to rounding, which Adam (dividing by a near-zero second moment) would
blow up into lr-sized random steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import keras

from pipeline.config import check
from pipeline.errors import ConfigError
from pipeline.gans.blocks.layers import batch_norm, image_output, leaky_relu
from pipeline.gans.blocks.stabilizers import BatchFeatures

WIDTH = check(lambda v: 0 < v <= 8, "in (0, 8]")


@dataclass(frozen=True)
class TrunkConfig:
    """models.<name>.* of every family on these trunks (dcgan, cgan, sgan, catgan)."""

    generator: Literal["upsample", "transposed"] = "upsample"  # seed 000's pair | seed 004's
    g_width: float = field(default=1.0, metadata=WIDTH)  # G's channels x this
    d_width: float = field(default=1.0, metadata=WIDTH)  # D's channels x this


def scaled(filters: int, width: float) -> int:
    """A layer's channels at `width` times the seed's `filters` (at least 1)."""
    return max(1, round(filters * width))


def start_side(image_shape: tuple[int, int, int], model: str = "dcgan") -> int:
    """The side the generator starts from (a quarter of the image's), or a ConfigError."""
    height, width, _ = image_shape
    if height != width or height % 4:
        raise ConfigError(
            f"{model} needs square images with a side divisible by 4, got {height}x{width}; "
            "set data.image_size (e.g. 28 or 32)"
        )
    return height // 4


def condition_planes(condition, side: int, name: str):
    """A per-example vector [B, c] as constant planes [B, side, side, c] (built-in layers
    only, so a saved model loads without custom code)."""
    width = condition.shape[-1]
    x = keras.layers.Reshape((1, 1, width), name=f"{name}_pixel")(condition)  # [B, 1, 1, c]
    return keras.layers.UpSampling2D(side, name=name)(x)  # [B, side, side, c]


def generator_trunk(
    x, image_shape: tuple[int, int, int], variant: str, model: str = "dcgan", width: float = 1.0
):
    """[B, d] code (a latent, or a latent with a label code) -> [B, H, W, C] in [-1, 1].

    The generators of dcgan, cgan, sgan and catgan: they differ in what the code holds.
    Shapes below at width 1 (w = 128 x width)."""
    side, channels = start_side(image_shape, model), image_shape[-1]
    start, last = scaled(128, width), scaled(64, width)
    if variant == "upsample":
        x = keras.layers.Dense(start * side * side, activation="relu", name="g_project")(x)
        x = keras.layers.Reshape((side, side, start))(x)  # [B, s, s, w]
        for i, filters in enumerate((start, last)):
            x = keras.layers.UpSampling2D(name=f"g_up{i + 1}")(x)  # [B, 2s, 2s, .] then 4s
            x = keras.layers.Conv2D(
                filters, 3, padding="same", use_bias=False, name=f"g_conv{i + 1}"
            )(x)
            x = batch_norm(name=f"g_bn{i + 1}")(x)
            x = keras.layers.Activation("relu")(x)  # [B, ., ., filters]
        x = keras.layers.Conv2D(channels, 3, padding="same", name="g_to_image")(x)
    else:
        x = keras.layers.Dense(start * side * side, use_bias=False, name="g_project")(x)
        x = keras.layers.Reshape((side, side, start))(x)  # [B, s, s, w]
        x = batch_norm(momentum=0.99, name="g_bn1")(x)
        x = keras.layers.Conv2DTranspose(
            last, 5, strides=2, padding="same", activation="selu", name="g_deconv1"
        )(x)  # [B, 2s, 2s, w / 2]
        x = batch_norm(momentum=0.99, name="g_bn2")(x)
        x = keras.layers.Conv2DTranspose(channels, 5, strides=2, padding="same", name="g_to_image")(
            x
        )  # [B, 4s, 4s, C]
    return image_output()(x)  # [B, H, W, C] in [-1, 1]


NO_BATCH_FEATURES = BatchFeatures()


def discriminator_trunk(
    x, variant: str, rate: float, batch: BatchFeatures = NO_BATCH_FEATURES, width: float = 1.0
):
    """[B, H, W, c] image (or image with label planes) -> [B, F] flattened features.

    The discriminators of dcgan, cgan, sgan and catgan: they differ in their heads. The
    `batch` layers (train.minibatch_std, train.minibatch_discrimination; none by default)
    go before the last convolution and after the flattening. Shapes at width 1."""
    if variant == "upsample":
        # (filters, stride, zero-pad after conv, batch norm) as in seed 000
        plan = ((32, 2, False, False), (64, 2, True, True), (128, 2, False, True))
        plan += ((256, 1, False, True),)
        for i, (filters, stride, pad, norm) in enumerate(plan, start=1):
            if i == len(plan):
                x = batch.std(x)  # [B, 4, 4, 128 + 1] when on
            x = keras.layers.Conv2D(
                scaled(filters, width),
                3,
                strides=stride,
                padding="same",
                use_bias=not norm,
                name=f"d_conv{i}",
            )(x)
            if pad:  # 7x7 -> 8x8 for 28x28 inputs, so the next stride-2 conv gives 4x4
                x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
            if norm:
                x = batch_norm(name=f"d_bn{i}")(x)
            x = leaky_relu()(x)
            x = keras.layers.Dropout(rate, name=f"d_dropout{i}")(x)
        # 28x28 input: [B,14,14,32] -> [B,8,8,64] -> [B,4,4,128] -> [B,4,4,256]
    else:
        for i, filters in enumerate((64, 128), start=1):
            if i == 2:
                x = batch.std(x)  # [B, 14, 14, 64 + 1] when on
            x = keras.layers.Conv2D(
                scaled(filters, width), 5, strides=2, padding="same", name=f"d_conv{i}"
            )(x)
            x = leaky_relu()(x)
            x = keras.layers.Dropout(rate, name=f"d_dropout{i}")(x)
        # 28x28 input: [B,14,14,64] -> [B,7,7,128]
    x = keras.layers.Flatten(name="d_features")(x)  # [B, F]
    return batch.discrimination(x)  # [B, F + kernels] when on


def build_classifier(
    run, image_shape: tuple[int, int, int], outputs: int, model: str, with_features: bool
) -> keras.Model:
    """The DCGAN discriminator trunk with `outputs` class logits (float32) instead of one
    real/fake logit: sgan's K + 1, catgan's K; `with_features` adds the trunk's flattened
    features as a second output (sgan's feature matching)."""
    start_side(image_shape, model)
    image = keras.Input(image_shape, name="image")  # [B, H, W, C]
    features = discriminator_trunk(
        image, run.family.generator, run.train.dropout, BatchFeatures.of(run), run.family.d_width
    )  # [B, F]
    logits = keras.layers.Dense(outputs, dtype="float32", name="class_logits")(features)
    out = [logits, features] if with_features else logits  # [B, outputs], [B, F]
    return keras.Model(image, out, name="discriminator")


def build_latent_generator(run, image_shape: tuple[int, int, int], model: str) -> keras.Model:
    """G(z): the DCGAN generator of noise alone (dcgan, sgan, catgan)."""
    z = keras.Input((run.train.latent_dim,), name="z")  # [B, latent]
    image = generator_trunk(
        z, image_shape, run.family.generator, model, run.family.g_width
    )  # [B, H, W, C]
    return keras.Model(z, image, name="generator")
