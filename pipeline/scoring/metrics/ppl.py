"""Perceptual path length (Karras et al. 2019, StyleGAN, section 4.2): how smoothly the
images change along the generator's latent paths.

    ppl = E[ d(G(path(t)), G(path(t + eps))) / eps^2 ],   t ~ U(0, 1)

with d the squared Euclidean distance of the evaluator's features (the ones FID uses; the
paper's d is LPIPS, a VGG distance: a feature network is needed that was trained on the
images, and Inception weights are not available here), eps = evaluate.ppl_epsilon (the
paper's 1e-4), over evaluate.ppl_samples paths between two random latents. As in the
paper, the distances below the 1st and above the 99th percentile are dropped before the
mean (a few paths cross a discontinuity and would dominate it). Lower is smoother.

    ppl     in z, paths spherical (slerp, Gaussian z), for every latent generator
    ppl_w   in w, paths linear, for a generator with a mapping network (StyleGAN)

A conditional generator (cgan) walks each path at one class (the requested labels of
`images`, balanced). The latents and t are drawn from evaluate.seed, apart from the scored
samples' latents, so adding this metric changes no other score. Registers `ppl`; a model
without a latent (pix2pix) gets no key.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline.scoring.metrics import Context, Metric, register

PERCENTILES = (1.0, 99.0)  # the paper's filter: drop the outer 1% at each end


def path_distances(
    render: Callable[[np.ndarray], np.ndarray],
    features: Callable[[np.ndarray], np.ndarray],
    interpolate: Callable,
    start: np.ndarray,
    end: np.ndarray,
    t: np.ndarray,
    epsilon: float,
) -> np.ndarray:
    """Per path: |features(render(p(t + eps))) - features(render(p(t)))|^2 / eps^2, with
    p(t) = interpolate(start, end, t): float64 [N]."""
    here = features(render(interpolate(start, end, t)))
    there = features(render(interpolate(start, end, t + epsilon)))
    difference = np.asarray(there, np.float64) - np.asarray(here, np.float64)
    return np.sum(difference**2, axis=1) / epsilon**2


def filtered_mean(distances: np.ndarray, percentiles=PERCENTILES) -> float:
    """The mean of the distances between the two percentiles (inclusive)."""
    low, high = np.percentile(distances, percentiles)
    kept = distances[(distances >= low) & (distances <= high)]
    return float(np.mean(kept))


def _ppl(context: Context) -> dict[str, float]:
    from pipeline.gans.latent import LatentSpace, lerp, slerp

    if context.generator is None or not getattr(context.task, "latent", False):
        return {}  # no latent to walk (real images, a translation model)
    cfg = context.cfg
    space = LatentSpace(context.generator, cfg.batch_size)
    count, epsilon = cfg.ppl_samples, cfg.ppl_epsilon
    rng = np.random.default_rng([cfg.seed, 0x991])  # not the scored samples' stream
    start, end = space.latents(rng, count), space.latents(rng, count)
    # t + eps must stay on the path: t in [0, 1 - eps]
    t = rng.uniform(0.0, 1.0 - epsilon, count)
    labels = None
    if space.conditional:
        labels = context.task_with("requested_labels", "ppl", "the classes to draw")
        labels = labels.requested_labels(count)

    def features(images):
        return context.embedder(images).features

    scores = {}
    in_z = path_distances(
        lambda z: space.render_z(z, labels=labels), features, slerp, start, end, t, epsilon
    )
    scores["ppl"] = filtered_mean(in_z)
    if space.styled:
        w_start, w_end = space.to_w(start), space.to_w(end)
        in_w = path_distances(space.render, features, lerp, w_start, w_end, t, epsilon)
        scores["ppl_w"] = filtered_mean(in_w)
    return scores


register(
    Metric(
        "ppl",
        _ppl,
        floor="",
        summary="perceptual path length in z (and w): the evaluator-feature distance of "
        "images eps apart on latent paths, / eps^2",
    )
)
