"""Blocks shared by the GAN families.

Builders call these inside the training strategy's scope, so a layer can adapt to it
(synchronised batch statistics when the batch is split across replicas).
"""

from __future__ import annotations

import keras
import tensorflow as tf


def replicas_in_sync() -> int:
    """How many replicas the current `tf.distribute` strategy splits a batch over."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def batch_norm(momentum: float = 0.8, name: str | None = None) -> keras.layers.Layer:
    """BatchNormalization whose statistics do not depend on the number of devices.

    Per-replica statistics would make a two-GPU run differ from a one-GPU run of the same
    global batch; synchronising them costs an all-reduce, so it is only switched on when
    there is more than one replica. momentum=0.8 is what seed 000 uses.
    """
    return keras.layers.BatchNormalization(
        momentum=momentum, synchronized=replicas_in_sync() > 1, name=name
    )


def leaky_relu(name: str | None = None) -> keras.layers.Layer:
    """LeakyReLU with slope 0.2, the value every source document uses."""
    return keras.layers.LeakyReLU(negative_slope=0.2, name=name)


def logit_head(name: str = "logit") -> keras.layers.Layer:
    """The discriminator's last layer: one real/fake logit in float32.

    The seeds end with Dense(1, sigmoid) and binary cross-entropy; a logit with the
    sigmoid folded into the loss is the same function, numerically stable, and float32
    keeps it exact under mixed precision.
    """
    return keras.layers.Dense(1, dtype="float32", name=name)


def image_output(name: str = "image") -> keras.layers.Layer:
    """tanh to [-1, 1] in float32, matching the data scaling."""
    return keras.layers.Activation("tanh", dtype="float32", name=name)


def normal_init(stddev: float = 0.02) -> keras.initializers.Initializer:
    """N(0, stddev) weights, as DCGAN and pix2pix initialise their convolutions.

    A new instance per layer: an unseeded Keras 3 initializer draws its seed once, so one
    instance shared by two layers would give them identical weights.
    """
    return keras.initializers.RandomNormal(mean=0.0, stddev=stddev)


def patch_logits(kernel_size: int, name: str = "logits") -> keras.layers.Layer:
    """A convolutional discriminator's last layer: one real/fake logit per position of a
    patch grid, [B, h, w, 1], in float32 like `logit_head`."""
    return keras.layers.Conv2D(
        1, kernel_size, padding="same", kernel_initializer=normal_init(), dtype="float32", name=name
    )
