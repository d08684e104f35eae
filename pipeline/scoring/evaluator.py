"""The evaluator network: the project's stand-in for Inception (DESIGN.md, Scoring).

Inception weights cannot be downloaded here, so every score is computed with a small CNN
classifier trained on the real training split. Its penultimate layer (`features`, 128
units after ReLU) gives FID, KID and precision/recall; its softmax gives the classifier
score (the Inception Score formula). It reads images in the generators' range, [-1, 1].

A score is only comparable with another score of the same evaluator: a retrained
evaluator invalidates the reference statistics and every GAN's metrics (dvc.yaml says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from pipeline.data.loader import to_unit_range, without_autotune
from pipeline.errors import DataError

FEATURES_LAYER = "features"
PROBABILITIES_LAYER = "probabilities"
# Without class labels the evaluator learns to tell how far an image was rotated (0, 90,
# 180 or 270 degrees; Gidaris et al. 2018): features that know what upright objects look
# like, but probabilities that are not classes, so no classifier score.
ROTATION_EVALUATOR = "rotation_evaluator"


@dataclass(frozen=True)
class Embedding:
    """What the evaluator sees in a set of images."""

    features: np.ndarray  # float32 [N, 128]
    probabilities: np.ndarray  # float32 [N, K]
    classes: bool = True  # False: probabilities are over rotations (an unlabelled dataset)


def build_evaluator(
    image_shape: tuple[int, int, int], num_classes: int, name: str = "evaluator"
) -> keras.Model:
    """Three conv-BN blocks and a 128-unit BN-ReLU feature layer (about 92% on Fashion-MNIST).

    Small on purpose: it is trained inside `dvc repro` on a CPU, and a score only needs
    features that separate the classes, not the best classifier.
    """
    image = keras.Input(image_shape, name="image")  # [B, H, W, C] in [-1, 1]
    x = image
    for block, filters in enumerate((32, 64, 128), start=1):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"e_conv{block}")(
            x
        )  # [B, h, w, filters]
        x = keras.layers.BatchNormalization(name=f"e_bn{block}")(x)
        x = keras.layers.Activation("relu")(x)
        if block < 3:
            x = keras.layers.MaxPooling2D(name=f"e_pool{block}")(x)  # [B, h/2, w/2, filters]
    x = keras.layers.Flatten()(x)  # [B, H/4 * W/4 * 128]
    x = keras.layers.Dense(128, use_bias=False, name="e_dense")(x)  # [B, 128]
    x = keras.layers.BatchNormalization(name="e_bn_dense")(x)
    # BatchNorm before the ReLU keeps the features at unit scale with about half of them
    # active, like Inception's pool features: KID's cubic kernel (x.y/d + 1)^3 assumes
    # x.y/d of order 1 (without it, most units were 0 and the rest large, and KID's
    # spread over subsets swamped its mean).
    features = keras.layers.Activation("relu", name=FEATURES_LAYER)(x)  # [B, 128]
    x = keras.layers.Dropout(0.3, name="e_dropout")(features)
    probabilities = keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name=PROBABILITIES_LAYER
    )(x)  # [B, K]
    return keras.Model(image, probabilities, name=name)


def _images(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle_seed: int | None):
    """(images in [-1, 1], labels) batches; shuffled with a seed when one is given."""
    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        data = data.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)

    def scale(images, labels):
        return to_unit_range(images), labels

    batches = data.batch(batch_size).map(scale, num_parallel_calls=tf.data.AUTOTUNE)
    return without_autotune(batches.prefetch(2))


def rotated(images: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each square image turned by a seeded random multiple of 90 degrees, and that multiple."""
    turns = np.random.default_rng(seed).integers(0, 4, len(images))
    out = np.empty_like(images)
    for k in range(4):
        out[turns == k] = np.rot90(images[turns == k], k, axes=(1, 2))
    return out, turns.astype(np.int64)


def train_evaluator(cfg, dataset, progress: bool = True) -> tuple[keras.Model, dict[str, float]]:
    """Fit the classifier on the training split; report its accuracy on the test split.

    An unlabelled dataset (a folder without class sub-folders) gets the rotation task
    instead, and its report says `rotation_accuracy`.
    """
    x_train, y_train, x_test, y_test = (
        dataset.x_train,
        dataset.y_train,
        dataset.x_test,
        dataset.y_test,
    )
    num_classes, name, key = dataset.num_classes, "evaluator", "accuracy"
    if num_classes < 2:
        height, width, _ = dataset.image_shape
        if height != width:
            raise DataError(
                f"{dataset.name} has no class labels and {height}x{width} images; the "
                "rotation evaluator needs square ones (set data.image_size)"
            )
        (x_train, y_train), (x_test, y_test) = rotated(x_train, cfg.seed), rotated(x_test, 1)
        num_classes, name, key = 4, ROTATION_EVALUATOR, "rotation_accuracy"
    keras.utils.set_random_seed(cfg.seed)
    model = build_evaluator(dataset.image_shape, num_classes, name=name)
    steps = cfg.epochs * -(-len(x_train) // cfg.batch_size)
    model.compile(
        # Cosine decay to 0: most of the accuracy a short CPU budget can buy.
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(cfg.lr, steps)),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(
        _images(x_train, y_train, cfg.batch_size, shuffle_seed=cfg.seed),
        epochs=cfg.epochs,
        shuffle=False,  # the dataset shuffles itself, seeded
        verbose=1 if progress else 2,
    )
    loss, accuracy = model.evaluate(_images(x_test, y_test, 500, shuffle_seed=None), verbose=0)
    return model, {key: float(accuracy), "loss": float(loss)}


class Embedder:
    """Features and class probabilities of images, in batches."""

    def __init__(self, evaluator: keras.Model, batch_size: int = 500):
        outputs = [evaluator.get_layer(FEATURES_LAYER).output, evaluator.output]
        self.model = keras.Model(evaluator.input, outputs, name="embedder")
        self.batch_size = batch_size
        self.image_shape = tuple(evaluator.input_shape[1:])
        self.classes = evaluator.name != ROTATION_EVALUATOR
        self._forward = tf.function(
            lambda x: self.model(x, training=False),
            input_signature=[tf.TensorSpec([None, *self.image_shape], tf.float32)],
        )

    def __call__(self, images: np.ndarray) -> Embedding:
        """`images`: uint8 [N, H, W, C] (real data) or float [N, H, W, C] in [-1, 1]."""
        if tuple(images.shape[1:]) != self.image_shape:
            raise DataError(
                f"the evaluator reads images of shape {self.image_shape}, got "
                f"{tuple(images.shape[1:])}; retrain it on this dataset (`dvc repro evaluator`)"
            )
        features, probabilities = [], []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            batch = to_unit_range(batch) if batch.dtype == np.uint8 else tf.cast(batch, tf.float32)
            f, p = self._forward(batch)
            features.append(f.numpy())
            probabilities.append(p.numpy())
        return Embedding(np.concatenate(features), np.concatenate(probabilities), self.classes)


def load_embedder(batch_size: int = 500):
    """The trained evaluator as an Embedder (features and class probabilities)."""
    from pipeline.saved import EVALUATOR, EVALUATOR_DIR, load_keras

    return Embedder(load_keras(EVALUATOR_DIR / "model.keras", EVALUATOR), batch_size)
