"""StyleGAN's layers (Karras et al. 2019; seed 004): a learned constant input, per-pixel
noise with a learned per-channel strength, AdaIN driven by an affine map of w, and the
running mean of w that truncation pulls towards.

    noise:   x + strength[c] * n,   n ~ N(0, 1) per pixel, shared by the channels
    AdaIN:   (1 + s(w)[c]) * (x - mean_hw x) / std_hw x + b(w)[c],   [s, b] = A w

The scale is 1 + s (s starts near 0): StyleGAN initialises the style's scale bias to 1,
which this writes as the identity plus a learned offset.

Noise is random only in training. In inference each noise layer adds a fixed draw it keeps
(a non-trainable weight drawn from its seed, StyleGAN2's `noise_mode='const'`), so a
generator maps one latent to one image: the scores repeat, and a perceptual path length
compares images that differ by their latents alone. The training draws come from the
layer's own Keras seed generator, whose state is a variable of the checkpoint (a resumed
run draws the same noise); under MirroredStrategy every replica draws the same stream for
its own examples, as dropout does (docs/training.md, Determinism).

These are custom Keras layers: a saved StyleGAN generator loads once this module is
imported (`import pipeline.gans.blocks`, which evaluate, sample, explore and the registry
do, imports it; in your own code, the same before `keras.saving.load_model`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from pipeline.gans.blocks.equalized import HE_GAIN, PACKAGE, EqualizedConv2D, EqualizedDense
from pipeline.gans.latent import MAPPING, SYNTHESIS, W_AVERAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConstantInput(keras.layers.Layer):
    """[B, ...] (only its batch size is read) -> [B, side, side, channels]: the learned
    constant the synthesis network starts from."""

    def __init__(
        self, side: int, channels: int, lr_multiplier=1.0, seed: int | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        self.side, self.channels, self.seed = int(side), int(channels), seed
        self.lr_multiplier = float(lr_multiplier)  # as the equalized layers' (N(0, 1) at run time)

    def build(self, input_shape):
        init = keras.initializers.RandomNormal(stddev=1.0 / self.lr_multiplier, seed=self.seed)
        shape = (1, self.side, self.side, self.channels)
        self.constant = self.add_weight(name="constant", shape=shape, initializer=init)

    def call(self, x):
        batch = keras.ops.shape(x)[0]
        constant = keras.ops.cast(self.constant * self.lr_multiplier, self.compute_dtype)
        return keras.ops.repeat(constant, batch, axis=0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.side, self.side, self.channels)

    def get_config(self):
        return super().get_config() | {
            "side": self.side,
            "channels": self.channels,
            "lr_multiplier": self.lr_multiplier,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class NoiseInjection(keras.layers.Layer):
    """[B, H, W, C] -> the same plus strength[c] * noise: fresh N(0, 1) per pixel in
    training, the layer's fixed draw in inference. The strength starts at 0, as in
    StyleGAN, so the noise comes in as the network learns to use it."""

    def __init__(self, lr_multiplier=1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed, self.lr_multiplier = seed, float(lr_multiplier)
        self.seed_generator = keras.random.SeedGenerator(seed, name="noise_seed")

    def build(self, input_shape):
        _, height, width, channels = input_shape
        self.strength = self.add_weight(name="strength", shape=(channels,), initializer="zeros")
        fixed = keras.initializers.RandomNormal(stddev=1.0, seed=self.seed)
        self.fixed = self.add_weight(
            name="fixed", shape=(1, height, width, 1), initializer=fixed, trainable=False
        )

    def call(self, x, training=False):
        if training:
            shape = (keras.ops.shape(x)[0], *x.shape[1:3], 1)
            noise = keras.random.normal(shape, seed=self.seed_generator)
        else:
            noise = self.fixed
        strength = keras.ops.cast(self.strength * self.lr_multiplier, self.compute_dtype)
        return x + keras.ops.cast(noise, self.compute_dtype) * strength

    def get_config(self):
        return super().get_config() | {"lr_multiplier": self.lr_multiplier, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class AdaIN(keras.layers.Layer):
    """[x: [B, H, W, C], styles: [B, L, w_dim]] -> [B, H, W, C]: x instance-normalised,
    then scaled and shifted per channel by an affine map of styles[:, index], this layer's
    own w (style mixing gives the layers different ones)."""

    def __init__(
        self, index: int, epsilon=1e-8, lr_multiplier=1.0, seed: int | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        self.index, self.epsilon, self.seed = int(index), float(epsilon), seed
        self.lr_multiplier = float(lr_multiplier)

    def build(self, input_shape):
        x_shape, styles_shape = input_shape
        channels = int(x_shape[-1])
        # A: w -> [scale offset, bias] per channel, gain 1 (a linear map, not an activation's)
        self.affine = EqualizedDense(
            2 * channels, gain=1.0, lr_multiplier=self.lr_multiplier, seed=self.seed, name="affine"
        )
        self.affine.build((styles_shape[0], styles_shape[-1]))

    def call(self, inputs):
        x, styles = inputs
        w = styles[:, self.index]  # [B, w_dim]
        style = keras.ops.cast(self.affine(w), "float32")  # [B, 2C]
        scale, bias = keras.ops.split(style, 2, axis=-1)  # [B, C] each
        x32 = keras.ops.cast(x, "float32")
        mean, variance = keras.ops.moments(x32, axes=(1, 2), keepdims=True)  # [B, 1, 1, C]
        normal = (x32 - mean) * keras.ops.rsqrt(variance + self.epsilon)
        out = normal * (1.0 + scale[:, None, None, :]) + bias[:, None, None, :]
        return keras.ops.cast(out, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return super().get_config() | {
            "index": self.index,
            "epsilon": self.epsilon,
            "lr_multiplier": self.lr_multiplier,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class ModulatedConv2D(keras.layers.Layer):
    """StyleGAN2's modulated convolution (Karras et al. 2020), [x: [B, H, W, c], styles:
    [B, L, w_dim]] -> [B, H, W, units]: the kernel's input channels scaled per example by
    s = 1 + A(styles[:, index]), then (with `demodulate`) each output channel divided by the
    norm its scaled kernel would give unit-variance inputs:

        y = demod[b, o] * conv(x * s[b], kernel)[o],  demod = 1 / sqrt(sum_k,i (w s)^2 + eps)

    written as scaling x before and y after one shared convolution (StyleGAN2's unfused
    form). It replaces AdaIN: the demodulation normalises by the statistics the style
    implies, not by each image's own, so a nearly flat feature map is not blown up (what
    AdaIN's instance normalisation does to the flat backgrounds of Fashion-MNIST). The
    kernel is equalized (`lr_multiplier` as EqualizedConv2D's); a bias follows."""

    def __init__(
        self,
        units: int,
        kernel_size: int,
        index: int,
        demodulate: bool = True,
        gain=HE_GAIN,
        lr_multiplier=1.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units, self.kernel_size, self.index = int(units), int(kernel_size), int(index)
        self.demodulate, self.gain, self.seed = bool(demodulate), float(gain), seed
        self.lr_multiplier = float(lr_multiplier)

    def build(self, input_shape):
        x_shape, styles_shape = input_shape
        channels, side = int(x_shape[-1]), self.kernel_size
        self.conv = EqualizedConv2D(
            self.units,
            side,
            gain=self.gain,
            lr_multiplier=self.lr_multiplier,
            seed=self.seed,
            name="conv",
        )
        self.conv.build(x_shape)
        # A: w -> one scale per input channel, gain 1 (a linear map)
        self.affine = EqualizedDense(
            channels, gain=1.0, lr_multiplier=self.lr_multiplier, seed=self.seed, name="affine"
        )
        self.affine.build((styles_shape[0], styles_shape[-1]))

    def call(self, inputs):
        x, styles = inputs
        scale = 1.0 + keras.ops.cast(self.affine(styles[:, self.index]), "float32")  # [B, c]
        x32 = keras.ops.cast(x, "float32") * scale[:, None, None, :]
        y = self.conv(keras.ops.cast(x32, x.dtype))  # [B, H, W, units], with the bias
        if not self.demodulate:
            return y
        kernel = self.conv.kernel * self.conv.scale  # [k, k, c, units]
        energy = keras.ops.sum(keras.ops.square(kernel), axis=(0, 1))  # [c, units]
        demod = keras.ops.rsqrt(keras.ops.matmul(keras.ops.square(scale), energy) + 1e-8)
        bias = self.conv.bias * self.conv.lr_multiplier
        # demodulate the convolution, not its bias: (y - bias) * demod + bias
        out = (keras.ops.cast(y, "float32") - bias) * demod[:, None, None, :] + bias
        return keras.ops.cast(out, x.dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.units)

    def get_config(self):
        return super().get_config() | {
            "units": self.units,
            "kernel_size": self.kernel_size,
            "index": self.index,
            "demodulate": self.demodulate,
            "gain": self.gain,
            "lr_multiplier": self.lr_multiplier,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class WAverage(keras.layers.Layer):
    """[B, w_dim] -> the same: holds the running mean of w that truncation pulls towards
    (w_avg + psi (w - w_avg), pipeline.gans.latent). The layer itself passes w through;
    the trainer moves the mean after each mapping pass (`follow`)."""

    def __init__(self, beta: float = 0.995, **kwargs):
        super().__init__(**kwargs)
        self.beta = float(beta)

    def build(self, input_shape):
        # Every replica assigns the same (all-reduced) value: keep the first replica's.
        self.mean = self.add_weight(
            name="mean",
            shape=(int(input_shape[-1]),),
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
        )

    def call(self, w):
        return w

    def follow(self, batch_mean) -> None:
        """mean <- beta * mean + (1 - beta) * batch_mean (StyleGAN's w_avg_beta)."""
        batch_mean = tf.cast(batch_mean, self.mean.dtype)
        self.mean.assign(self.beta * self.mean + (1.0 - self.beta) * batch_mean)

    def get_config(self):
        return super().get_config() | {"beta": self.beta}


__all__ = [
    "MAPPING",
    "SYNTHESIS",
    "W_AVERAGE",
    "AdaIN",
    "ConstantInput",
    "ModulatedConv2D",
    "NoiseInjection",
    "WAverage",
]
