"""The optional InceptionV3 backend, with a randomly initialised weights file (no download)."""

import numpy as np
import pytest

from pipeline.errors import ConfigError, DataError
from pipeline.scoring.inception import InceptionEmbedder
from pipeline.scoring.metrics.fid_inception import fid_inception
from pipeline.scoring.reference import Reference

SIDE = 75  # the smallest input InceptionV3 takes; 299 in real use


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    import keras

    model = keras.applications.InceptionV3(
        include_top=False, weights=None, pooling="avg", input_shape=(SIDE, SIDE, 3)
    )
    path = tmp_path_factory.mktemp("inception") / "inception_notop.weights.h5"
    model.save_weights(path)
    return path


def test_features_of_grayscale_images_from_a_local_weights_file(weights_file):
    embedder = InceptionEmbedder(weights_file, batch_size=2, side=SIDE)
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    features = embedder(images)
    assert features.shape == (3, 2048) and np.isfinite(features).all()
    as_unit = embedder(images.astype(np.float32) / 127.5 - 1.0)
    np.testing.assert_allclose(features, as_unit, rtol=1e-4, atol=1e-5)


def test_missing_or_foreign_weights_name_the_param(tmp_path):
    import keras

    with pytest.raises(ConfigError, match=r"evaluate\.inception_weights: .* not found"):
        InceptionEmbedder(tmp_path / "nope.h5", side=SIDE)
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    other.save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(ConfigError, match="does not hold InceptionV3"):
        InceptionEmbedder(tmp_path / "other.weights.h5", side=SIDE)


def test_fid_inception_needs_a_reference_computed_with_inception():
    rng = np.random.default_rng(0)
    reference = Reference(rng.normal(size=(10, 4)), np.full((10, 2), 0.5), np.zeros(4), np.eye(4))
    with pytest.raises(DataError, match="dvc repro reference"):
        fid_inception(np.zeros((3, 28, 28, 1), np.float32), reference, cfg=None)
