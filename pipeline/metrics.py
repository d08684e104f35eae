"""Sample-quality metrics on feature vectors: FID, KID, classifier score, precision/recall.

The public facade of the math in pipeline/scoring/metrics/ (one module per metric, each
registered for `evaluate`; see that package). Pure numpy, float64 throughout, and no
TensorFlow: importing this module is cheap. The contract (DESIGN.md, "Scoring without a
hub"): `frechet_distance(mu1, sigma1, mu2, sigma2) -> float`, exact, with the square-root
trace from one symmetric eigenvalue problem instead of `scipy.linalg.sqrtm`.

Feature arrays are [samples, features] rows from one network; compare scores only at
equal sample counts. Every input problem raises `DataError` and a bad argument (`k`,
`splits`, `subsets`) raises `ConfigError`, each with one line naming it: no metric
returns NaN.
"""

from __future__ import annotations

from pipeline.scoring.metrics.classifier_score import classifier_score
from pipeline.scoring.metrics.fid import (
    PSD_RTOL,
    feature_statistics,
    fid_against_statistics,
    fid_from_features,
    frechet_distance,
)
from pipeline.scoring.metrics.kid import kernel_inception_distance
from pipeline.scoring.metrics.precision_recall import CHUNK_ROWS, precision_recall

__all__ = [
    "CHUNK_ROWS",
    "PSD_RTOL",
    "classifier_score",
    "feature_statistics",
    "fid_against_statistics",
    "fid_from_features",
    "frechet_distance",
    "kernel_inception_distance",
    "precision_recall",
]
