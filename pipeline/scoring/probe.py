"""The in-training FID (train.fid_every): a cheap FID of a few thousand samples per epoch.

FIDs are only comparable at the same sample count (FID is biased upwards for small
samples), so the key names the count: `fid2k` for 2000 samples.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import DataError
from pipeline.scoring.evaluator import Embedder, load_embedder
from pipeline.scoring.metrics.fid import fid_against_statistics
from pipeline.scoring.reference import Reference


def fid(fake: np.ndarray, reference: Reference) -> float:
    """FID of fake features against the reference's (precomputed) statistics."""
    return fid_against_statistics(fake, reference.mu, reference.sigma)


def fid_key(count: int) -> str:
    """`fid2k` for 2000 samples, `fid500` for 500: the key names the sample count."""
    return f"fid{count // 1000}k" if count % 1000 == 0 else f"fid{count}"


class FidProbe:
    """The cheap in-training FID: `count` samples (latent seed 0, or the first test pairs
    of a translation model: `task.images`) against the reference. Only comparable with
    FIDs of the same count (hence the key)."""

    def __init__(self, embedder: Embedder, reference: Reference, count: int, task=None):
        self.embedder, self.reference, self.count, self.task = embedder, reference, count, task
        self.key = fid_key(count)

    def __call__(self, generator, discriminator=None) -> float:  # scores the generator only
        from pipeline.gans.inputs import generate

        if self.task is None:
            images = generate(generator, self.count, seed=0)
        else:
            images = self.task.images(generator, self.count, seed=0)
        return fid(self.embedder(images).features, self.reference)


def make_fid_probe(run, chief: bool, task):
    """The in-training FID of train.fid_every, or None when off (or not the chief)."""
    if not (chief and run.train.fid_every):
        return None
    embedder = load_embedder()  # first: a missing evaluator is the upstream cause to name
    reference = Reference.load()
    count = min(run.train.fid_samples, task.max_samples or run.train.fid_samples)
    if count <= reference.mu.shape[0]:  # fail now, not after the first epoch
        raise DataError(
            f"the in-training FID of {run.model} would use {count} samples (one per test "
            f"pair), but it needs more than the evaluator's {reference.mu.shape[0]} features; "
            "use a bigger dataset or set train.fid_every: 0"
        )
    return FidProbe(embedder, reference, count, task)
