"""The sample-quality metrics against closed forms, scipy and hand-computed values."""

import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg

from pipeline.errors import ConfigError, DataError, PipelineError
from pipeline.scoring.metrics import precision_recall as precision_recall_module
from pipeline.scoring.metrics.classifier_score import classifier_score
from pipeline.scoring.metrics.fid import feature_statistics, fid_from_features, frechet_distance
from pipeline.scoring.metrics.kid import kernel_inception_distance
from pipeline.scoring.metrics.precision_recall import precision_recall


def random_stats(rng, d=16, n=200):
    """Mean and covariance of n correlated Gaussian samples: a well-conditioned SPD sigma."""
    x = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + rng.standard_normal(d)
    return feature_statistics(x)


def random_rotation(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def sqrtm_fid(mu1, sigma1, mu2, sigma2):
    """pytorch-fid's formula (scipy.linalg.sqrtm of the product, real part)."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    diff = mu1 - mu2
    return diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def test_metrics_module_does_not_import_tensorflow():
    code = "import sys, pipeline.metrics; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_public_facade_reexports_the_math():
    from pipeline import metrics

    assert metrics.frechet_distance is frechet_distance
    assert metrics.kernel_inception_distance is kernel_inception_distance
    assert metrics.classifier_score is classifier_score
    assert metrics.precision_recall is precision_recall
    for name in metrics.__all__:
        assert hasattr(metrics, name), name


def test_feature_statistics_accumulate_float32_features_in_float64():
    rng = np.random.default_rng(0)
    x32 = (rng.standard_normal((1000, 4)) * 0.01 + 1000).astype(
        np.float32
    )  # float32 sums lose this
    mu, sigma = feature_statistics(x32)
    x64 = x32.astype(np.float64)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(mu, x64.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(sigma, np.cov(x64, rowvar=False, ddof=1), rtol=1e-9)


def test_identical_statistics_give_zero():
    mu, sigma = random_stats(np.random.default_rng(1))
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


def test_equal_covariances_give_the_squared_mean_difference():
    rng = np.random.default_rng(2)
    mu1, sigma = random_stats(rng)
    mu2 = mu1 + rng.standard_normal(mu1.shape)
    expected = np.sum((mu1 - mu2) ** 2)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("rotate", [False, True], ids=["diagonal", "rotated"])
def test_commuting_covariances_match_the_closed_form_even_when_singular(rotate):
    """sum((sqrt(a) - sqrt(b))^2) + |dmu|^2. Zeros in `a` make sigma1 singular (no Cholesky)."""
    rng = np.random.default_rng(3)
    a = np.array([0.0, 0.0, 0.5, 1.0, 2.0, 4.0, 9.0, 3.0])
    b = np.array([1.0, 0.0, 2.0, 1.0, 0.1, 4.0, 1.0, 7.0])
    q = random_rotation(rng, 8) if rotate else np.eye(8)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2)
    got = frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-7)


def test_frechet_distance_is_symmetric():
    rng = np.random.default_rng(4)
    first, second = random_stats(rng), random_stats(rng)
    assert frechet_distance(*first, *second) == pytest.approx(
        frechet_distance(*second, *first), rel=1e-10
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_distance_matches_the_scipy_sqrtm_formula(seed):
    rng = np.random.default_rng(seed)
    first, second = random_stats(rng, d=64, n=500), random_stats(rng, d=64, n=500)
    expected = sqrtm_fid(*first, *second)
    assert frechet_distance(*first, *second) == pytest.approx(expected, rel=1e-8)


def test_fid_separates_a_shifted_distribution():
    rng = np.random.default_rng(5)
    real, same = rng.standard_normal((2, 2000, 16))
    same_fid = fid_from_features(real, same)
    shifted_fid = fid_from_features(real, same + 1.0)  # |dmu|^2 = 16
    assert shifted_fid == pytest.approx(16.0, rel=0.05)
    assert same_fid < 0.02 * shifted_fid
    assert fid_from_features(real, real) == pytest.approx(0.0, abs=1e-8)


def test_kid_matches_the_unbiased_mmd_written_out():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((2, 5, 3))

    def k(a, b):
        return (a @ b / 3 + 1) ** 3

    same = sum(k(p[i], p[j]) for p in (x, y) for i in range(5) for j in range(5) if i != j)
    cross = sum(k(x[i], y[j]) for i in range(5) for j in range(5))
    expected = same / 20 - 2 * cross / 25
    mean, std = kernel_inception_distance(x, y, subsets=3, subset_size=5)
    assert mean == pytest.approx(expected, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)  # each subset is the whole set, reordered


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(7)
    real, same = rng.standard_normal((2, 1000, 16))
    mean, std = kernel_inception_distance(real, same, subsets=50, subset_size=200)
    assert std > 0 and abs(mean) < 3 * std
    mean, std = kernel_inception_distance(real, same + 0.5, subsets=50, subset_size=200)
    assert mean > 3 * std


def test_precision_recall_of_a_set_against_itself_and_against_a_far_one():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((300, 8))
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, rng.standard_normal((300, 8)) + 100) == (0.0, 0.0)


def test_precision_recall_radii_are_the_kth_neighbour_excluding_the_point_itself():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])  # k=1 radii 1,1,1,1; k=2 radii 2,1,1,2
    fake = np.array([[0.5], [10.0], [4.5]])  # 4.5 is 1.5 from 3: inside at k=2 only
    assert precision_recall(real, fake, k=1) == (pytest.approx(1 / 3), 1.0)
    assert precision_recall(real, fake, k=2) == (pytest.approx(2 / 3), 1.0)


def test_precision_recall_do_not_depend_on_the_block_size(monkeypatch):
    rng = np.random.default_rng(9)
    real, fake = rng.standard_normal((250, 8)), rng.standard_normal((230, 8)) * 1.3 + 0.3
    whole = precision_recall(real, fake)
    monkeypatch.setattr(precision_recall_module, "CHUNK_ROWS", 7)
    assert precision_recall(real, fake) == whole
    assert 0 < whole[0] < 1 and 0 < whole[1] < 1


def test_classifier_score_ranges_from_one_to_the_class_count():
    one_class = np.tile([1.0, 0.0, 0.0, 0.0, 0.0], (100, 1))
    assert classifier_score(one_class) == (pytest.approx(1.0, abs=1e-12), pytest.approx(0.0))
    balanced = np.tile(np.eye(5), (20, 1))  # every split of 10 holds each class twice
    mean, std = classifier_score(balanced, splits=10)
    assert mean == pytest.approx(5.0, abs=1e-6) and std == pytest.approx(0.0, abs=1e-6)
    assert classifier_score(np.full((30, 5), 0.2), splits=3)[0] == pytest.approx(1.0)


def test_classifier_score_formula_by_hand():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])  # marginal (0.75, 0.25); 0 * log 0 counts as 0
    kl = [math.log(1 / 0.75), 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)]
    assert classifier_score(p, splits=1)[0] == pytest.approx(math.exp(sum(kl) / 2), rel=1e-12)


def test_metric_errors_are_pipeline_errors():
    assert issubclass(DataError, PipelineError) and issubclass(ConfigError, PipelineError)


def test_too_few_samples_for_the_feature_dimension():
    rng = np.random.default_rng(10)
    with pytest.raises(DataError, match=r"real has 16 samples for 16 features.*n > d"):
        fid_from_features(rng.standard_normal((16, 16)), rng.standard_normal((100, 16)))
    with pytest.raises(DataError, match="at least 2"):
        feature_statistics(np.ones((1, 4)))
    with pytest.raises(DataError, match=r"fake has 3 samples; at least 4 .* k = 3"):
        precision_recall(np.ones((10, 2)), np.ones((3, 2)))


SCORES_OF_TWO_SETS = [fid_from_features, kernel_inception_distance, precision_recall]


@pytest.mark.parametrize("score", SCORES_OF_TWO_SETS)
def test_mismatched_feature_dimensions(score):
    rng = np.random.default_rng(11)
    with pytest.raises(DataError, match="real has 4 features per sample but fake has 5"):
        score(rng.standard_normal((50, 4)), rng.standard_normal((50, 5)))


@pytest.mark.parametrize("score", SCORES_OF_TWO_SETS)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features(score, bad):
    rng = np.random.default_rng(12)
    fake = rng.standard_normal((50, 4))
    fake[7, 2] = bad
    with pytest.raises(DataError, match="fake has non-finite values"):
        score(rng.standard_normal((50, 4)), fake)


def test_features_must_be_two_dimensional():
    with pytest.raises(DataError, match=r"2-D \[samples, features\]; got shape \(50,\)"):
        fid_from_features(np.zeros(50), np.zeros(50))


def test_non_probability_rows():
    with pytest.raises(DataError, match="negative entries"):
        classifier_score(np.array([[1.2, -0.2]] * 10))
    with pytest.raises(DataError, match="row 3 sums to 2"):
        classifier_score(np.array([[0.5, 0.5]] * 3 + [[1.0, 1.0]] + [[0.5, 0.5]] * 6))
    with pytest.raises(DataError, match="one per split"):
        classifier_score(np.full((5, 2), 0.5), splits=10)


def test_bad_arguments_are_config_errors():
    x = np.random.default_rng(13).standard_normal((20, 3))
    with pytest.raises(ConfigError, match="k must be an integer >= 1; got 0"):
        precision_recall(x, x, k=0)
    with pytest.raises(ConfigError, match="splits"):
        classifier_score(np.full((5, 2), 0.5), splits=0)
    with pytest.raises(ConfigError, match="subset_size must be an integer >= 2"):
        kernel_inception_distance(x, x, subset_size=1)


def test_mismatched_mean_and_covariance_shapes():
    mu, sigma = random_stats(np.random.default_rng(14), d=4)
    with pytest.raises(DataError, match=r"sigma2 has shape \(3, 3\); expected \(4, 4\)"):
        frechet_distance(mu, sigma, mu, sigma[:3, :3])
    with pytest.raises(DataError, match=r"mu2 has shape \(5,\); expected \(4,\)"):
        frechet_distance(mu, sigma, np.zeros(5), sigma)
    with pytest.raises(DataError, match="mu1 must be a non-empty 1-D"):
        frechet_distance(sigma, sigma, mu, sigma)
    with pytest.raises(DataError, match="sigma1 has non-finite values"):
        frechet_distance(mu, np.full((4, 4), np.nan), mu, sigma)


def test_a_covariance_with_a_significantly_negative_eigenvalue_raises():
    mu = np.zeros(3)
    good, bad = np.eye(3), np.diag([1.0, 1.0, -0.5])
    with pytest.raises(DataError, match=r"sigma2 has eigenvalue -0.5.*not positive semi-definite"):
        frechet_distance(mu, good, mu, bad)
    with pytest.raises(DataError, match=r"sigma1 has eigenvalue -0.5"):
        frechet_distance(mu, bad, mu, good)
    # sigma1's null space would hide this one from the eigenvalues of sigma1 @ sigma2
    with pytest.raises(DataError, match=r"sigma2 has eigenvalue -0.5"):
        frechet_distance(mu, np.diag([1.0, 1.0, 0.0]), mu, bad)
    with pytest.raises(DataError, match="sigma1 is not symmetric"):
        frechet_distance(mu, np.array([[1.0, 0.5, 0], [0, 1, 0], [0, 0, 1]]), mu, good)


def test_rounding_sized_negative_eigenvalues_are_clamped():
    q = random_rotation(np.random.default_rng(15), 3)
    sigma = q @ np.diag([4.0, 1.0, -1e-12]) @ q.T
    other = q @ np.diag([4.0, 1.0, 1.0]) @ q.T
    # sqrt(eigenvalues) 2, 1, 1 against 2, 1, 0 (the -1e-12 read as 0): (1 - 0)^2 = 1
    assert frechet_distance(np.zeros(3), other, np.zeros(3), sigma) == pytest.approx(1.0, rel=1e-6)
