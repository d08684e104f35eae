"""Sample-quality metrics on feature vectors: FID, KID, classifier score, precision/recall.

Pure numpy, float64 throughout (float32 inputs are converted first). Feature arrays are
[samples, features] rows from one network, the project's evaluator (DESIGN.md, "Scoring
without a hub"); compare scores only at equal sample counts. Every input problem (shape,
non-finite values, too few samples, a covariance that is not PSD) raises `DataError` and a
bad argument (`k`, `splits`, `subsets`) raises `ConfigError`, each with one line naming
it: no metric returns NaN.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import ConfigError, DataError

# An eigenvalue below -PSD_RTOL * (largest |eigenvalue|) means "not PSD" and raises; smaller
# negatives are float64 rounding (~1e-13 relative at d = 2048) and are clamped to 0. Inputs
# stored in a lower precision get d * eps(dtype) instead (2.4e-4 for float32 at d = 2048),
# Weyl's bound on the eigenvalue shift their rounding can cause.
PSD_RTOL = 1e-6
CHUNK_ROWS = 1000  # rows per block of pairwise distances: 1000 x 10000 float64 = 80 MB


def _as_finite(name: str, value) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{name} is not a numeric array ({error})") from None
    if not np.isfinite(array).all():
        raise DataError(f"{name} has non-finite values (NaN or inf); check what produced it")
    return array


def _check_features(name: str, value, min_rows: int = 2, why: str = "") -> np.ndarray:
    """`value` as a finite float64 [n, d] array with n >= min_rows, or a DataError."""
    array = _as_finite(name, value)
    if array.ndim != 2 or array.shape[1] == 0:
        raise DataError(f"{name} must be 2-D [samples, features]; got shape {array.shape}")
    if len(array) < min_rows:
        raise DataError(f"{name} has {len(array)} samples; at least {min_rows} are needed{why}")
    return array


def _check_pair(real, fake, min_rows: int = 2, why: str = "") -> tuple[np.ndarray, np.ndarray]:
    real = _check_features("real", real, min_rows, why)
    fake = _check_features("fake", fake, min_rows, why)
    if real.shape[1] != fake.shape[1]:
        raise DataError(
            f"real has {real.shape[1]} features per sample but fake has {fake.shape[1]}; "
            "both must come from the same feature layer"
        )
    return real, fake


def _positive(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of feature rows, accumulated in float64.

    mu = (1/n) sum_i x_i;  sigma = sum_i (x_i - mu)(x_i - mu)^T / (n - 1), i.e.
    np.cov(features, rowvar=False, ddof=1). `features` is [n, d] with n >= 2; returns
    mu [d] and sigma [d, d], both float64. Not a score, so no direction.
    """
    x = _check_features("features", features)
    mu = x.mean(axis=0)
    centred = x - mu
    sigma = centred.T @ centred / (len(x) - 1)
    return mu, (sigma + sigma.T) / 2


def _rtol(value, d: int) -> float:
    dtype = np.asarray(value).dtype
    eps = np.finfo(dtype).eps if np.issubdtype(dtype, np.floating) else 0.0
    return max(PSD_RTOL, d * eps)


def _check_stats(mu1, sigma1, mu2, sigma2) -> list[np.ndarray]:
    first = _as_finite("mu1", mu1)
    if first.ndim != 1 or first.size == 0:
        raise DataError(f"mu1 must be a non-empty 1-D mean vector; got shape {first.shape}")
    d = first.size
    arrays = [first]
    expected = (("sigma1", sigma1, (d, d)), ("mu2", mu2, (d,)), ("sigma2", sigma2, (d, d)))
    for name, value, shape in expected:
        array = _as_finite(name, value)
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
    real, fake = _check_pair(real, fake)
    real_stats = feature_statistics(_enough_for_covariance("real", real))
    return fid_against_statistics(fake, *real_stats)


def fid_against_statistics(fake, mu, sigma) -> float:
    """FID of `fake` features [n, d] (n > d) against precomputed real statistics."""
    fake = _enough_for_covariance("fake", _check_features("fake", fake))
    return frechet_distance(*feature_statistics(fake), mu, sigma)


def _cubic_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a_i . b_j / d + 1)^3 for every pair of rows; t * t * t is much faster than t ** 3."""
    t = a @ b.T / a.shape[1] + 1
    return t * t * t


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    m = len(x)
    kxx, kyy, kxy = _cubic_kernel(x, x), _cubic_kernel(y, y), _cubic_kernel(x, y)
    off_diagonal = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return off_diagonal - 2 * kxy.mean()


def kernel_inception_distance(
    real, fake, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the cubic kernel k(x, y) = (x.y / d + 1)^3. Lower is better.

    Per subset of m real rows r and m fake rows f:
    MMD^2 = sum_{i!=j} [k(r_i, r_j) + k(f_i, f_j)] / (m (m - 1)) - 2 sum_{i,j} k(r_i, f_j) / m^2.
    Each of `subsets` subsets draws m = min(subset_size, n_real, n_fake) rows of each set
    without replacement (np.random.default_rng(seed)). Returns the mean and the std (ddof=0)
    over subsets: the spread of one subset's estimate, not the error of the mean (it is 0
    when m equals both n, as every subset is then the whole set). Unbiased, so it needs no
    n > d and can come out slightly negative when both sets share a distribution.
    """
    subsets = _positive("subsets", subsets)
    subset_size = _positive("subset_size", subset_size, minimum=2)
    real, fake = _check_pair(real, fake)
    m = min(subset_size, len(real), len(fake))
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        values[i] = _mmd2_unbiased(x, y)
    return float(values.mean()), float(values.std())


def _split_score(p: np.ndarray) -> float:
    marginal = p.mean(axis=0, keepdims=True)
    # 0 * log 0 = 0 exactly (no eps): where p == 0 both logs read log(1); p > 0 gives marginal > 0.
    log_ratio = np.log(np.where(p > 0, p, 1.0)) - np.log(np.where(p > 0, marginal, 1.0))
    return float(np.exp((p * log_ratio).sum(axis=1).mean()))


def classifier_score(probabilities, splits: int = 10) -> tuple[float, float]:
    """The Inception Score formula with the evaluator's softmax. Higher is better.

    score = exp(E_x KL(p(y|x) || p(y))) with p(y) the mean prediction of the split, computed
    on `splits` consecutive splits (np.array_split: sizes differ by at most one when n is not
    a multiple); returns their mean and std (ddof=0). It ranges from 1 (every sample gets the
    same prediction) to K (confident and balanced over K classes). `probabilities` is
    [n, K], n >= splits, non-negative rows summing to 1 within 1e-3.
    """
    splits = _positive("splits", splits)
    p = _check_features("probabilities", probabilities, splits, " (one per split)")
    if (p < 0).any():
        raise DataError("probabilities has negative entries; pass softmax outputs, not logits")
    sums = p.sum(axis=1)
    worst = np.abs(sums - 1).argmax()
    if abs(sums[worst] - 1) > 1e-3:
        raise DataError(
            f"probabilities rows must sum to 1, but row {worst} sums to {sums[worst]:.6g}; "
            "pass softmax outputs, not logits"
        )
    scores = [_split_score(part) for part in np.array_split(p, splits)]
    return float(np.mean(scores)), float(np.std(scores))


def _squared_distances(a: np.ndarray, b: np.ndarray):
    """Blocks of ||a_i - b_j||^2 for CHUNK_ROWS rows of `a` at a time against all of `b`."""
    b_sq = (b * b).sum(axis=1)
    for start in range(0, len(a), CHUNK_ROWS):
        rows = a[start : start + CHUNK_ROWS]
        block = (rows * rows).sum(axis=1)[:, None] + b_sq[None, :] - 2 * rows @ b.T
        yield np.maximum(block, 0.0)


def _kth_neighbour_sq(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each row to its k-th nearest other row (the row itself is 0th)."""
    return np.concatenate([np.partition(b, k, axis=1)[:, k] for b in _squared_distances(x, x)])


def _coverage(points: np.ndarray, centres: np.ndarray, radii_sq: np.ndarray) -> float:
    """Fraction of `points` inside at least one ball (centre, radius) of the manifold."""
    inside = [(b <= radii_sq[None, :]).any(axis=1) for b in _squared_distances(points, centres)]
    return float(np.concatenate(inside).mean())


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019). Higher is better, in [0, 1].

    Each real sample's ball has radius = distance to its k-th nearest neighbour among the
    real samples (itself excluded); precision = fraction of fake samples inside at least one
    real ball (fidelity). Recall = the same with real and fake swapped (coverage). Euclidean
    distances in float64, in blocks of CHUNK_ROWS rows. Both sets need n > k.
    """
    k = _positive("k", k)
    real, fake = _check_pair(real, fake, k + 1, f" for k = {k} neighbours")
    precision = _coverage(fake, real, _kth_neighbour_sq(real, k))
    recall = _coverage(real, fake, _kth_neighbour_sq(fake, k))
    return precision, recall
