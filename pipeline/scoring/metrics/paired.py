"""Paired image metrics for translation models: how close G(x) is to its own target y.

An unconditional GAN has no target for a sample, so these only exist for pix2pix-like
models, scored on the test pairs. Images are float [N, H, W, C] in [-1, 1] (the
generators' range), so the data range is 2:
    l1    mean |y - G(x)|, the quantity pix2pix's L1 term minimises; lower is better
    psnr  10 log10(range^2 / MSE) in dB per image, averaged; higher is better (the same
          number as on 0-255 pixels with range 255)
    ssim  structural similarity (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5,
          k1 0.01, k2 0.03, as tf.image.ssim), averaged; 1 for identical images

Registers the metric `paired` (pix2pix's Family.scores): the translated test edge maps
against their own real images (the task's `real_images`). TensorFlow (tf.image.ssim) is
imported when SSIM is computed, not with this module.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import DataError
from pipeline.scoring.metrics import Context, Metric, register

DATA_RANGE = 2.0  # images in [-1, 1]
# An exact copy has MSE 0 and infinite PSNR; flooring the MSE caps it at 100 dB, so an
# average over images stays finite and still ranks a perfect copy first.
PSNR_CAP_DB = 100.0
SSIM_WINDOW = 11


def _pair(generated, real) -> tuple[np.ndarray, np.ndarray]:
    generated = np.asarray(generated, dtype=np.float64)
    real = np.asarray(real, dtype=np.float64)
    if generated.shape != real.shape or generated.ndim != 4:
        raise DataError(
            f"paired metrics need two [N, H, W, C] arrays of one shape; got {generated.shape} "
            f"and {real.shape}"
        )
    if not (np.isfinite(generated).all() and np.isfinite(real).all()):
        raise DataError("paired metrics got non-finite pixels (NaN or inf)")
    return generated, real


def l1_distance(generated, real) -> float:
    generated, real = _pair(generated, real)
    return float(np.mean(np.abs(generated - real)))


def psnr(generated, real) -> float:
    generated, real = _pair(generated, real)
    mse = np.mean((generated - real) ** 2, axis=(1, 2, 3))  # [N]
    floor = DATA_RANGE**2 / 10 ** (PSNR_CAP_DB / 10)
    return float(np.mean(10 * np.log10(DATA_RANGE**2 / np.maximum(mse, floor))))


def ssim(generated, real, batch_size: int = 1000) -> float:
    import tensorflow as tf

    generated, real = _pair(generated, real)
    if min(generated.shape[1:3]) < SSIM_WINDOW:
        raise DataError(
            f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}; got "
            f"{generated.shape[1]}x{generated.shape[2]}"
        )
    values = []
    for start in range(0, len(real), batch_size):
        a = tf.constant(generated[start : start + batch_size], tf.float32)
        b = tf.constant(real[start : start + batch_size], tf.float32)
        values.append(tf.image.ssim(a, b, max_val=DATA_RANGE).numpy())  # [batch]
    return float(np.mean(np.concatenate(values)))


def paired_scores(generated, real) -> dict[str, float]:
    """Every paired metric of `generated` against `real` (same order, same shape)."""
    return {
        "l1": l1_distance(generated, real),
        "psnr": psnr(generated, real),
        "ssim": ssim(generated, real),
    }


def _paired(context: Context) -> dict[str, float]:
    task = context.task_with("real_images", "paired", "a translation model's test pairs")
    return paired_scores(context.images, task.real_images(len(context.images)))


register(Metric("paired", _paired, floor="", summary="l1, psnr, ssim against the test pairs"))
