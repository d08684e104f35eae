"""The captioned input kind (stackgan): a generator of noise and a sentence, G(noise, tokens).

Training sees every image with its class (like cgan's); the family turns each class into
one of its hand-written phrasings (pipeline.data.captions). The task draws, scores and
pictures such a generator with no name of a model in sight:
    images(g, n, seed)     balanced classes 0, 1, ..., K-1, 0, ..., each example with a
                           phrasing of its class (the classes' phrasings in turn), so
                           `conditional_accuracy` scores the class of the caption
    stage1_images(...)     the same examples drawn by Stage I alone (the saved generator's
                           layers `text_encoder` and `stage1`), upsampled to the full side
    preview(g)             samples.png: a row pair per class, Stage I above Stage II, the
                           same noise and phrasing in a column
    picture(..., text=)    the `sample` command's picture of a sentence (or a class, or a
                           row per class)
"""

from __future__ import annotations

import numpy as np

from pipeline.config import RunConfig
from pipeline.data.captions import Captions, load_captions, pad
from pipeline.data.labels import TrainingLabels
from pipeline.gans.inputs import ConditionalTask, _Labelled, _normal, sample_images
from pipeline.images import grid

TEXT_ENCODER, STAGE1 = "text_encoder", "stage1"  # layer names (pipeline.gans.families.stackgan)


def has_stage2(generator) -> bool:
    """Whether the generator is past its first stage (a Stage-I-only one upsamples)."""
    return "stage2" in {layer.name for layer in generator.layers}


class CaptionedTask(ConditionalTask):
    """A text-conditioned generator: G([noise, tokens]) -> an image of the caption."""

    # Its noise is part z, part the conditioning augmentation's eps: walking it is not a
    # latent walk (no ppl, no explore); `sample --truncation` still scales it.
    latent = False

    def __init__(self, run: RunConfig, labels: TrainingLabels, captions: Captions, images=None):
        super().__init__(run, labels, images)
        self.captions = captions

    # --- what is drawn -----------------------------------------------------------------

    def caption_numbers(self, classes: np.ndarray) -> np.ndarray:
        """Example i of class k gets phrasing (i // K) mod n_k of its class: [N]."""
        count = self.captions.counts[classes]
        turn = np.arange(len(classes)) // len(self.class_names)
        return self.captions.first[classes] + turn % count

    def tokens_of(self, numbers: np.ndarray) -> np.ndarray:
        return self.captions.tokens[numbers]  # int32 [N, L]

    def encode_text(self, text: str) -> np.ndarray:
        """A sentence's token ids [1, L]; unknown words are a one-line ConfigError."""
        return pad([self.captions.encode(text)])

    def _draw(self, generator, noise, tokens, batch_size=500):
        batches = [
            sample_images(generator, [noise[i : i + batch_size], tokens[i : i + batch_size]])
            for i in range(0, len(noise), batch_size)
        ]
        return np.concatenate(batches)

    def _draw_stage1(self, generator, noise, tokens, batch_size=500):
        """Stage I's images of the same inputs, upsampled (nearest) to the full side."""
        encoder, stage1 = generator.get_layer(TEXT_ENCODER), generator.get_layer(STAGE1)
        batches = []
        for i in range(0, len(noise), batch_size):
            phi = sample_images(encoder, tokens[i : i + batch_size])  # [b, text_dim]
            batches.append(sample_images(stage1, [noise[i : i + batch_size], phi]))
        rough = np.concatenate(batches)  # [N, h, w, C]
        factor = generator.output.shape[1] // rough.shape[1]
        return rough.repeat(factor, axis=1).repeat(factor, axis=2)

    def _examples(self, count: int, seed: int):
        noise = _normal(np.random.default_rng(seed), count, self.run.train.latent_dim)
        numbers = self.caption_numbers(self.requested_labels(count))
        return noise, self.tokens_of(numbers)

    def images(self, generator, count, seed, batch_size=500) -> np.ndarray:
        noise, tokens = self._examples(count, seed)
        return self._draw(generator, noise, tokens, batch_size)

    def stage1_images(self, generator, count, seed, batch_size=500) -> np.ndarray:
        """What `images` draws, by Stage I alone (upsampled): the stage1 metric's images."""
        noise, tokens = self._examples(count, seed)
        return self._draw_stage1(generator, noise, tokens, batch_size)

    # --- pictures ----------------------------------------------------------------------

    def class_rows(self, generator, noise: np.ndarray, both_stages: bool = False):
        """A row per class (two with `both_stages`: Stage I above Stage II); column j
        draws noise j with phrasing j mod n_k of the row's class."""
        columns, classes = len(noise), len(self.class_names)
        labels = np.repeat(np.arange(classes), columns)
        numbers = (
            self.captions.first[labels]
            + np.tile(np.arange(columns), classes) % (self.captions.counts[labels])
        )
        all_noise, tokens = np.tile(noise, (classes, 1)), self.tokens_of(numbers)
        final = self._draw(generator, all_noise, tokens)  # [K * columns, H, W, C]
        if not both_stages:
            return grid(final, columns=columns)
        rough = self._draw_stage1(generator, all_noise, tokens)
        shape = (classes, columns, *final.shape[1:])
        rows = np.stack([rough.reshape(shape), final.reshape(shape)], axis=1)  # [K, 2, cols, ...]
        return grid(rows.reshape(-1, *final.shape[1:]), columns=columns)

    def preview(self, generator) -> np.ndarray:
        """samples.png: per class, Stage I above Stage II (one row before Stage II exists)."""
        from pipeline.data.loader import fixed_latents

        cfg = self.run.train
        noise = fixed_latents(cfg.sample_grid, cfg.latent_dim, cfg.seed)
        return self.class_rows(generator, noise, both_stages=has_stage2(generator))

    def picture(
        self, generator, count, seed, columns=None, label: int | None = None, psi=1.0, text=None
    ):
        """`count` samples of the sentence `text`, or of class `label` (its phrasings in
        turn), or a row per class of ceil(count / K); the noise scaled by `psi`."""
        rng = np.random.default_rng(seed)
        latent_dim = self.run.train.latent_dim
        if text is None and label is None:
            per_class = -(-count // len(self.class_names))
            return self.class_rows(generator, psi * _normal(rng, per_class, latent_dim))
        noise = psi * _normal(rng, count, latent_dim)
        if text is not None:
            tokens = np.repeat(self.encode_text(text), count, axis=0)
        else:
            turns = np.arange(count) % self.captions.counts[label]
            tokens = self.tokens_of(self.captions.first[label] + turns)
        return grid(self._draw(generator, noise, tokens), columns)


class _Captioned(_Labelled):
    """Noise and a caption of each training image's class (stackgan)."""

    name = "captioned"

    def _make(self, run, dataset, labels, images):
        captions = load_captions(run.data.dataset, labels.class_names)
        captions.check_classes(labels.class_names)  # a written block must match the data
        return CaptionedTask(run, labels, captions, images)

    def preview(self, run, images, labels):
        captions = load_captions(run.data.dataset, labels.class_names)
        return CaptionedTask(run, labels, captions).preview


CAPTIONED = _Captioned()
