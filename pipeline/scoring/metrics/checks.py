"""Input checks shared by the feature-space metrics (fid, kid, classifier_score,
precision_recall).

Those metrics are pure numpy, float64 throughout (float32 inputs are converted first).
Feature arrays are [samples, features] rows from one network, the project's evaluator
(DESIGN.md, "Scoring without a hub"); compare scores only at equal sample counts. Every
input problem (shape, non-finite values, too few samples, a covariance that is not PSD)
raises `DataError` and a bad argument (`k`, `splits`, `subsets`) raises `ConfigError`,
each with one line naming it: no metric returns NaN.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import ConfigError, DataError


def as_finite(name: str, value) -> np.ndarray:
    """`value` as a float64 array with only finite values, or a DataError naming it."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{name} is not a numeric array ({error})") from None
    if not np.isfinite(array).all():
        raise DataError(f"{name} has non-finite values (NaN or inf); check what produced it")
    return array


def check_features(name: str, value, min_rows: int = 2, why: str = "") -> np.ndarray:
    """`value` as a finite float64 [n, d] array with n >= min_rows, or a DataError."""
    array = as_finite(name, value)
    if array.ndim != 2 or array.shape[1] == 0:
        raise DataError(f"{name} must be 2-D [samples, features]; got shape {array.shape}")
    if len(array) < min_rows:
        raise DataError(f"{name} has {len(array)} samples; at least {min_rows} are needed{why}")
    return array


def check_pair(real, fake, min_rows: int = 2, why: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Both feature arrays checked, with the same number of features."""
    real = check_features("real", real, min_rows, why)
    fake = check_features("fake", fake, min_rows, why)
    if real.shape[1] != fake.shape[1]:
        raise DataError(
            f"real has {real.shape[1]} features per sample but fake has {fake.shape[1]}; "
            "both must come from the same feature layer"
        )
    return real, fake


def positive(name: str, value: int, minimum: int = 1) -> int:
    """`value` as an int >= minimum, or a ConfigError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)
