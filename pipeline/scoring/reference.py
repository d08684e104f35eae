"""The reference: the evaluator's view of the real test split (`models/reference/stats.npz`):
features, their mean and covariance, and class probabilities. Every evaluation reuses it,
so a GAN's score costs one pass over its own samples. No TensorFlow here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import DataError
from pipeline.scoring.metrics.fid import feature_statistics

if TYPE_CHECKING:
    from pipeline.scoring.evaluator import Embedding

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
        mu, sigma = feature_statistics(embedding.features)
        inception = (None, None)
        if inception_features is not None:
            inception = feature_statistics(inception_features)
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
