"""pix2pix's paired random jitter: one geometry for edges and image, reproducible."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pipeline.data.augment import PairedJitter, jitter_pair
from pipeline.errors import ConfigError


def random_pairs(shape, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("mirror", [True, False])
def test_image_and_target_get_the_same_geometry(mirror):
    image = random_pairs((32, 32, 1))
    for seed in range(40):
        out_image, out_target = jitter_pair(
            image, image.copy(), image_size=32, scale=1.125, mirror=mirror, seed=seed
        )
        assert out_image.shape == (32, 32, 1)
        np.testing.assert_array_equal(out_image, out_target)


@pytest.mark.parametrize("mirror", [True, False])
def test_paired_jitter_moves_edges_and_image_together(mirror):
    grey = random_pairs((6, 32, 32, 1))
    pairs = np.concatenate([grey, grey, grey, grey], axis=-1)  # [6, 32, 32, 1 + 3], all equal
    jitter = PairedJitter(32, 1.125, mirror)
    for step in range(10):
        out = jitter(pairs, seed=7, step=step)
        for channel in range(1, 4):
            np.testing.assert_array_equal(out[..., 0], out[..., channel])


def test_shape_and_dtype_are_kept_for_any_leading_axes():
    pairs = random_pairs((3, 2, 32, 32, 2))  # [B, k, S, S, 2]
    out = PairedJitter(32, 1.125, True)(pairs, seed=0, step=0)
    assert out.shape == pairs.shape and out.dtype == np.uint8


def test_same_seed_and_step_repeat_different_steps_differ():
    pairs = random_pairs((16, 32, 32, 2))
    jitter = PairedJitter(32, 1.125, True)
    first = jitter(pairs, seed=3, step=5)
    np.testing.assert_array_equal(first, PairedJitter(32, 1.125, True)(pairs, seed=3, step=5))
    other_step = jitter(pairs, seed=3, step=6)
    changed = [not np.array_equal(a, b) for a, b in zip(first, other_step, strict=True)]
    assert sum(changed) >= 12  # a few pairs may draw the same crop and flip by chance
    assert not np.array_equal(first, jitter(pairs, seed=4, step=5))


def test_no_scale_and_no_mirror_is_the_identity():
    pairs = random_pairs((4, 32, 32, 2))
    np.testing.assert_array_equal(PairedJitter(32, 1.0, False)(pairs, seed=1, step=2), pairs)


def test_mirror_flips_some_pairs_and_not_others():
    pairs = random_pairs((1, 32, 32, 2))
    jitter = PairedJitter(32, 1.0, True)
    flipped = []
    for step in range(20):
        out = jitter(pairs, seed=0, step=step)
        if np.array_equal(out, pairs):
            flipped.append(False)
        else:
            np.testing.assert_array_equal(out, np.flip(pairs, axis=-2))  # left-right
            flipped.append(True)
    assert any(flipped) and not all(flipped)


def test_edge_maps_stay_binary():
    pairs = random_pairs((8, 32, 32, 2))
    pairs[..., 0] = np.where(pairs[..., 0] > 200, 255, 0)
    out = PairedJitter(32, 1.125, True)(pairs, seed=0, step=0)
    assert set(np.unique(out[..., 0])) <= {0, 255}


def test_threads_get_the_same_results_as_one_thread():
    pairs = random_pairs((8, 32, 32, 2))
    jitter = PairedJitter(32, 1.125, True)
    expected = [jitter(pairs, seed=1, step=step) for step in range(24)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda step: jitter(pairs, seed=1, step=step), range(24)))
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="scale must be >= 1"):
        PairedJitter(32, 0.9, True)
    with pytest.raises(ValueError, match="expects uint8"):
        PairedJitter(32, 1.125, True)(random_pairs((2, 28, 28, 2)), seed=0, step=0)
