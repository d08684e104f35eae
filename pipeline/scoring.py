"""Scores of generated images against the real test split, with the evaluator network.

The reference (`models/reference/stats.npz`) holds the evaluator's view of the real test
split: features, their mean and covariance, and class probabilities. Every evaluation
reuses it, so a GAN's score costs one pass over its own samples.

Keys (all computed with the evaluator, never with Inception):
    fid                 Frechet distance of the feature Gaussians; lower is better, 0 at best
    kid, kid_std        kernel distance (unbiased MMD^2, cubic kernel), mean and std over
                        subsets; lower is better, about 0 at best
    classifier_score    exp E[KL(p(y|x) || p(y))]: confident and diverse classes; higher is
                        better, at most the number of classes (labelled datasets only)
    precision, recall   share of samples on the real manifold / of the real manifold covered
                        (k-NN balls); higher is better, 1 at best
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import metrics
from pipeline.errors import DataError
from pipeline.evaluator import Embedder, Embedding

REFERENCE_FILE = Path("models/reference/stats.npz")


@dataclass(frozen=True)
class Reference:
    """The evaluator's view of a set of real images."""

    features: np.ndarray  # float32 [N, D]
    probabilities: np.ndarray  # float32 [N, K]
    mu: np.ndarray  # float64 [D]
    sigma: np.ndarray  # float64 [D, D]
    # InceptionV3 statistics, only when evaluate.inception_weights is set
    inception_mu: np.ndarray | None = None  # float64 [2048]
    inception_sigma: np.ndarray | None = None  # float64 [2048, 2048]

    @classmethod
    def of(cls, embedding: Embedding, inception_features: np.ndarray | None = None) -> Reference:
        mu, sigma = metrics.feature_statistics(embedding.features)
        inception = (None, None)
        if inception_features is not None:
            inception = metrics.feature_statistics(inception_features)
        return cls(embedding.features, embedding.probabilities, mu, sigma, *inception)

    def save(self, path: Path) -> None:
        from pipeline.images import atomic_path

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp, commit = atomic_path(path)
        try:
            arrays = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
            commit()
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path = REFERENCE_FILE) -> Reference:
        if not path.is_file():
            raise DataError(f"{path} not found; compute it first: `dvc repro reference`")
        try:
            with np.load(path, allow_pickle=False) as data:
                names = [f.name for f in dataclasses.fields(cls)]
                return cls(**{k: data[k] for k in names if k in data.files})
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DataError(
                f"{path} is unreadable ({type(error).__name__}); recompute it: "
                "`dvc repro -f reference`"
            ) from None


def fid(fake: np.ndarray, reference: Reference) -> float:
    """FID of fake features against the reference's (precomputed) statistics."""
    return metrics.fid_against_statistics(fake, reference.mu, reference.sigma)


def score(fake: Embedding, reference: Reference, cfg) -> dict[str, float]:
    """Every score of `fake` against `reference`; `cfg` is an EvaluateConfig."""
    kid, kid_std = metrics.kernel_inception_distance(
        reference.features,
        fake.features,
        subsets=cfg.kid_subsets,
        subset_size=cfg.kid_subset_size,
        seed=cfg.seed,
    )
    precision, recall = metrics.precision_recall(reference.features, fake.features, k=cfg.pr_k)
    scores = {"fid": fid(fake.features, reference), "kid": kid, "kid_std": kid_std}
    scores |= classifier_scores(fake, cfg)
    return scores | {"precision": precision, "recall": recall}


def classifier_scores(embedding: Embedding, cfg) -> dict[str, float]:
    """classifier_score and its std; none for a rotation evaluator (no classes to score)."""
    if not embedding.classes:
        return {}
    mean, std = metrics.classifier_score(embedding.probabilities, splits=cfg.score_splits)
    return {"classifier_score": mean, "classifier_score_std": std}


def fid_inception(images: np.ndarray, reference: Reference, cfg) -> float:
    """FID with InceptionV3 features (evaluate.inception_weights); see pipeline/inception.py."""
    from pipeline.inception import InceptionEmbedder

    if reference.inception_mu is None:
        raise DataError(
            "the reference has no InceptionV3 statistics (evaluate.inception_weights was unset "
            "when it was computed); recompute it: `dvc repro reference`"
        )
    features = InceptionEmbedder(cfg.inception_weights)(images)
    return metrics.fid_against_statistics(
        features, reference.inception_mu, reference.inception_sigma
    )


def generate(generator, count: int, seed: int, batch_size: int = 500) -> np.ndarray:
    """`count` images [N, H, W, C] in [-1, 1] from seeded standard-normal latents."""
    from pipeline.training import sample_images

    latent_dim = generator.inputs[0].shape[-1]
    latents = np.random.default_rng(seed).standard_normal((count, latent_dim)).astype(np.float32)
    batches = [
        sample_images(generator, latents[i : i + batch_size]) for i in range(0, count, batch_size)
    ]
    return np.concatenate(batches)


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

    def __call__(self, generator) -> float:
        if self.task is None:
            images = generate(generator, self.count, seed=0)
        else:
            images = self.task.images(generator, self.count, seed=0)
        return fid(self.embedder(images).features, self.reference)
