"""Optional InceptionV3 features, for `fid_inception` when the user supplies the weights.

The project never downloads anything: set `evaluate.inception_weights` to a local copy of
Keras' ImageNet InceptionV3 weights without the top (the file Keras itself would fetch:
`inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`). Features are the 2048-d
average-pooled output of the last block, as in TF-FID, but the scores are NOT equal to the
published TF-FID numbers: that network is a 2015 TensorFlow graph with its own resizing,
and grayscale images are repeated over three channels here.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf

from pipeline.data.loader import to_unit_range
from pipeline.errors import ConfigError

INPUT_SIDE = 299  # what the ImageNet weights were trained at


class InceptionEmbedder:
    """[N, H, W, C] images (uint8, or float in [-1, 1]) -> float32 [N, 2048] features."""

    def __init__(self, weights: str | Path, batch_size: int = 50, side: int = INPUT_SIDE):
        import keras

        path = Path(weights)
        if not path.is_file():
            raise ConfigError(
                f"evaluate.inception_weights: {path} not found; point it at a local copy of "
                'InceptionV3 no-top weights, or set it to "" (the evaluator\'s scores only)'
            )
        try:
            with warnings.catch_warnings():  # a foreign file warns once per layer, then fails
                warnings.simplefilter("ignore", UserWarning)
                self.model = keras.applications.InceptionV3(
                    include_top=False, weights=str(path), pooling="avg", input_shape=(side, side, 3)
                )
        except Exception as error:  # a file of another network or a corrupt one
            raise ConfigError(
                f"evaluate.inception_weights: {path} does not hold InceptionV3 no-top weights "
                f"({type(error).__name__}); use inception_v3_..._notop.h5"
            ) from None
        self.side, self.batch_size = side, batch_size

    def _prepare(self, batch: np.ndarray) -> tf.Tensor:
        x = to_unit_range(batch) if batch.dtype == np.uint8 else tf.cast(batch, tf.float32)
        if x.shape[-1] == 1:
            x = tf.repeat(x, 3, axis=-1)  # grayscale -> RGB
        return tf.image.resize(x, (self.side, self.side), method="bilinear")  # InceptionV3: [-1, 1]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        features = [
            self.model(self._prepare(images[i : i + self.batch_size]), training=False).numpy()
            for i in range(0, len(images), self.batch_size)
        ]
        return np.concatenate(features)
