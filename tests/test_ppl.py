"""Perceptual path length: the analytic cases, the paper's filtering, and the metric on real
generators (a key per latent space, none without a latent, no other score changed)."""

import copy
import math

import numpy as np
import pytest

from pipeline.config import parse_evaluate
from pipeline.gans.families import get_family, resolve_run
from pipeline.gans.inputs import LatentTask, TranslationTask
from pipeline.gans.latent import LatentSpace, lerp, slerp
from pipeline.scoring.evaluator import Embedding
from pipeline.scoring.metrics import Context, compute_metrics
from pipeline.scoring.metrics.ppl import filtered_mean, path_distances


def _identity(x):
    return np.asarray(x, np.float64)


def test_a_linear_generator_on_a_linear_path_has_the_squared_length_of_its_image():
    """G(w) = A w walked linearly from w0 to w1: every step of eps moves the image by
    eps A (w1 - w0), so each distance / eps^2 is |A (w1 - w0)|^2 whatever t."""
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((5, 3))
    start, end = rng.standard_normal((50, 3)), rng.standard_normal((50, 3))
    t = rng.uniform(0, 1, 50)
    distances = path_distances(
        lambda w: np.asarray(w, np.float64) @ matrix.T, _identity, lerp, start, end, t, 1e-3
    )
    expected = np.sum(((end - start) @ matrix.T) ** 2, axis=1)
    np.testing.assert_allclose(distances, expected, rtol=1e-3)


def test_a_quarter_circle_of_radius_r_has_path_length_squared_r_pi_over_two():
    """slerp between orthogonal latents of norm r runs along a quarter circle at constant
    speed r pi / 2: the identity generator's ppl is (r pi / 2)^2."""
    r = 3.0
    start = np.tile([r, 0.0, 0.0], (20, 1))
    end = np.tile([0.0, r, 0.0], (20, 1))
    t = np.linspace(0.0, 0.99, 20)
    distances = path_distances(_identity, _identity, slerp, start, end, t, 1e-3)
    np.testing.assert_allclose(distances, (r * math.pi / 2) ** 2, rtol=1e-3)


def test_slerp_keeps_the_norm_of_equal_norm_endpoints_and_ends_on_them():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 16))
    b = rng.standard_normal((4, 16))
    b *= np.linalg.norm(a, axis=1, keepdims=True) / np.linalg.norm(b, axis=1, keepdims=True)
    for t in (0.0, 0.3, 1.0):
        np.testing.assert_allclose(
            np.linalg.norm(slerp(a, b, t), axis=1), np.linalg.norm(a, axis=1), rtol=1e-5
        )
    np.testing.assert_allclose(slerp(a, b, 0.0), a, rtol=1e-5)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, rtol=1e-5, atol=1e-6)


def test_the_outer_percentiles_are_dropped_before_the_mean():
    distances = np.concatenate([np.ones(98), [1e6, -1e6]])  # two paths cross a cliff
    assert filtered_mean(distances) == 1.0
    assert filtered_mean(np.arange(101.0)) == pytest.approx(50.0)  # symmetric: same mean


class _Embedder:
    """The evaluator's stand-in: features are the images' 16 block means."""

    def __call__(self, images):
        blocks = images[:, :28, :28].reshape(len(images), 4, 7, 4, 7).mean(axis=(2, 4))
        features = blocks.reshape(len(images), 16)
        return Embedding(features, np.full((len(images), 10), 0.1), True)


@pytest.fixture
def cfg(tiny_params):
    tiny_params["evaluate"].update(ppl_samples=100)
    return parse_evaluate(tiny_params)


def _context(cfg, model, tiny_params, task=None):
    params = copy.deepcopy(tiny_params)
    params["models"]["stylegan"].update(filters=8, min_filters=4, w_dim=8, mapping_layers=2)
    run = resolve_run(params, model)
    generator = get_family(model).build_generator(run, (28, 28, 1), 10)
    task = task or LatentTask(run)
    return Context(None, None, None, cfg, task, None, generator, _Embedder())


def test_every_latent_generator_gets_ppl_and_stylegan_also_ppl_w(cfg, tiny_params):
    context = _context(cfg, "dcgan", tiny_params)
    dcgan = compute_metrics(["ppl"], context)
    assert list(dcgan) == ["ppl"] and dcgan["ppl"] > 0
    stylegan = compute_metrics(["ppl"], _context(cfg, "stylegan", tiny_params))
    assert sorted(stylegan) == ["ppl", "ppl_w"]
    assert stylegan["ppl"] > 0 and stylegan["ppl_w"] > 0
    assert compute_metrics(["ppl"], context) == dcgan  # the same generator: the same number


def test_a_model_without_a_latent_gets_no_ppl(cfg, tiny_params):
    translation = TranslationTask.__new__(TranslationTask)
    assert compute_metrics(["ppl"], _context(cfg, "dcgan", tiny_params, translation)) == {}
    real = Context(np.zeros((2, 28, 28, 1), np.uint8), None, None, cfg)
    assert compute_metrics(["ppl"], real) == {}


def test_a_conditional_generator_walks_each_path_at_one_class(cfg, tiny_params, monkeypatch):
    from pipeline.gans.inputs import ConditionalTask

    task = ConditionalTask.__new__(ConditionalTask)
    task.class_names = [str(i) for i in range(10)]
    seen = []
    original = LatentSpace.render

    def spy(self, w, psi=1.0, labels=None):
        seen.append(np.asarray(labels))
        return original(self, w, psi, labels)

    monkeypatch.setattr(LatentSpace, "render", spy)
    scores = compute_metrics(["ppl"], _context(cfg, "cgan", tiny_params, task))
    assert scores["ppl"] > 0
    # both ends of every step drawn at the same, balanced classes
    np.testing.assert_array_equal(seen[0], np.arange(100) % 10)
    np.testing.assert_array_equal(seen[1], seen[0])
