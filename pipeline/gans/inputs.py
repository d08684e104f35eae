"""Input kinds: what a generator is fed, which data file its family trains on, and what its
model is scored on: noise (LATENT: gan, dcgan), noise and a class (CONDITIONAL: cgan),
noise with a classifying discriminator (CLASSIFIER: sgan, catgan), edge maps
(EDGE_PAIRS: pix2pix) or low-resolution images (LOWRES_PAIRS: srgan). A family names its
kind (pipeline.gans.families.Family.inputs); noise and a caption (CAPTIONED: stackgan) is
in pipeline.gans.captioned, built on these.

The stages train, draw and score every model through the task its kind makes
(`task_for`), so they never branch on the model's name. A task knows:
    train_images        the uint8 array the training loop iterates ([N, H, W, C]; for a
                        translation model the pairs, [N, S, S, 1 + C]; for an upscaling
                        one the stacked pairs, [N, S, S, 2C])
    train_labels        the labels training sees (pipeline.data.labels), or None
    max_samples         how many distinct samples `images` can give (None: unlimited)
    preview(g)          the picture of a generator: samples.png and the per-epoch grids
    picture(g, n, seed) the `sample` command's picture
    images(g, n, seed)  float images in [-1, 1] to score against the real test split (the
                        reference statistics), at the evaluator's image size
and, by kind, what only the data side knows for the family's own scores (computed by
pipeline.scoring.metrics: paired, conditional_accuracy, classifier_accuracy):
    requested_labels(n) the classes `images` asked for (ConditionalTask)
    classify(d)         a classifying discriminator's class of each real test image
                        (ClassifierTask, with `dataset` and `sees_labels`)
    real_images(n)      the real targets of `images` (TranslationTask, UpscaleTask)
    baseline_images(n)  the same inputs upscaled by a plain filter (UpscaleTask)
"""

from __future__ import annotations

import numpy as np

from pipeline.config import RunConfig
from pipeline.data.labels import TrainingLabels, training_labels
from pipeline.gans.families import get_family
from pipeline.images import grid


def sample_images(generator, inputs) -> np.ndarray:
    """Generator output in inference mode (batch norm uses its moving statistics)."""
    return np.asarray(generator(inputs, training=False), dtype=np.float32)


def translate_images(generator, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """A generator of images (pix2pix, srgan) on uint8 inputs [N, ...], in batches: float
    outputs in [-1, 1], in inference mode."""
    from pipeline.data.loader import to_unit_range

    batches = [
        sample_images(generator, to_unit_range(images[i : i + batch_size]))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(batches)


def generate(
    generator, count: int, seed: int, batch_size: int = 500, psi: float = 1.0
) -> np.ndarray:
    """`count` images [N, H, W, C] in [-1, 1] from seeded standard-normal latents,
    truncated by `psi` when it is not 1 (pipeline.gans.latent)."""
    latent_dim = generator.inputs[0].shape[-1]
    latents = _normal(np.random.default_rng(seed), count, latent_dim)
    if psi != 1.0:
        from pipeline.gans.latent import LatentSpace

        return LatentSpace(generator, batch_size).render_z(latents, psi)
    batches = [
        sample_images(generator, latents[i : i + batch_size]) for i in range(0, count, batch_size)
    ]
    return np.concatenate(batches)


def latent_preview(run: RunConfig):
    """The picture of a generator of noise: a grid from the run's fixed latents."""
    from pipeline.data.loader import fixed_latents

    cfg = run.train
    latents = fixed_latents(cfg.sample_grid**2, cfg.latent_dim, cfg.seed)
    return lambda generator: grid(sample_images(generator, latents), columns=cfg.sample_grid)


class LatentTask:
    """A generator of noise: G(z) -> image."""

    latent = True  # it has a latent space to walk (pipeline.gans.latent)
    max_samples = None  # latents are unlimited
    train_labels = None

    def __init__(self, run: RunConfig, train_images: np.ndarray | None = None):
        self.run = run
        self.train_images = train_images

    def preview(self, generator) -> np.ndarray:
        return latent_preview(self.run)(generator)

    def picture(self, generator, count: int, seed: int, columns: int | None = None, psi=1.0):
        return grid(generate(generator, count, seed, psi=psi), columns=columns)

    def images(self, generator, count: int, seed: int, batch_size: int = 500) -> np.ndarray:
        return generate(generator, count, seed, batch_size)


class ConditionalTask(LatentTask):
    """A class-conditional generator: G(z, y) -> an image of class y (cgan)."""

    def __init__(self, run: RunConfig, labels: TrainingLabels, train_images=None):
        super().__init__(run, train_images)
        self.train_labels = labels
        self.class_names = labels.class_names

    def _draw(self, generator, latents: np.ndarray, classes: np.ndarray, batch_size=500):
        batches = [
            sample_images(generator, [latents[i : i + batch_size], classes[i : i + batch_size]])
            for i in range(0, len(latents), batch_size)
        ]
        return np.concatenate(batches)

    def class_rows(self, generator, latents: np.ndarray) -> np.ndarray:
        """One row per class, one column per latent (the same latents in every row, so a
        column shows what the label alone changes): the picture of samples.png."""
        count, classes = len(latents), len(self.class_names)
        labels = np.repeat(np.arange(classes, dtype=np.int32), count)
        images = self._draw(generator, np.tile(latents, (classes, 1)), labels)
        return grid(images, columns=count)

    def preview(self, generator) -> np.ndarray:
        from pipeline.data.loader import fixed_latents

        cfg = self.run.train
        return self.class_rows(generator, fixed_latents(cfg.sample_grid, cfg.latent_dim, cfg.seed))

    def picture(self, generator, count, seed, columns=None, label: int | None = None, psi=1.0):
        """`count` samples of class `label`, or without one a row per class of
        ceil(count / K) samples each; latents scaled by the truncation `psi` (their
        mean is 0)."""
        latent_dim = self.run.train.latent_dim
        rng = np.random.default_rng(seed)
        if label is None:
            per_class = -(-count // len(self.class_names))
            return self.class_rows(generator, psi * _normal(rng, per_class, latent_dim))
        classes = np.full(count, label, dtype=np.int32)
        latents = psi * _normal(rng, count, latent_dim)
        return grid(self._draw(generator, latents, classes), columns)

    def requested_labels(self, count: int) -> np.ndarray:
        """The classes `images` asks for: 0, 1, ..., K-1, 0, 1, ... (balanced, like the
        test split of a balanced dataset)."""
        return (np.arange(count) % len(self.class_names)).astype(np.int32)

    def images(self, generator, count, seed, batch_size=500) -> np.ndarray:
        latents = _normal(np.random.default_rng(seed), count, self.run.train.latent_dim)
        return self._draw(generator, latents, self.requested_labels(count), batch_size)


class ClassifierTask(LatentTask):
    """An unconditional generator whose discriminator is the product: a K-way classifier
    (sgan, catgan), scored on the real test split."""

    def __init__(self, run: RunConfig, dataset, labels: TrainingLabels, train_images=None):
        super().__init__(run, train_images)
        self.dataset, self.train_labels = dataset, labels

    @property
    def sees_labels(self) -> bool:
        return len(self.train_labels.labelled) > 0

    def classify(self, discriminator, batch_size: int = 500) -> np.ndarray:
        """The discriminator's class of every real test image: int [N]."""
        gan_class = get_family(self.run.model).model
        return predict_classes(discriminator, gan_class, self.dataset.x_test, batch_size)


def predict_classes(discriminator, gan_class, images: np.ndarray, batch_size: int = 500):
    """argmax of a classifying discriminator's class logits over uint8 images: int [N]."""
    from pipeline.data.loader import to_unit_range

    predicted = []
    for i in range(0, len(images), batch_size):
        out = discriminator(to_unit_range(images[i : i + batch_size]), training=False)
        logits = gan_class.class_logits(out)
        predicted.append(np.argmax(np.asarray(logits), axis=1))
    return np.concatenate(predicted).astype(np.int64)


def _normal(rng: np.random.Generator, count: int, latent_dim: int) -> np.ndarray:
    return rng.standard_normal((count, latent_dim)).astype(np.float32)


class TranslationTask:
    """A translation model: G(edge map) -> image, trained and scored on the edge pairs."""

    latent = False  # its input is an edge map, not a latent
    train_labels = None

    def __init__(self, run: RunConfig, pairs):
        self.run, self.pairs = run, pairs
        self.train_images = pairs.train
        self.max_samples = len(pairs.test)  # one translation per test pair

    def _translate(self, generator, edges: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """uint8 edge maps [N, S, S, 1] -> float images [N, S, S, C] in [-1, 1].

        Inference mode: BatchNorm uses its moving statistics and the decoder's dropout is
        off (the paper keeps dropout on at test time for variety; a score wants one
        deterministic answer per input)."""
        return translate_images(generator, edges, batch_size)

    def triptychs(self, generator, indices: np.ndarray) -> np.ndarray:
        """edges | generated | real, side by side: float [n, S, 3S, C] in [-1, 1]."""
        from pipeline.data.loader import to_unit_range

        edges, real = self.pairs.split_channels(self.pairs.test[indices])
        generated = self._translate(generator, edges)
        channels = generated.shape[-1]
        edges = np.repeat(np.asarray(to_unit_range(edges)), channels, axis=-1)
        return np.concatenate([edges, generated, np.asarray(to_unit_range(real))], axis=2)

    def preview(self, generator) -> np.ndarray:
        """The first test pairs, one triptych each: half as many as a latent grid holds,
        in half as many columns (a triptych is three images wide)."""
        side = self.run.train.sample_grid
        count = min(max(1, side * side // 2), len(self.pairs.test))
        return grid(self.triptychs(generator, np.arange(count)), columns=max(1, side // 2))

    def picture(self, generator, count: int, seed: int, columns: int | None = None):
        """`count` test pairs drawn with `seed`, as triptychs."""
        count = min(count, len(self.pairs.test))
        chosen = np.random.default_rng(seed).choice(len(self.pairs.test), count, replace=False)
        return grid(self.triptychs(generator, np.sort(chosen)), columns=columns)

    def images(self, generator, count: int, seed: int, batch_size: int = 500) -> np.ndarray:
        """The first `count` test edge maps translated, with the padding cropped off so they
        match the real test images (and the evaluator's input). `seed` is unused: the
        inputs are the test pairs, in order."""
        from pipeline.data.edges import crop_padding

        edges, _ = self.pairs.split_channels(self.pairs.test[:count])
        return crop_padding(self._translate(generator, edges, batch_size), self.pairs.pad)

    def real_images(self, count: int) -> np.ndarray:
        """The targets of `images(g, count)`: the real test images, float in [-1, 1]."""
        from pipeline.data.edges import crop_padding
        from pipeline.data.loader import to_unit_range

        _, real = self.pairs.split_channels(self.pairs.test[:count])
        return crop_padding(np.asarray(to_unit_range(real)), self.pairs.pad)


class UpscaleTask:
    """A super-resolution model: G(low-resolution image) -> the image at lowres.factor
    times the side (srgan), trained and scored on the `lowres` pairs
    (pipeline.data.lowres: the training loop gets them stacked, [N, H, H, 2C])."""

    latent = False  # its input is a small image, not a latent
    train_labels = None

    def __init__(self, run: RunConfig, pairs):
        self.run, self.pairs = run, pairs
        self.train_images = pairs.train
        self.max_samples = len(pairs.test_low)  # one upscaled image per test image

    def upscale(self, generator, low: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """uint8 [N, h, h, C] -> float [N, H, H, C] in [-1, 1], in inference mode."""
        return translate_images(generator, low, batch_size)

    def strips(self, generator, indices: np.ndarray) -> np.ndarray:
        """low | bicubic | generated | real, side by side: float [n, H, 4H + 3, C]."""
        from pipeline.data.lowres import strips as side_by_side
        from pipeline.data.lowres import upscale
        from pipeline.images import to_uint8

        low, high = self.pairs.test_low[indices], self.pairs.test_high[indices]
        generated = to_uint8(self.upscale(generator, low)).reshape(high.shape)
        bicubic = upscale(low, self.pairs.factor, "bicubic")
        return side_by_side(low, [bicubic, generated], high, self.pairs.factor)

    def preview(self, generator) -> np.ndarray:
        """The first test images as strips, a quarter as many as a latent grid holds, in
        two columns (a strip is four images wide)."""
        side = self.run.train.sample_grid
        count = min(max(1, side * side // 4), len(self.pairs.test_low))
        return grid(self.strips(generator, np.arange(count)), columns=max(1, side // 4))

    def picture(self, generator, count: int, seed: int, columns: int | None = None):
        """`count` test images drawn with `seed`, as strips."""
        count = min(count, len(self.pairs.test_low))
        chosen = np.random.default_rng(seed).choice(len(self.pairs.test_low), count, replace=False)
        return grid(self.strips(generator, np.sort(chosen)), columns=columns)

    def images(self, generator, count: int, seed: int, batch_size: int = 500) -> np.ndarray:
        """The first `count` low-resolution test images upscaled (`seed` is unused)."""
        return self.upscale(generator, self.pairs.test_low[:count], batch_size)

    def real_images(self, count: int) -> np.ndarray:
        """The targets of `images(g, count)`: the original test images in [-1, 1]."""
        return self.pairs.test_high[:count].astype(np.float32) / 127.5 - 1.0

    def baseline_images(self, count: int, method: str = "bicubic") -> np.ndarray:
        """The first `count` low test images upscaled by `method` (a plain filter)."""
        from pipeline.data.lowres import upscale

        low = self.pairs.test_low[:count]
        return upscale(low, self.pairs.factor, method).astype(np.float32) / 127.5 - 1.0


class _Kind:
    """An input kind: the data file a family trains on and the task that feeds it."""

    name = "latent"

    def data_file(self, data) -> str:
        from pipeline.data.store import dataset_path

        return str(dataset_path(data))

    def task(self, run: RunConfig, with_training_data: bool = True):
        from pipeline.data.store import load_dataset

        return LatentTask(run, load_dataset(run.data).x_train if with_training_data else None)

    def preview(self, run: RunConfig, images: np.ndarray, labels: TrainingLabels | None):
        """The per-epoch picture when the caller gave none (tests, benches)."""
        return LatentTask(run).preview

    def configure(self, run: RunConfig, params) -> RunConfig:
        """`run` with the settings of params.yaml this kind's data was made with."""
        return run

    def __repr__(self) -> str:
        return f"<input kind {self.name}>"


class _Labelled(_Kind):
    """Noise plus the dataset's labels, as the family's label plan says."""

    def task(self, run: RunConfig, with_training_data: bool = True):
        from pipeline.data.store import load_dataset

        plan = get_family(run.model).label_plan(run)
        dataset = load_dataset(run.data)
        labels = training_labels(
            plan, dataset.y_train, dataset.class_names, run.train.seed, run.model
        )
        images = dataset.x_train if with_training_data else None
        return self._make(run, dataset, labels, images)

    def _make(self, run, dataset, labels, images):
        raise NotImplementedError


class _Conditional(_Labelled):
    name = "conditional"

    def _make(self, run, dataset, labels, images):
        return ConditionalTask(run, labels, images)

    def preview(self, run, images, labels):
        return ConditionalTask(run, labels).preview


class _Classifier(_Labelled):
    name = "classifier"

    def _make(self, run, dataset, labels, images):
        return ClassifierTask(run, dataset, labels, images)


class _EdgePairs(_Kind):
    """(Canny edge map | image) pairs of the `edges` stage, translated edge -> image."""

    name = "edge pairs"

    def data_file(self, data) -> str:
        from pipeline.data.edges import PAIRS_FILE

        return str(PAIRS_FILE)

    def task(self, run: RunConfig, with_training_data: bool = True):
        from pipeline.data.edges import PAIRS_FILE, load_pairs
        from pipeline.errors import DataError

        pairs = load_pairs(PAIRS_FILE, train=with_training_data)
        if pairs.dataset != run.data.dataset:
            raise DataError(
                f"{PAIRS_FILE} was made from {pairs.dataset!r} but data.dataset is "
                f"{run.data.dataset!r}; remake it: `dvc repro edges`"
            )
        return TranslationTask(run, pairs)

    def preview(self, run, images, labels):
        """Triptychs of the first training pairs."""
        from pipeline.config import parse_edges
        from pipeline.data.edges import Pairs

        pairs = Pairs(images, images[:64], 0, run.data.dataset, parse_edges({}))
        return TranslationTask(run, pairs).preview


class _LowresPairs(_Kind):
    """(low-resolution image, image) pairs of the `lowres` stage, upscaled low -> high."""

    name = "low-resolution pairs"

    def data_file(self, data) -> str:
        from pipeline.data.lowres import PAIRS_FILE

        return str(PAIRS_FILE)

    def configure(self, run: RunConfig, params) -> RunConfig:
        """`run` with lowres.* (the factor the networks upscale by)."""
        import dataclasses

        from pipeline.config import parse_lowres

        return dataclasses.replace(run, lowres=parse_lowres(params))

    def task(self, run: RunConfig, with_training_data: bool = True):
        from pipeline.data.lowres import PAIRS_FILE, check_pairs, load_pairs

        pairs = load_pairs(PAIRS_FILE, train=with_training_data)
        return UpscaleTask(run, check_pairs(pairs, run))

    def preview(self, run, images, labels):
        """Strips of the first training pairs (tests, benches)."""
        from pipeline.data.lowres import LowresPairs, high_of, low_of

        low, high = low_of(images[:64], run.lowres.factor), high_of(images[:64])
        pairs = LowresPairs(low[:0], high[:0], low, high, run.data.dataset, run.lowres)
        return UpscaleTask(run, pairs).preview


LATENT = _Kind()
CONDITIONAL = _Conditional()
CLASSIFIER = _Classifier()
EDGE_PAIRS = _EdgePairs()
LOWRES_PAIRS = _LowresPairs()


def task_for(run: RunConfig, *, with_training_data: bool = True):
    """The task of `run.model`, with the data it needs loaded (train split optional)."""
    return get_family(run.model).inputs.task(run, with_training_data)


def default_preview(run: RunConfig, images: np.ndarray, labels: TrainingLabels | None = None):
    """The picture `train` draws each epoch when the caller gave none: the latent grid (a
    row per class for a conditional model), or for a translation model triptychs of the
    first training pairs (tests, benches)."""
    return get_family(run.model).inputs.preview(run, images, labels)
