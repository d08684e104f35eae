"""Layers that let the discriminator see the whole batch, and pixelwise normalisation
(seed 004's answers to mode collapse).

Minibatch standard deviation (Karras et al. 2018): the std of each feature over a small
group of images, averaged to one number per group and appended as a constant feature. A
collapsed generator's fakes vary less than real images, and D can now see it.

Minibatch discrimination (Salimans et al. 2016): each image's features are projected by a
learned tensor T to `kernels` rows of `kernel_dim`; for every kernel, the closeness of two
images is exp(-L1 distance of their rows), summed over the other images of the group and
appended as `kernels` features. Fakes that all look alike are close to each other.

Both compare an image with the others of its *group*: consecutive rows of D's batch.
Consecutive groups (ProGAN strides its groups across the batch instead) mean that a batch
split over replicas in multiples of the group size forms the same groups as on one device,
and that D's [real; fake] batch never mixes reals and fakes in one group. Minibatch
discrimination's group is the replica's minibatch (BatchFeatures below), so
under MirroredStrategy it sees fewer images per group than on one device
(docs/training.md, Stabilisers).

Pixel norm (ProGAN) divides each pixel's feature vector by its root mean square. It is
built from built-in layers (UnitNormalization then a constant rescale), so a generator
that uses it saves and loads without this module; the epsilon is UnitNormalization's
(the squared norm is floored at 1e-12) rather than ProGAN's 1e-8 on the mean square.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from pipeline.gans.blocks.equalized import PACKAGE
from pipeline.gans.blocks.layers import replicas_in_sync


def _group_size(batch: int | None, wanted: int) -> int:
    """The group size for a batch of `batch` rows: `wanted`, or the largest divisor of the
    batch below it (a smaller batch, e.g. a classifier check, still works)."""
    if not batch or wanted <= 0:
        return max(wanted, 1)
    return math.gcd(batch, wanted)


@keras.saving.register_keras_serializable(package=PACKAGE)
class MinibatchStd(keras.layers.Layer):
    """[B, H, W, C] -> [B, H, W, C + 1], or [B, F] -> [B, F + 1]: appends the mean over
    features of the std over each group of `group_size` consecutive images."""

    def __init__(self, group_size: int = 4, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.group_size, self.epsilon = int(group_size), float(epsilon)

    def call(self, x):
        shape = keras.ops.shape(x)
        group = _group_size(x.shape[0], self.group_size)
        grouped = keras.ops.reshape(x, (-1, group, *x.shape[1:]))  # [B/G, G, ...]
        grouped = keras.ops.cast(grouped, "float32")
        variance = keras.ops.var(grouped, axis=1)  # [B/G, ...] over each group
        std = keras.ops.sqrt(variance + self.epsilon)
        per_group = keras.ops.mean(std, axis=tuple(range(1, len(x.shape))))  # [B/G]
        per_image = keras.ops.repeat(per_group, group, axis=0)  # [B]
        feature = keras.ops.reshape(per_image, (-1, *([1] * (len(x.shape) - 1))))
        feature = keras.ops.broadcast_to(feature, (*shape[:-1], 1))  # [B, ..., 1]
        return keras.ops.concatenate([x, keras.ops.cast(feature, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return super().get_config() | {"group_size": self.group_size, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MinibatchDiscrimination(keras.layers.Layer):
    """[B, F] -> [B, F + kernels]: for each image and kernel, the sum over the other images
    of its group of exp(-||M_i - M_j||_1), M = features @ T reshaped [B, kernels, dim].
    `group_size` 0 compares with the whole batch."""

    def __init__(self, kernels: int, kernel_dim: int = 5, group_size: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.kernels, self.kernel_dim = int(kernels), int(kernel_dim)
        self.group_size = int(group_size)

    def build(self, input_shape):
        self.projection = self.add_weight(
            name="projection",
            shape=(int(input_shape[-1]), self.kernels * self.kernel_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
        )

    def call(self, x):
        batch = x.shape[0]
        group = _group_size(batch, self.group_size or (batch or 0)) if batch else None
        rows = keras.ops.matmul(x, keras.ops.cast(self.projection, x.dtype))
        rows = keras.ops.cast(rows, "float32")
        if group is None:  # symbolic build: the whole batch is one group
            rows = keras.ops.expand_dims(rows, 0)
        else:
            rows = keras.ops.reshape(rows, (-1, group, self.kernels * self.kernel_dim))
        rows = keras.ops.reshape(rows, (*keras.ops.shape(rows)[:2], self.kernels, self.kernel_dim))
        # [groups, G, 1, K, D] - [groups, 1, G, K, D] -> L1 over D -> [groups, G, G, K]
        distance = keras.ops.sum(
            keras.ops.abs(keras.ops.expand_dims(rows, 2) - keras.ops.expand_dims(rows, 1)), -1
        )
        closeness = keras.ops.sum(keras.ops.exp(-distance), axis=2) - 1.0  # others only
        closeness = keras.ops.reshape(closeness, (-1, self.kernels))  # [B, K]
        return keras.ops.concatenate([x, keras.ops.cast(closeness, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.kernels)

    def get_config(self):
        return super().get_config() | {
            "kernels": self.kernels,
            "kernel_dim": self.kernel_dim,
            "group_size": self.group_size,
        }


def pixel_norm(x, name: str):
    """[B, H, W, C] -> the same, each pixel's C features scaled to unit mean square."""
    channels = int(x.shape[-1])
    x = keras.layers.UnitNormalization(axis=-1, name=f"{name}_unit")(x)  # unit L2 norm
    return keras.layers.Rescaling(math.sqrt(channels), name=name)(x)  # unit mean square


@dataclass(frozen=True)
class BatchFeatures:
    """The batch-statistic layers a run's discriminator gets (train.minibatch_std,
    train.minibatch_discrimination); a builder calls `std` where ProGAN puts its layer
    (before D's last block) and `discrimination` on its flattened features. Off, each
    returns its input and adds no layer, so today's networks are unchanged."""

    minibatch_std: int = 0  # group size; 0: off
    kernels: int = 0  # minibatch discrimination's kernels; 0: off
    kernel_dim: int = 5
    # The replica's minibatch: minibatch discrimination's group, and what minibatch std's
    # group must divide (so D's [real; fake] batch never mixes the two in one group).
    group: int = 0

    @classmethod
    def of(cls, run) -> BatchFeatures:
        cfg = run.train
        return cls(
            minibatch_std=cfg.minibatch_std,
            kernels=cfg.minibatch_discrimination,
            kernel_dim=cfg.minibatch_kernel_dim,
            group=cfg.batch_size // replicas_in_sync(),
        )

    def std(self, x, name: str = "d_minibatch_std"):
        if not self.minibatch_std:
            return x
        # A group size that does not divide the replica's minibatch b would put the last
        # reals and the first fakes of D's [real; fake] batch (2b rows) in one group, and
        # group G's pass over b fakes differently: the largest size dividing both.
        size = math.gcd(self.minibatch_std, self.group) if self.group else self.minibatch_std
        return MinibatchStd(size, name=name)(x)

    def discrimination(self, x, name: str = "d_minibatch_discrimination"):
        if not self.kernels:
            return x
        layer = MinibatchDiscrimination(self.kernels, self.kernel_dim, self.group, name=name)
        return layer(x)
