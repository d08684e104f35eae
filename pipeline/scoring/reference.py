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

from pipeline.saved import REFERENCE, read_npz
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
        """Atomically, and with bytes that depend only on the numbers (fixed zip times):
        an unchanged reference keeps its DVC hash, so no `evaluate@` re-runs for nothing."""
        from pipeline.data.files import write_npz

        arrays = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        write_npz(path, arrays, compress=False)  # float features barely compress

    @classmethod
    def load(cls, path: Path = REFERENCE_FILE) -> Reference:
        """What `save` wrote; missing or damaged (every array is read through its CRC-32),
        a one-line DataError naming the `reference` stage."""
        names = [f.name for f in dataclasses.fields(cls)]
        with read_npz(path, REFERENCE) as data:
            return cls(**{k: data[k] for k in names if k in data.files})
