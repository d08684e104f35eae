"""A latent generator's spaces, for the tools that walk them (`explore`, the perceptual path
length, `sample --truncation`): z, and for StyleGAN also w.

    space = LatentSpace(generator)            # a generator of noise, any family
    w = space.to_w(z)                          # [N, w_dim]; z itself without a mapping
    images = space.render(w, psi=0.7)          # w_avg + psi (w - w_avg) -> images
    images = space.render(styles)              # StyleGAN: one w per style layer [N, L, w_dim]

A generator with a mapping network (StyleGAN) is found by its named parts
(pipeline.gans.blocks.style: mapping, w_avg, synthesis). Any other latent generator has no
w: its "w" is z and its mean is 0 (the latents' mean), so truncation is z scaled by psi,
the truncation trick as BigGAN applies it to a Gaussian latent. A conditional generator
(cgan) is rendered at the class(es) given as `labels`.
"""

from __future__ import annotations

import numpy as np

from pipeline.errors import ConfigError

# The parts of a StyleGAN generator, by layer name (pipeline.gans.families.stylegan):
# z -> MAPPING -> W_AVERAGE (the running mean of w) -> one w per style layer -> SYNTHESIS.
MAPPING, W_AVERAGE, SYNTHESIS = "mapping", "w_avg", "synthesis"


class LatentSpace:
    """z -> w -> image for one generator (inference mode)."""

    def __init__(self, generator, batch_size: int = 500):
        self.generator, self.batch_size = generator, batch_size
        names = {layer.name for layer in generator.layers}
        self.styled = {MAPPING, SYNTHESIS, W_AVERAGE} <= names  # has a mapping network
        self.conditional = len(generator.inputs) == 2  # G(z, y)
        self.latent_dim = int(generator.inputs[0].shape[-1])
        if self.styled:
            self.mapping = generator.get_layer(MAPPING)
            self.synthesis = generator.get_layer(SYNTHESIS)
            self.style_layers = int(self.synthesis.inputs[0].shape[1])
            self.w_avg = np.asarray(generator.get_layer(W_AVERAGE).mean, dtype=np.float32)
        else:
            self.style_layers = 0
            self.w_avg = np.zeros(self.latent_dim, np.float32)
        self.w_dim = len(self.w_avg)

    def latents(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Standard-normal z [count, latent_dim]."""
        return rng.standard_normal((count, self.latent_dim)).astype(np.float32)

    def to_w(self, z: np.ndarray) -> np.ndarray:
        """The mapping network's w of each z [N, w_dim] (z itself without a mapping)."""
        if not self.styled:
            return np.asarray(z, np.float32)
        return self._batched(lambda part, rows: self.mapping(part, training=False), z)

    def truncate(self, w: np.ndarray, psi: float) -> np.ndarray:
        """w_avg + psi (w - w_avg), for w [N, w_dim] or styles [N, L, w_dim]."""
        return self.w_avg + np.float32(psi) * (np.asarray(w, np.float32) - self.w_avg)

    def render(self, w: np.ndarray, psi: float = 1.0, labels=None) -> np.ndarray:
        """Images [N, H, W, C] in [-1, 1] of w [N, w_dim] (the same w at every style layer)
        or, for StyleGAN, styles [N, L, w_dim] (style mixing); truncated by `psi`. `labels`
        (an int or [N]) is the class a conditional generator draws."""
        w = self.truncate(w, psi) if psi != 1.0 else np.asarray(w, np.float32)
        if self.styled:
            if w.ndim == 2:
                w = np.repeat(w[:, None], self.style_layers, axis=1)
            return self._batched(lambda part, rows: self.synthesis(part, training=False), w)
        if self.conditional:
            if labels is None:
                raise ConfigError("this generator is conditional: give the class to draw")
            classes = np.broadcast_to(np.asarray(labels, np.int32), (len(w),))
            return self._batched(
                lambda part, rows: self.generator([part, classes[rows]], training=False), w
            )
        return self._batched(lambda part, rows: self.generator(part, training=False), w)

    def render_z(self, z: np.ndarray, psi: float = 1.0, labels=None) -> np.ndarray:
        """Images of latents z: render(to_w(z))."""
        return self.render(self.to_w(z), psi, labels)

    def _batched(self, function, values: np.ndarray) -> np.ndarray:
        """function(part, rows) over batches of `values`, concatenated (float32)."""
        outputs = []
        for start in range(0, len(values), self.batch_size):
            rows = slice(start, start + self.batch_size)
            outputs.append(np.asarray(function(values[rows], rows), dtype=np.float32))
        return np.concatenate(outputs)


def slerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """Spherical interpolation [N, D] between rows of a and b at t (scalar or [N]): along
    the great circle for directions, the norm interpolated linearly (Gaussian latents of
    a high dimension have nearly equal norms; White 2016). Falls back to lerp when a and b
    are (anti)parallel."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64).reshape(-1, 1) if np.ndim(t) else np.float64(t)
    norm_a = np.linalg.norm(a, axis=-1, keepdims=True)
    norm_b = np.linalg.norm(b, axis=-1, keepdims=True)
    unit_a, unit_b = a / norm_a, b / norm_b
    cos = np.clip(np.sum(unit_a * unit_b, axis=-1, keepdims=True), -1.0, 1.0)
    angle = np.arccos(cos)
    sin = np.sin(angle)
    safe = sin > 1e-6
    sin = np.where(safe, sin, 1.0)
    along = np.where(
        safe,
        (np.sin((1 - t) * angle) * unit_a + np.sin(t * angle) * unit_b) / sin,
        (1 - t) * unit_a + t * unit_b,
    )
    return (along * ((1 - t) * norm_a + t * norm_b)).astype(np.float32)


def lerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """Linear interpolation [N, D] between rows of a and b at t (scalar or [N])."""
    t = np.asarray(t, np.float32).reshape(-1, 1) if np.ndim(t) else np.float32(t)
    return (np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t).astype(np.float32)
