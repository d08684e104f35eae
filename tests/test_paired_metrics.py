"""Paired metrics (l1, psnr, ssim) against values computed by hand."""

import numpy as np
import pytest

from pipeline.errors import DataError
from pipeline.scoring.metrics.paired import (
    PSNR_CAP_DB,
    l1_distance,
    paired_scores,
    psnr,
    ssim,
)


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(-0.8, 0.8, (6, 28, 28, 1))


def test_a_constant_offset_gives_the_analytic_l1_and_psnr(images):
    shifted = images + 0.1
    assert l1_distance(shifted, images) == pytest.approx(0.1)
    # MSE = 0.01 on a data range of 2: 10 log10(4 / 0.01) = 26.02 dB
    assert psnr(shifted, images) == pytest.approx(10 * np.log10(4 / 0.01))


def test_psnr_is_per_image_then_averaged(images):
    shifted = images.copy()
    shifted[:3] += 0.1
    shifted[3:] += 0.2
    expected = (10 * np.log10(4 / 0.01) + 10 * np.log10(4 / 0.04)) / 2
    assert psnr(shifted, images) == pytest.approx(expected)


def test_identical_images_have_the_best_scores(images):
    scores = paired_scores(images, images)
    assert scores["l1"] == 0.0
    assert scores["psnr"] == pytest.approx(PSNR_CAP_DB)
    assert scores["ssim"] == pytest.approx(1.0)


def test_ssim_falls_with_noise_and_ignores_nothing_structural(images):
    rng = np.random.default_rng(1)
    slightly = ssim(images + rng.normal(0, 0.05, images.shape), images)
    heavily = ssim(images + rng.normal(0, 0.5, images.shape), images)
    assert 1.0 > slightly > heavily
    # a flat grey guess of a textured image keeps no structure
    assert ssim(np.zeros_like(images), images) < 0.1


def test_bad_input_is_a_clear_error(images):
    with pytest.raises(DataError, match="one shape"):
        l1_distance(images, images[:3])
    with pytest.raises(DataError, match="non-finite"):
        psnr(images * np.nan, images)
    with pytest.raises(DataError, match="at least 11x11"):
        ssim(images[:, :8, :8], images[:, :8, :8])
