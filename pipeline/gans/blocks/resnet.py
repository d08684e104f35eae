"""SRResNet's pieces (Ledig et al. 2017): residual blocks and sub-pixel upsampling.

`PixelShuffle` is tf.nn.depth_to_space as a Keras layer (a Lambda would not load in Keras 3's
safe mode, and Keras has no such layer); it is registered (package gan_zoo), so a saved
SRGAN generator loads once this module is imported (`import pipeline.gans.blocks` does).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from pipeline.gans.blocks.layers import batch_norm

PACKAGE = "gan_zoo"
BN_MOMENTUM = 0.9  # PyTorch's default 0.1, as SRGAN's reference implementations use


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelShuffle(keras.layers.Layer):
    """[B, h, w, r * r * C] -> [B, r * h, r * w, C] (Shi et al. 2016's sub-pixel
    convolution, after the convolution that makes the r * r * C channels)."""

    def __init__(self, scale: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, x):
        return tf.nn.depth_to_space(x, self.scale)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        scaled = [None if d is None else d * self.scale for d in (height, width)]
        return (batch, *scaled, channels // (self.scale * self.scale))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def conv(filters: int, kernel: int, name: str, use_bias: bool = True) -> keras.layers.Layer:
    return keras.layers.Conv2D(filters, kernel, padding="same", use_bias=use_bias, name=name)


def prelu(name: str) -> keras.layers.Layer:
    """PReLU with one learned slope per channel, shared over the image (the paper's)."""
    return keras.layers.PReLU(shared_axes=[1, 2], name=name)


def residual_block(x, filters: int, name: str):
    """[B, h, w, filters] -> the same: x + BN(conv(PReLU(BN(conv(x)))))."""
    y = conv(filters, 3, f"{name}_conv1", use_bias=False)(x)  # [B, h, w, filters]
    y = batch_norm(BN_MOMENTUM, name=f"{name}_bn1")(y)
    y = prelu(f"{name}_act")(y)
    y = conv(filters, 3, f"{name}_conv2", use_bias=False)(y)  # [B, h, w, filters]
    y = batch_norm(BN_MOMENTUM, name=f"{name}_bn2")(y)
    return keras.layers.Add(name=f"{name}_add")([x, y])  # [B, h, w, filters]


def upsample_x2(x, filters: int, name: str):
    """[B, h, w, .] -> [B, 2h, 2w, filters]: conv to 4 x filters, pixel shuffle, PReLU."""
    x = conv(4 * filters, 3, f"{name}_conv")(x)  # [B, h, w, 4 filters]
    x = PixelShuffle(2, name=f"{name}_shuffle")(x)  # [B, 2h, 2w, filters]
    return prelu(f"{name}_act")(x)
