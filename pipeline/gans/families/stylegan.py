"""StyleGAN: a style-based generator (Karras et al. 2019; seed 004).

The generator is two networks and a running mean, each a named part of generator.keras:

    z [B, latent] -> mapping -> w [B, w_dim] -> w_avg -> one w per style layer
        [B, L, w_dim] -> synthesis -> image [B, H, W, C]

mapping: z normalised to unit mean square, then `models.stylegan.mapping_layers` (8)
equalized dense layers with the paper's learning-rate multiplier (`mapping_lr`, 0.01:
Adam moves them at a hundredth of train.lr).

synthesis: a learned constant at a quarter of the image side (7 x 7 for 28 px; the side
must be a multiple of 4, as for the DCGAN), then per resolution two style layers, each

    [upsample, for the first layer of a new resolution] -> conv 3x3 -> noise -> LeakyReLU
    -> AdaIN(w of this layer)

(the first layer at 7 px is the constant itself, with noise and AdaIN), and a 1x1 toRGB
with tanh. L = 6 style layers for 28 px (7, 7, 14, 14, 28, 28). Channels: `filters` at 7 px,
halved at each doubling down to `min_filters`. All convolutions and dense layers have the
equalized learning rate (pipeline.gans.blocks.equalized), as in the paper, each at
`g_lr_multiplier` times train.lr. The layers are pipeline.gans.blocks.style's.
`style: adain` is StyleGAN's; `style: modulated` is StyleGAN2's weight demodulation in
place of AdaIN (every layer's conv modulated by its w, the constant's too, and toRGB by the
last w without demodulation).

Style mixing regularisation: in training, each example with probability `mixing_prob`
takes the w of a second latent from a random style layer on (the crossover, uniform in
1..L-1). The second latents and the crossovers come from the model's seed generator, a
variable of the checkpoint (`mixing/seed`), so a resumed run mixes alike.

Truncation: `w_avg` keeps the running mean of w (beta 0.995, updated in training from the
global batch); sampling with psi draws w_avg + psi (w - w_avg) (pipeline.gans.latent;
generator.keras itself is psi = 1).

The discriminator is the DCGAN's (seed 000's `upsample` trunk, train.dropout, the
stabilisers of train.*), so the comparison with `dcgan` at the same budget is of the two
generators. The loss is train.loss, nonsaturating by default: the loss table
(docs/training.md) found R1 (the paper's penalty, `train.r1_gamma`) no better than
nonsaturating alone at this scale for a quarter more time per step; set r1_gamma to try it.
The averaged generator (train.ema) is on for this family (0.999, the paper's is similar).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Literal

import keras
import tensorflow as tf

from pipeline.config import AT_LEAST_ONE, POSITIVE, check
from pipeline.gans.adversarial import AdversarialGAN
from pipeline.gans.blocks.dcgan import WIDTH, discriminator_trunk, start_side
from pipeline.gans.blocks.equalized import EqualizedConv2D, EqualizedDense
from pipeline.gans.blocks.layers import image_output, leaky_relu, logit_head
from pipeline.gans.blocks.stabilizers import BatchFeatures, pixel_norm
from pipeline.gans.blocks.style import (
    MAPPING,
    SYNTHESIS,
    W_AVERAGE,
    AdaIN,
    ConstantInput,
    ModulatedConv2D,
    NoiseInjection,
    WAverage,
)
from pipeline.gans.families import STABILIZERS, Family, register
from pipeline.gans.inputs import LATENT

PROBABILITY = check(lambda v: 0 <= v <= 1, "in [0, 1]")
MULTIPLIER = check(lambda v: 0 < v <= 1, "in (0, 1]")


@dataclass(frozen=True)
class Config:
    """models.stylegan.*"""

    mapping_layers: int = field(default=8, metadata=AT_LEAST_ONE)  # dense layers z -> w
    mapping_lr: float = field(default=0.01, metadata=MULTIPLIER)  # their lr multiplier
    # every generator layer's lr multiplier (the mapping's is mapping_lr times it)
    g_lr_multiplier: float = field(default=1.0, metadata=POSITIVE)
    w_dim: int = field(default=128, metadata=AT_LEAST_ONE)  # the size of w
    filters: int = field(default=128, metadata=AT_LEAST_ONE)  # at the constant's side ...
    min_filters: int = field(default=32, metadata=AT_LEAST_ONE)  # ... halving to at least this
    mixing_prob: float = field(default=0.9, metadata=PROBABILITY)  # style mixing (0: off)
    noise: bool = True  # per-pixel noise inputs (false: none, for the ablation)
    style: Literal["adain", "modulated"] = "adain"  # StyleGAN's AdaIN, or StyleGAN2's modulation
    d_width: float = field(default=1.0, metadata=WIDTH)  # the DCGAN discriminator's channels x this


def _seed(run, name: str) -> int:
    """A layer's initial weights depend on train.seed and its name only."""
    return zlib.crc32(f"{run.train.seed}/{name}".encode()) % (2**31)


def style_sides(image_shape: tuple[int, int, int]) -> tuple[int, ...]:
    """The side of each style layer: (7, 7, 14, 14, 28, 28) for 28 px."""
    side = start_side(image_shape, "stylegan")
    return (side, side, 2 * side, 2 * side, 4 * side, 4 * side)


def build_mapping(run) -> keras.Model:
    """z [B, latent] -> w [B, w_dim]."""
    cfg = run.family
    z = keras.Input((run.train.latent_dim,), name="z")
    w = pixel_norm(z, "normalize_z")  # [B, latent], unit mean square
    rate = cfg.mapping_lr * cfg.g_lr_multiplier
    for i in range(cfg.mapping_layers):
        dense = EqualizedDense(
            cfg.w_dim, lr_multiplier=rate, seed=_seed(run, f"map{i}"), name=f"map{i}"
        )
        w = leaky_relu(name=f"map{i}_act")(dense(w))  # [B, w_dim]
    return keras.Model(z, w, name=MAPPING)


def build_synthesis(run, image_shape: tuple[int, int, int]) -> keras.Model:
    """One w per style layer, [B, L, w_dim] -> image [B, H, W, C]."""
    cfg = run.family
    sides = style_sides(image_shape)
    styles = keras.Input((len(sides), cfg.w_dim), name="styles")  # [B, L, w_dim]

    def filters_at(side: int) -> int:
        return max(cfg.min_filters, cfg.filters * sides[0] // side)

    def learned(name: str) -> dict:  # what every learned layer of synthesis is given
        return {"lr_multiplier": cfg.g_lr_multiplier, "seed": _seed(run, name), "name": name}

    modulated = cfg.style == "modulated"
    x = ConstantInput(sides[0], filters_at(sides[0]), **learned("const"))(styles)  # [B, 7, 7, f]
    for index, side in enumerate(sides):
        if index > 0 and side > sides[index - 1]:
            x = keras.layers.UpSampling2D(name=f"up{index}")(x)  # [B, side, side, .]
        if modulated:  # StyleGAN2: the style scales the conv (the constant's too)
            conv = ModulatedConv2D(filters_at(side), 3, index, **learned(f"conv{index}"))
            x = conv([x, styles])  # [B, side, side, f]
        elif index > 0:  # StyleGAN: a plain conv, the style in AdaIN below
            x = EqualizedConv2D(filters_at(side), 3, **learned(f"conv{index}"))(x)
        if cfg.noise:
            x = NoiseInjection(**learned(f"noise{index}"))(x)
        x = leaky_relu(name=f"act{index}")(x)
        if not modulated:
            x = AdaIN(index, **learned(f"style{index}"))([x, styles])
    channels, last = image_shape[-1], len(sides) - 1
    if modulated:  # toRGB modulated by the last layer's w, not demodulated (StyleGAN2)
        to_rgb = ModulatedConv2D(channels, 1, last, demodulate=False, gain=1.0, **learned("to_rgb"))
        rgb = to_rgb([x, styles])
    else:
        rgb = EqualizedConv2D(channels, 1, gain=1.0, **learned("to_rgb"))(x)  # [B, H, W, C]
    return keras.Model(styles, image_output()(rgb), name=SYNTHESIS)


def build_generator(run, image_shape, num_classes: int = 0) -> keras.Model:
    """G(z): mapping, the running mean of w, and synthesis fed the same w at every layer."""
    image_shape = tuple(image_shape)
    layers = len(style_sides(image_shape))
    z = keras.Input((run.train.latent_dim,), name="z")  # [B, latent]
    w = WAverage(name=W_AVERAGE)(build_mapping(run)(z))  # [B, w_dim]
    styles = keras.layers.RepeatVector(layers, name="broadcast")(w)  # [B, L, w_dim]
    image = build_synthesis(run, image_shape)(styles)  # [B, H, W, C]
    return keras.Model(z, image, name="generator")


def build_discriminator(run, image_shape, num_classes: int = 0) -> keras.Model:
    """The DCGAN's (seed 000's upsample trunk): [B, H, W, C] -> logit [B, 1]."""
    start_side(tuple(image_shape), "stylegan")
    image = keras.Input(tuple(image_shape), name="image")
    features = discriminator_trunk(
        image, "upsample", run.train.dropout, BatchFeatures.of(run), run.family.d_width
    )  # [B, F]
    return keras.Model(image, logit_head()(features), name="discriminator")


class StyleGAN(AdversarialGAN):
    """The adversarial model with StyleGAN's training-time generator: the running mean of w
    follows each mapping pass, and style mixing swaps in a second w per example."""

    def __init__(self, generator, discriminator, *, mixing_prob: float, seed: int, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        self.mixing_prob = float(mixing_prob)
        self.mixing_seed = keras.random.SeedGenerator(seed, name="mixing_seed")

    def checkpointed(self) -> dict[str, object]:
        return {**super().checkpointed(), "mixing/seed": self.mixing_seed.state}

    def _generate(self, real, labels, z):
        mapping = self.generator.get_layer(MAPPING)
        synthesis = self.generator.get_layer(SYNTHESIS)
        layers = synthesis.inputs[0].shape[1]
        w = mapping(z, training=True)  # [b, w_dim]
        self.generator.get_layer(W_AVERAGE).follow(self._global_mean(tf.stop_gradient(w)))
        styles = tf.repeat(w[:, None], layers, axis=1)  # [b, L, w_dim]
        if self.mixing_prob > 0:
            other = mapping(keras.random.normal(tf.shape(z), seed=self.mixing_seed), training=True)
            draw = keras.random.uniform(tf.shape(z)[:1], seed=self.mixing_seed)  # [b]
            styles = mix_styles(styles, other, draw, self.mixing_prob)
        return synthesis(styles, training=True)


def mix_styles(styles, other, draw, probability: float):
    """styles [b, L, w_dim] with the layers from each example's crossover on taken from
    `other` [b, w_dim]. One U(0, 1) draw per example decides both: u < p mixes, at the
    crossover 1 + floor(u / p * (L - 1)), uniform in 1..L-1; u >= p keeps all L."""
    layers = styles.shape[1]
    scaled = tf.floor(draw / probability * (layers - 1))
    crossover = tf.where(draw < probability, 1.0 + scaled, float(layers))  # [b]
    taken = tf.range(layers, dtype=tf.float32)[None, :] >= crossover[:, None]  # [b, L]
    return tf.where(taken[:, :, None], tf.cast(other[:, None], styles.dtype), styles)


FAMILY = register(
    Family(
        name="stylegan",
        params=Config,
        inputs=LATENT,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        model=StyleGAN,
        model_options=lambda run: {
            "mixing_prob": run.family.mixing_prob,
            "seed": _seed(run, "mixing"),
        },
        stabilizers=STABILIZERS,
        summary="style-based generator of seed 004 (Karras et al. 2019)",
    )
)

__all__ = ["StyleGAN", "build_generator", "mix_styles", "style_sides"]
