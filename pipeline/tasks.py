"""What a generator is fed: noise (gan, dcgan) or edge maps (pix2pix).

The stages train, draw and score every model through a task, so they never branch on the
model's name. A task knows:
    train_images        the uint8 array the training loop iterates ([N, H, W, C]; for a
                        translation model the pairs, [N, S, S, 1 + C])
    max_samples         how many distinct samples `images` can give (None: unlimited)
    preview(g)          the picture of a generator: samples.png and the per-epoch grids
    picture(g, n, seed) the `sample` command's picture
    images(g, n, seed)  float images in [-1, 1] to score against the real test split (the
                        reference statistics), at the evaluator's image size
    paired_scores(imgs) scores that need a target per image (l1, psnr, ssim), or none
"""

from __future__ import annotations

import numpy as np

from pipeline.config import RunConfig
from pipeline.gans import is_translation
from pipeline.images import grid


class LatentTask:
    """A generator of noise: G(z) -> image."""

    max_samples = None  # latents are unlimited

    def __init__(self, run: RunConfig, train_images: np.ndarray | None = None):
        self.run = run
        self.train_images = train_images

    def preview(self, generator) -> np.ndarray:
        from pipeline.training import latent_preview

        return latent_preview(self.run)(generator)

    def picture(self, generator, count: int, seed: int, columns: int | None = None):
        return grid(self.images(generator, count, seed), columns=columns)

    def images(self, generator, count: int, seed: int, batch_size: int = 500) -> np.ndarray:
        from pipeline.scoring import generate

        return generate(generator, count, seed, batch_size)

    def paired_scores(self, images: np.ndarray) -> dict[str, float]:
        return {}


class TranslationTask:
    """A translation model: G(edge map) -> image, trained and scored on the edge pairs."""

    def __init__(self, run: RunConfig, pairs):
        self.run, self.pairs = run, pairs
        self.train_images = pairs.train
        self.max_samples = len(pairs.test)  # one translation per test pair

    def _translate(self, generator, edges: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """uint8 edge maps [N, S, S, 1] -> float images [N, S, S, C] in [-1, 1].

        Inference mode: BatchNorm uses its moving statistics and the decoder's dropout is
        off (the paper keeps dropout on at test time for variety; a score wants one
        deterministic answer per input)."""
        from pipeline.data.loader import to_unit_range
        from pipeline.training import sample_images

        batches = [
            sample_images(generator, to_unit_range(edges[i : i + batch_size]))
            for i in range(0, len(edges), batch_size)
        ]
        return np.concatenate(batches)

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

    def paired_scores(self, images: np.ndarray) -> dict[str, float]:
        from pipeline.paired_metrics import paired_scores

        return paired_scores(images, self.real_images(len(images)))


def task_for(run: RunConfig, *, with_training_data: bool = True):
    """The task of `run.model`, with the data it needs loaded (train split optional)."""
    if is_translation(run.model):
        from pipeline.data.edges import PAIRS_FILE, load_pairs
        from pipeline.errors import DataError

        pairs = load_pairs(PAIRS_FILE, train=with_training_data)
        if pairs.dataset != run.data.dataset:
            raise DataError(
                f"{PAIRS_FILE} was made from {pairs.dataset!r} but data.dataset is "
                f"{run.data.dataset!r}; remake it: `dvc repro edges`"
            )
        return TranslationTask(run, pairs)
    images = None
    if with_training_data:
        from pipeline.data.store import load_dataset

        images = load_dataset(run.data).x_train
    return LatentTask(run, images)


def default_preview(run: RunConfig, images: np.ndarray):
    """The picture `train` draws each epoch when the caller gave none: the latent grid,
    or for a translation model triptychs of the first training pairs (tests, benches)."""
    if not is_translation(run.model):
        return LatentTask(run).preview
    from pipeline.config import parse_edges
    from pipeline.data.edges import Pairs

    pairs = Pairs(images, images[:64], 0, run.data.dataset, parse_edges({}))
    return TranslationTask(run, pairs).preview
