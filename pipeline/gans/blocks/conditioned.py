"""A convolution over an image with a condition vector tiled beside it as constant planes,
computed without the tiling.

A discriminator that reads a condition from its first layer (StackGAN's D: the caption's
code beside the image) convolves [image, planes], where each plane holds one entry of
the condition everywhere. The convolution is linear in its input, so it splits:

    conv([x, tile(c)], K) = conv(x, K_image) + sum_j c_j R_j,   R_j = conv(E_j, K_planes)

where E_j is the unit plane of entry j (1 in channel j, 0 elsewhere) and R_j its response
map, which varies over positions only where 'same' padding cuts the kernel at the border.
The response maps come from one convolution of `c` unit images, whatever the batch size,
so the layer's work on the condition no longer grows with the batch: for StackGAN's
Stage-I discriminator (1 image channel beside 16 planes, 3 x 32 images per step) the
forward and backward passes of this layer took about half the time of the tiled
convolution on a 2-core AVX2 CPU. It holds the same kernel ([k, k, C + c, filters]) and
bias as that convolution and computes the same function, up to float rounding.
"""

from __future__ import annotations

import keras

from pipeline.gans.blocks.equalized import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class PlanesConv2D(keras.layers.Layer):
    """[image [B, H, W, C], condition [B, c]] -> [B, H / s, W / s, filters]: a 'same'-padded
    Conv2D (with bias) of the image with the condition as c constant planes beside it."""

    def __init__(self, filters: int, kernel_size: int, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides

    def build(self, input_shape):
        image_shape, condition_shape = input_shape
        channels = image_shape[-1] + condition_shape[-1]
        k = self.kernel_size
        # Conv2D's own initialisers, created in its order: the same draws for the same seed
        self.kernel = self.add_weight(
            name="kernel", shape=(k, k, channels, self.filters), initializer="glorot_uniform"
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, inputs):
        image, condition = inputs
        image_channels, entries = image.shape[-1], condition.shape[-1]
        height, width = image.shape[1], image.shape[2]
        on_image = keras.ops.conv(
            image, self.kernel[:, :, :image_channels], strides=self.strides, padding="same"
        )  # [B, h, w, filters]
        unit = keras.ops.eye(entries, dtype=image.dtype)[:, None, None, :]  # [c, 1, 1, c]
        unit_planes = keras.ops.broadcast_to(unit, (entries, height, width, entries))
        responses = keras.ops.conv(
            unit_planes, self.kernel[:, :, image_channels:], strides=self.strides, padding="same"
        )  # [c, h, w, filters]: R_j
        on_condition = keras.ops.einsum("bj,jhwf->bhwf", condition, responses)
        return on_image + on_condition + self.bias

    def compute_output_shape(self, input_shape):
        image_shape = input_shape[0]
        side = [None if s is None else -(-s // self.strides) for s in image_shape[1:3]]
        return (image_shape[0], *side, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
        }
