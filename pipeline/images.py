"""Pictures the pipeline writes: sample grids and loss curves. Writes are atomic
(pipeline.saved.atomic_file)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.saved import atomic_file


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255] for pictures."""
    return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def grid(images: np.ndarray, columns: int | None = None, pad: int = 2) -> np.ndarray:
    """[N, H, W, C] images in [-1, 1] -> one uint8 picture, N tiled row by row."""
    images = to_uint8(images)
    count, height, width, channels = images.shape
    if columns is None:
        columns = math.ceil(math.sqrt(count))
    elif columns < 1:  # `or` would have taken 0 for "square" and a negative one drawn nothing
        raise ValueError(f"a grid needs at least one column, got {columns}")
    rows = math.ceil(count / columns)
    canvas = np.zeros(
        (rows * (height + pad) + pad, columns * (width + pad) + pad, channels), np.uint8
    )
    for i, image in enumerate(images):
        top = pad + (i // columns) * (height + pad)
        left = pad + (i % columns) * (width + pad)
        canvas[top : top + height, left : left + width] = image
    return canvas[..., 0] if channels == 1 else canvas


def display_scale(picture: np.ndarray) -> int:
    """The whole-number zoom that brings a small picture to about 512 px for viewing."""
    return max(1, 512 // max(picture.shape[:2]))


def save_png(picture: np.ndarray, target: Path, scale: int = 1) -> Path:
    image = Image.fromarray(picture)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    with atomic_file(Path(target)) as tmp:
        image.save(tmp, format="PNG")
    return Path(target)


def save_loss_curves(
    history: Sequence[dict], target: Path, title: str, probabilities: bool = True
) -> Path:
    """Two panels: the losses, and D(x) / D(G(z)) (seed 001's view of the game); for a
    critic (`probabilities` false: wgan, hinge, lsgan) its mean score on each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["step"] for row in history]
    figure, (losses, outputs) = plt.subplots(1, 2, figsize=(11, 4))
    for key in ("d_loss", "g_loss"):
        losses.plot(steps, [row[key] for row in history], label=key, linewidth=1)
    labels = ("D(x)", "D(G(z))") if probabilities else ("critic on reals", "critic on fakes")
    for key, label in zip(("d_real", "d_fake"), labels, strict=True):
        outputs.plot(steps, [row[key] for row in history], label=label, linewidth=1)
    if probabilities:
        outputs.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    output_name = "mean discriminator output" if probabilities else "mean critic score"
    for axis, name in ((losses, "loss"), (outputs, output_name)):
        axis.set_xlabel("step")
        axis.set_ylabel(name)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    try:
        with atomic_file(Path(target)) as tmp:
            figure.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(figure)
    return Path(target)
