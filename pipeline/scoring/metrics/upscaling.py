"""The plain upscalers' scores, beside a super-resolution model's own (srgan).

A super-resolution score means little alone: bicubic upscaling of 7 px Fashion-MNIST
already reaches about 15.9 dB PSNR. So `evaluate@srgan` also scores bicubic upscaling of
the same low-resolution test images (the task's `baseline_images`) with the same
measures: `bicubic_psnr`, `bicubic_ssim`, `bicubic_l1` against the originals and
`bicubic_fid` against the reference. The `lowres` stage writes the same numbers for every
upscaler of pipeline.data.lowres.UPSCALERS to data/lowres/stats.json (`upscaler_scores`).
"""

from __future__ import annotations

from pipeline.scoring.metrics import Context, Metric, register
from pipeline.scoring.metrics.fid import fid_against_statistics
from pipeline.scoring.metrics.paired import paired_scores

BASELINE = "bicubic"  # the paper's baseline, and the filter the low images were made with


def upscaler_scores(upscaled, real, embedder=None, reference=None) -> dict[str, float]:
    """l1, psnr, ssim of float `upscaled` [N, H, W, C] in [-1, 1] against `real` (same
    shape, same order), and, given the evaluator, the FID of `upscaled` against the
    reference statistics."""
    scores = paired_scores(upscaled, real)
    if embedder is not None:
        features = embedder(upscaled).features
        scores["fid"] = fid_against_statistics(features, reference.mu, reference.sigma)
    return scores


def _baseline(context: Context) -> dict[str, float]:
    task = context.task_with("baseline_images", "upscale_baseline", "low-resolution test images")
    count = len(context.images)
    upscaled = task.baseline_images(count, BASELINE)
    scores = upscaler_scores(upscaled, task.real_images(count), context.embedder, context.reference)
    return {f"{BASELINE}_{key}": value for key, value in scores.items()}


register(
    Metric(
        "upscale_baseline",
        _baseline,
        floor="",
        summary="bicubic upscaling of the same low-resolution test images: psnr, ssim, l1, fid",
    )
)
