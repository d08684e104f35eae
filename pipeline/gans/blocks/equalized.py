"""The equalized learning rate (Karras et al. 2018, ProGAN; seed 004).

Weights are drawn from N(0, 1) and scaled at run time by He's constant, sqrt(2 / fan_in):

    y = (w * gain / sqrt(fan_in)) x + b,      w ~ N(0, 1)

rather than drawn from N(0, 2 / fan_in) once. The function at initialisation is the same;
what changes is the update: Adam's step is about lr in w whatever the layer's fan-in, so
every layer's *effective* weights move at a rate proportional to its own scale. Without it,
a layer with a small initial scale learns relatively faster than one with a large one.
`lr_multiplier` (StyleGAN's mapping network uses 0.01) scales the same way: weights drawn
from N(0, 1 / m^2), multiplied by m at run time, so their effective learning rate is m*lr.

`to_builtin(model)` folds the runtime scale into plain Dense/Conv2D weights, so the saved
generator is made of built-in layers only and loads anywhere without this module.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

PACKAGE = "gan_zoo"  # the namespace of the project's registered Keras layers
HE_GAIN = math.sqrt(2.0)  # He et al.'s gain for (leaky) ReLU layers


class _Equalized(keras.layers.Layer):
    """What both equalized layers share: N(0, 1/m^2) weights, a runtime scale, a bias."""

    def __init__(
        self, units: int, gain=HE_GAIN, lr_multiplier=1.0, seed: int | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        self.units, self.gain, self.lr_multiplier = int(units), float(gain), float(lr_multiplier)
        # A seed makes the initial weights independent of when the layer is built (a layer
        # a phase adds mid-run starts the same in a resumed process).
        self.seed = seed

    def _make(self, kernel_shape: tuple[int, ...], fan_in: int) -> None:
        self.scale = self.gain / math.sqrt(fan_in) * self.lr_multiplier
        init = keras.initializers.RandomNormal(stddev=1.0 / self.lr_multiplier, seed=self.seed)
        self.kernel = self.add_weight(name="kernel", shape=kernel_shape, initializer=init)
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def get_config(self):
        config = super().get_config()
        config |= {"units": self.units, "gain": self.gain, "lr_multiplier": self.lr_multiplier}
        config |= {"seed": self.seed}
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class EqualizedDense(_Equalized):
    """Dense with the equalized learning rate: [B, ..., fan_in] -> [B, ..., units]."""

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self._make((fan_in, self.units), fan_in)

    def call(self, x):
        kernel = keras.ops.cast(self.kernel * self.scale, self.compute_dtype)
        return keras.ops.matmul(x, kernel) + keras.ops.cast(
            self.bias * self.lr_multiplier, self.compute_dtype
        )

    def builtin(self) -> keras.layers.Layer:
        return keras.layers.Dense(self.units, name=self.name, dtype=self.dtype_policy)

    def builtin_weights(self) -> list:
        return [self.kernel.numpy() * self.scale, self.bias.numpy() * self.lr_multiplier]


@keras.saving.register_keras_serializable(package=PACKAGE)
class EqualizedConv2D(_Equalized):
    """A 'same'-padded stride-1 Conv2D with the equalized learning rate:
    [B, H, W, c] -> [B, H, W, units]."""

    def __init__(self, units: int, kernel_size: int = 3, **kwargs):
        super().__init__(units, **kwargs)
        self.kernel_size = int(kernel_size)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        side = self.kernel_size
        self._make((side, side, channels, self.units), side * side * channels)

    def call(self, x):
        kernel = keras.ops.cast(self.kernel * self.scale, self.compute_dtype)
        y = keras.ops.conv(x, kernel, strides=1, padding="same")
        # bias_add, not +: the pattern TensorFlow fuses with the convolution and activation
        return tf.nn.bias_add(y, keras.ops.cast(self.bias * self.lr_multiplier, self.compute_dtype))

    def get_config(self):
        return super().get_config() | {"kernel_size": self.kernel_size}

    def builtin(self) -> keras.layers.Layer:
        return keras.layers.Conv2D(
            self.units, self.kernel_size, padding="same", name=self.name, dtype=self.dtype_policy
        )

    def builtin_weights(self) -> list:
        return [self.kernel.numpy() * self.scale, self.bias.numpy() * self.lr_multiplier]


def to_builtin(model: keras.Model) -> keras.Model:
    """`model` with every equalized layer replaced by the plain Dense/Conv2D that computes
    the same function (the runtime scale folded into its weights); `model` itself when it
    has none. Other layers are cloned with their weights."""
    equalized = {layer.name for layer in model.layers if isinstance(layer, _Equalized)}
    if not equalized:
        return model

    def clone(layer):
        if layer.name in equalized:
            return layer.builtin()
        return layer.__class__.from_config(layer.get_config())

    plain = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        target = plain.get_layer(layer.name)
        weights = layer.builtin_weights() if layer.name in equalized else layer.get_weights()
        target.set_weights(weights)
    return plain
