"""pix2pix's random jitter, with albumentations: resize up, random crop back, maybe mirror.

The edge map and the image of a pair must move together, or the generator learns to
translate edges into a shifted image. albumentations does that with `additional_targets`:
one random draw of crop position and flip, applied to the input ("image") and the target
("target", declared as another image).

Interpolation: both are resized with nearest neighbour (INTER_NEAREST_EXACT), as the
TensorFlow pix2pix tutorial does. albumentations applies one interpolation to every
"image" target; linear interpolation would blur the edge maps into grey ramps the model
never sees at inference (its inputs are 0/255), and sending the edges as a `mask` with
nearest while the image stays linear samples the two at slightly different pixel centres.
Nearest keeps the edges exactly binary and the two targets pixel-aligned; the price is
that the upscale repeats a few rows and columns of the image (4 of 36 at 32 -> 36).

Determinism and threads: `tf.numpy_function` may call one PairedJitter from several
threads at once, and an albumentations Compose is not thread-safe (its transforms keep
their random state and last parameters on themselves). Each thread therefore builds its
own Compose once (about 0.5 ms) and, per call, gets fresh random generators derived from
(seed, step) with np.random.SeedSequence; no global or shared RNG state is touched.
"""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations calls home at import

import random
import threading

import albumentations as A
import cv2
import numpy as np

from pipeline.errors import ConfigError

INTERPOLATION = cv2.INTER_NEAREST_EXACT


def build_jitter(image_size: int, scale: float, mirror: bool) -> A.Compose:
    """The paired transform: resize to round(image_size * scale), crop back, maybe flip."""
    if image_size < 1:
        raise ConfigError(f"the jitter image size must be >= 1, got {image_size}")
    if scale < 1.0:
        raise ConfigError(f"the jitter scale must be >= 1 (resize up, crop back), got {scale}")
    resized = round(image_size * scale)
    transforms = [
        A.Resize(resized, resized, interpolation=INTERPOLATION),
        A.RandomCrop(image_size, image_size),
    ]
    if mirror:
        transforms.append(A.HorizontalFlip(p=0.5))
    return A.Compose(transforms, additional_targets={"target": "image"})


def seed_compose(compose: A.Compose, seed: int, step: int = 0) -> None:
    """Give `compose` its own random generators, a pure function of (seed, step)."""
    sequence = np.random.SeedSequence([int(seed) % 2**64, int(step) % 2**64])
    numpy_state, python_state = sequence.generate_state(2, np.uint64)
    compose.set_random_state(np.random.default_rng(numpy_state), random.Random(int(python_state)))


def jitter_pair(
    image: np.ndarray,
    target: np.ndarray,
    *,
    image_size: int,
    scale: float,
    mirror: bool,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One jittered (image, target): [S, S, Ci], [S, S, Ct] -> the same shapes.

    The direct form of the `additional_targets` call PairedJitter makes for every pair.
    """
    compose = build_jitter(image_size, scale, mirror)
    seed_compose(compose, seed)
    return _apply(compose, image, target)


def _apply(compose: A.Compose, image: np.ndarray, target: np.ndarray):
    result = compose(image=image, target=target)
    return result["image"], result["target"]


class PairedJitter:
    """Jitter (edges | image) pairs [..., S, S, input_channels + C], each independently.

    `jitter(pairs, seed, step)` is deterministic: the same arguments give the same output
    in any thread or process. Different steps give different draws.
    """

    def __init__(self, image_size: int, scale: float, mirror: bool, input_channels: int = 1):
        build_jitter(image_size, scale, mirror)  # checks the arguments now, not in tf.data
        self.image_size = image_size
        self.scale = scale
        self.mirror = mirror
        self.input_channels = input_channels
        self._local = threading.local()

    def _compose(self) -> A.Compose:
        """This thread's Compose (built on first use)."""
        compose = getattr(self._local, "compose", None)
        if compose is None:
            compose = self._local.compose = build_jitter(self.image_size, self.scale, self.mirror)
        return compose

    def _check(self, pairs: np.ndarray) -> None:
        side, channels = self.image_size, self.input_channels
        if (
            pairs.dtype != np.uint8
            or pairs.ndim < 3
            or pairs.shape[-3:-1] != (side, side)
            or pairs.shape[-1] <= channels
        ):
            raise ValueError(
                f"PairedJitter expects uint8 [..., {side}, {side}, > {channels}], "
                f"got {pairs.dtype} {pairs.shape}"
            )

    def __call__(self, pairs: np.ndarray, seed: int, step: int) -> np.ndarray:
        pairs = np.asarray(pairs)
        self._check(pairs)
        flat = pairs.reshape(-1, *pairs.shape[-3:])  # [B, S, S, k + C]
        out = np.empty_like(flat)
        compose = self._compose()
        seed_compose(compose, seed, step)  # one stream per call: pair i gets the i-th draws
        k = self.input_channels
        for i, pair in enumerate(flat):
            edges, image = _apply(compose, pair[..., :k], pair[..., k:])
            out[i, ..., :k], out[i, ..., k:] = edges, image
        return out.reshape(pairs.shape)
