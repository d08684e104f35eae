"""FID, the Fréchet distance between Gaussians fitted to real and generated features.

    fid    ||mu_r - mu_g||^2 + tr(S_r) + tr(S_g) - 2 tr((S_r S_g)^(1/2)) of the evaluator's
           features (float64); lower is better, 0 for equal mean and covariance

Registers the metric `fid`: the generated features against the reference's (precomputed)
statistics. Inputs are checked as pipeline.scoring.metrics.checks says.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import DataError
from pipeline.scoring.metrics import Context, Metric, register
from pipeline.scoring.metrics.checks import as_finite, check_features, check_pair

# An eigenvalue below -PSD_RTOL * (largest |eigenvalue|) means "not PSD" and raises; smaller
# negatives are float64 rounding (~1e-13 relative at d = 2048) and are clamped to 0. Inputs
# stored in a lower precision get d * eps(dtype) instead (2.4e-4 for float32 at d = 2048),
# Weyl's bound on the eigenvalue shift their rounding can cause.
PSD_RTOL = 1e-6


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of feature rows, accumulated in float64.

    mu = (1/n) sum_i x_i;  sigma = sum_i (x_i - mu)(x_i - mu)^T / (n - 1), i.e.
    np.cov(features, rowvar=False, ddof=1). `features` is [n, d] with n >= 2; returns
    mu [d] and sigma [d, d], both float64. Not a score, so no direction.
    """
    x = check_features("features", features)
    mu = x.mean(axis=0)
    centred = x - mu
    sigma = centred.T @ centred / (len(x) - 1)
    return mu, (sigma + sigma.T) / 2


def _rtol(value, d: int) -> float:
    dtype = np.asarray(value).dtype
    eps = np.finfo(dtype).eps if np.issubdtype(dtype, np.floating) else 0.0
    return max(PSD_RTOL, d * eps)


def _check_stats(mu1, sigma1, mu2, sigma2) -> list[np.ndarray]:
    first = as_finite("mu1", mu1)
    if first.ndim != 1 or first.size == 0:
        raise DataError(f"mu1 must be a non-empty 1-D mean vector; got shape {first.shape}")
    d = first.size
    arrays = [first]
    expected = (("sigma1", sigma1, (d, d)), ("mu2", mu2, (d,)), ("sigma2", sigma2, (d, d)))
    for name, value, shape in expected:
        array = as_finite(name, value)
        if array.shape != shape:
            raise DataError(f"{name} has shape {array.shape}; expected {shape} for d = {d} (mu1)")
        arrays.append(array)
    return arrays


def _clamp_eigenvalues(name: str, eigenvalues: np.ndarray, scale: float, rtol: float):
    """Eigenvalues with rounding negatives set to 0; a DataError if any is below -rtol * scale."""
    lowest = eigenvalues.min()
    if lowest < -rtol * scale:
        raise DataError(
            f"{name} has eigenvalue {lowest:.3g} against a scale of {scale:.3g}: not positive "
            f"semi-definite beyond rounding (tolerance {rtol:.2g} relative), so not a covariance"
        )
    return np.clip(eigenvalues, 0.0, None)


def _factor(name: str, sigma: np.ndarray, rtol: float) -> np.ndarray:
    """F with F @ F.T == sigma: Cholesky if sigma is positive definite, else U diag(sqrt(l))
    from sigma = U diag(l) U^T once every l passed the PSD check (singular). Both read the
    lower triangle only, so a sigma symmetric to within rounding needs no symmetrising."""
    gap = np.abs(sigma - sigma.T).max()
    # max |s_ij| of a PSD matrix is its largest diagonal entry: O(d) instead of O(d^2)
    if gap > rtol * np.abs(np.diagonal(sigma)).max():
        raise DataError(f"{name} is not symmetric (max |s - s^T| = {gap:.3g}), so not a covariance")
    try:
        return np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        pass
    eigenvalues, vectors = np.linalg.eigh(sigma)
    eigenvalues = _clamp_eigenvalues(name, eigenvalues, np.abs(eigenvalues).max(), rtol)
    return vectors * np.sqrt(eigenvalues)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2). Lower is better; 0 iff equal.

    d^2 = ||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2)), exactly,
    without scipy.linalg.sqrtm: with sigma1 = F1 F1^T and sigma2 = F2 F2^T (Cholesky, or
    U diag(sqrt(l)) from a symmetric eigendecomposition when one is singular), sigma1 sigma2
    is similar to W W^T with W = F1^T F2, a symmetric PSD matrix, so the trace is
    sum(sqrt(eigvalsh(W W^T))): two factorisations, two products and one symmetric
    eigenvalue problem, all LAPACK/BLAS-3.

    Both sigmas must be symmetric PSD: negative eigenvalues within rounding (see PSD_RTOL; for
    W W^T relative to ||sigma1||_F ||sigma2||_F) are clamped to 0, larger ones raise
    DataError, as do shape mismatches and non-finite values. A result that is negative by
    rounding only (e.g. identical statistics) is returned as 0.0; a larger negative raises.
    """
    rtol = max(_rtol(value, np.size(mu1)) for value in (mu1, sigma1, mu2, sigma2))
    mu1, sigma1, mu2, sigma2 = _check_stats(mu1, sigma1, mu2, sigma2)
    cross = _factor("sigma1", sigma1, rtol).T @ _factor("sigma2", sigma2, rtol)  # W [d, d]
    product = cross @ cross.T  # W W^T: symmetric PSD up to rounding
    scale = np.linalg.norm(sigma1) * np.linalg.norm(sigma2)
    eigenvalues = _clamp_eigenvalues("sigma1 @ sigma2", np.linalg.eigvalsh(product), scale, rtol)
    diff = mu1 - mu2
    terms = diff @ diff + np.trace(sigma1) + np.trace(sigma2)
    distance = terms - 2 * np.sqrt(eigenvalues).sum()
    if distance < -rtol * terms:
        raise DataError(f"Fréchet distance came out negative ({distance:.3g}); inconsistent stats")
    return float(max(distance, 0.0))


def _enough_for_covariance(name: str, features: np.ndarray) -> np.ndarray:
    if len(features) <= features.shape[1]:
        raise DataError(
            f"{name} has {len(features)} samples for {features.shape[1]} features; FID needs "
            "more samples than features (n > d, and n >> d for a stable score)"
        )
    return features


def fid_from_features(real, fake) -> float:
    """FID: frechet_distance of the feature_statistics of `real` and of `fake`. Lower is better.

    Both are [n, d] with the same d and n > d (fewer samples than features cannot estimate a
    d x d covariance; a stable score needs n >> d). Compare FIDs only at equal n: the
    estimate is biased upwards, more so for small n.
    """
    real, fake = check_pair(real, fake)
    real_stats = feature_statistics(_enough_for_covariance("real", real))
    return fid_against_statistics(fake, *real_stats)


def fid_against_statistics(fake, mu, sigma) -> float:
    """FID of `fake` features [n, d] (n > d) against precomputed real statistics."""
    fake = _enough_for_covariance("fake", check_features("fake", fake))
    return frechet_distance(*feature_statistics(fake), mu, sigma)


def _fid(context: Context) -> dict[str, float]:
    fake, reference = context.embedding.features, context.reference
    return {"fid": fid_against_statistics(fake, reference.mu, reference.sigma)}


register(Metric("fid", _fid, summary="Fréchet distance of the evaluator's feature Gaussians"))
