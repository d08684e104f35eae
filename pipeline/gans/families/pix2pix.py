"""pix2pix: edge map -> image translation, a U-Net against a PatchGAN (seed 003; Isola et al.).

Data: the pairs are stacked on the channel axis, so `image_shape` is (S, S, 1 + C): channel 0
is the Canny edge map x, channels 1: the real image y (C = 1 or 3). A train step gets the
same (real, noise) as every other GAN; pix2pix ignores the noise: the paper found G learns
to ignore a z input and keeps the decoder's dropout as its only randomness.

Generator   U-Net: log2(S) blocks Conv 4x4/2 -> BatchNorm -> LeakyReLU 0.2 down to 1x1 (no
            BatchNorm on the first block, nor at the 1x1 bottleneck, see below), then
            ConvTranspose 4x4/2 -> BatchNorm -> Dropout (first three) -> ReLU back up, each
            concatenated with the encoder block of the same size, and a last ConvTranspose
            to C channels with tanh. Widths: models.pix2pix.filters, doubling, at most 8x.
Discriminator  PatchGAN on the pair (x, y) or (x, G(x)): models.pix2pix.patch is the
            receptive field of one output logit. n stride-2 blocks (16: 1, 34: 2, 70: 3,
            142: 4, 286: 5) and one stride-1 block of Conv 4x4 -> BatchNorm (not the
            first) -> LeakyReLU 0.2, then a 4x4 conv to one logit per patch: [B, S/2^n,
            S/2^n, 1]. 70 is the paper's choice at 256x256; 16 suits 32x32 Fashion-MNIST.
            patch 1 is the paper's PixelGAN (1x1 convolutions). A patch wider than the image
            still works (zero padding fills the rest): it then judges the whole image.
            Discriminator dropout is train.dropout, after each LeakyReLU (the paper has none).
Objective (models.pix2pix.loss) for G, with g_gan the adversarial term averaged over the
patch grid and g_l1 = mean |y - G(x)|:
    l1+cgan  g_gan + l1_weight * g_l1   (the paper's, lambda = 100)
    cgan     g_gan
    l1       l1_weight * g_l1           (D still trains, so d_loss and D(G(x)) stay
                                         comparable across the three; it just has no say)

The 1x1 bottleneck has no BatchNorm (as in both reference implementations): with one
example per batch, the paper's setting, it would subtract the only value there is and zero
the code; with a few it normalises each channel over those few examples, so one image's
code would depend on its batch-mates. Its conv keeps its bias instead. Also as in the
references, the 4x4 kernels of the 2x2 -> 1x1 conv and of the 1x1 -> 2x2 transposed conv
see the map through only their central 2x2 taps; the other 3/4 of those two kernels never
get a gradient (1.57M of the 4.17M weights at S=32, filters=32) and stay as initialised.

Inference, as for every family here, is `generator(edges, training=False)`: BatchNorm's
moving averages and no dropout, so an edge map always gives the same image (the paper runs
dropout and batch statistics at test time too, for diversity it found small).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import keras
import tensorflow as tf

from pipeline.config import AT_LEAST_ONE, UNIT_INTERVAL_OPEN, check
from pipeline.errors import ConfigError
from pipeline.gans.adversarial import METRIC_NAMES, AdversarialGAN
from pipeline.gans.blocks.layers import (
    batch_norm,
    image_output,
    leaky_relu,
    normal_init,
    patch_logits,
)
from pipeline.gans.blocks.stabilizers import BatchFeatures
from pipeline.gans.families import Family, register
from pipeline.gans.inputs import EDGE_PAIRS
from pipeline.gans.losses import l1_loss

EDGE_CHANNELS = 1  # channel 0 of a pair is the edge map, the rest is the image
OBJECTIVES = ("l1", "cgan", "l1+cgan")
PATCH_BLOCKS = {16: 1, 34: 2, 70: 3, 142: 4, 286: 5}  # receptive field -> stride-2 blocks
MAX_WIDTH = 8  # widths double per level up to 8x the base (C64 ... C512 in the paper)
BN_MOMENTUM = 0.9  # PyTorch's default 0.1, which the reference implementation uses


@dataclass(frozen=True)
class Config:
    """models.pix2pix.*"""

    filters: int = field(default=32, metadata=AT_LEAST_ONE)  # U-Net base width (paper: 64)
    d_filters: int = field(default=32, metadata=AT_LEAST_ONE)  # PatchGAN base width
    patch: Literal[1, 16, 34, 70, 142, 286] = 16  # PatchGAN receptive field in pixels
    l1_weight: float = field(default=100.0, metadata=check(lambda v: v >= 0, ">= 0"))
    loss: Literal["l1", "cgan", "l1+cgan"] = "l1+cgan"
    decoder_dropout: float = field(default=0.5, metadata=UNIT_INTERVAL_OPEN)
    # Random jitter of the pairs (pipeline.data.augment.PairedJitter): upscale by
    # jitter_scale, crop back at a random place, and mirror half of them.
    jitter: bool = True
    jitter_scale: float = field(default=1.125, metadata=check(lambda v: v >= 1, ">= 1"))
    mirror: bool = True


def _pair_shape(image_shape: tuple[int, int, int]) -> tuple[int, int]:
    """(S, C) of a pair shape (S, S, 1 + C), or a ConfigError."""
    height, width, channels = image_shape
    if height != width or height < 16 or height & (height - 1):
        raise ConfigError(
            f"pix2pix needs square pairs whose side is a power of two >= 16 (the U-Net halves "
            f"it down to 1x1), got {height}x{width}; set edges.pad_to (e.g. 32)"
        )
    if channels <= EDGE_CHANNELS:
        raise ConfigError(
            f"pix2pix trains on edge/image pairs stacked on the channel axis ({EDGE_CHANNELS} "
            f"edge + C image channels), got {channels} channel(s); run the edges stage"
        )
    return height, channels - EDGE_CHANNELS


def _width(base: int, level: int) -> int:
    return base * min(2**level, MAX_WIDTH)


# --- generator: U-Net -------------------------------------------------------------------


def _down(x, filters: int, norm: bool, name: str):
    """[B, h, w, .] -> [B, h/2, w/2, filters]"""
    x = keras.layers.Conv2D(
        filters,
        4,
        strides=2,
        padding="same",
        use_bias=not norm,
        kernel_initializer=normal_init(),
        name=f"{name}_conv",
    )(x)  # [B, h/2, w/2, filters]
    if norm:
        x = batch_norm(BN_MOMENTUM, name=f"{name}_bn")(x)  # [B, h/2, w/2, filters]
    return leaky_relu(name=f"{name}_act")(x)  # [B, h/2, w/2, filters]


def _up(x, filters: int, dropout: float, name: str):
    """[B, h, w, .] -> [B, 2h, 2w, filters]"""
    x = keras.layers.Conv2DTranspose(
        filters,
        4,
        strides=2,
        padding="same",
        use_bias=False,
        kernel_initializer=normal_init(),
        name=f"{name}_deconv",
    )(x)  # [B, 2h, 2w, filters]
    x = batch_norm(BN_MOMENTUM, name=f"{name}_bn")(x)  # [B, 2h, 2w, filters]
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)  # [B, 2h, 2w, filters]
    return keras.layers.Activation("relu", name=f"{name}_act")(x)  # [B, 2h, 2w, filters]


def build_generator(run, image_shape: tuple[int, int, int], num_classes: int = 0) -> keras.Model:
    side, channels = _pair_shape(image_shape)
    levels = side.bit_length() - 1  # log2(S) halvings down to 1x1
    cfg = run.family
    edges = keras.Input((side, side, EDGE_CHANNELS), name="edges")  # [B, S, S, 1]
    x, skips = edges, []
    for i in range(levels):
        # [B, S/2^(i+1), S/2^(i+1), filters * min(2^i, 8)]; the last one is [B, 1, 1, .]
        x = _down(x, _width(cfg.filters, i), norm=0 < i < levels - 1, name=f"g_down{i + 1}")
        skips.append(x)
    for j, skip in enumerate(reversed(skips[:-1])):
        rate = cfg.decoder_dropout if j < 3 else 0.0
        x = _up(x, skip.shape[-1], rate, name=f"g_up{j + 1}")  # [B, 2^(j+1), 2^(j+1), w]
        x = keras.layers.Concatenate(name=f"g_skip{j + 1}")([x, skip])  # [B, ., ., 2w]
    x = keras.layers.Conv2DTranspose(
        channels, 4, strides=2, padding="same", kernel_initializer=normal_init(), name="g_to_image"
    )(x)  # [B, S, S, C]
    image = image_output()(x)  # [B, S, S, C] in [-1, 1], float32
    return keras.Model(edges, image, name="generator")


# --- discriminator: PatchGAN ----------------------------------------------------------------


def patch_blocks(patch: int, side: int) -> int:
    """Stride-2 blocks of the PatchGAN with receptive field `patch` on S x S pairs.

    Receptive field from the logit back: 4 (last conv), 7 (stride-1 block), then
    (r - 1) * 2 + 4 per stride-2 block: 16, 34, 70, 142, 286.
    """
    if patch == 1:
        return 0
    blocks = PATCH_BLOCKS[patch]
    if side < 2**blocks:
        raise ConfigError(
            f"models.pix2pix.patch={patch} needs pairs of at least {2**blocks}x{2**blocks} "
            f"({blocks} stride-2 blocks), but the image side is {side}; lower "
            f"models.pix2pix.patch (one of {', '.join(str(p) for p in PATCH_BLOCKS)} or 1)"
        )
    return blocks


def _d_block(x, filters: int, kernel: int, stride: int, norm: bool, rate: float, name: str):
    """[B, h, w, .] -> [B, h/stride, w/stride, filters]"""
    x = keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="same",
        use_bias=not norm,
        kernel_initializer=normal_init(),
        name=f"{name}_conv",
    )(x)  # [B, h/stride, w/stride, filters]
    if norm:
        x = batch_norm(BN_MOMENTUM, name=f"{name}_bn")(x)  # same shape
    x = leaky_relu(name=f"{name}_act")(x)  # same shape
    if rate:
        x = keras.layers.Dropout(rate, name=f"{name}_dropout")(x)  # same shape
    return x


def build_discriminator(
    run, image_shape: tuple[int, int, int], num_classes: int = 0
) -> keras.Model:
    side, _ = _pair_shape(image_shape)
    cfg, rate = run.family, run.train.dropout
    batch = BatchFeatures.of(run)  # the minibatch std layer (a PatchGAN has no flat features)
    pair = keras.Input(image_shape, name="pair")  # [B, S, S, 1 + C]: edges, then an image
    if cfg.patch == 1:  # PixelGAN: every pixel judged on its own
        x = _d_block(pair, cfg.d_filters, 1, 1, False, rate, "d_pixel1")  # [B, S, S, f]
        x = batch.std(x)  # [B, S, S, f + 1] when train.minibatch_std is on
        x = _d_block(x, 2 * cfg.d_filters, 1, 1, True, rate, "d_pixel2")  # [B, S, S, 2f]
        logits = patch_logits(1)(x)  # [B, S, S, 1]
        return keras.Model(pair, logits, name="discriminator")
    blocks = patch_blocks(cfg.patch, side)
    x = pair
    for i in range(blocks):
        width = _width(cfg.d_filters, i)
        # [B, S/2^(i+1), S/2^(i+1), d_filters * min(2^i, 8)]
        x = _d_block(x, width, 4, 2, i > 0, rate, f"d_down{i + 1}")
    width = _width(cfg.d_filters, blocks)
    x = batch.std(x)  # one more feature map when train.minibatch_std is on
    x = _d_block(x, width, 4, 1, True, rate, "d_last")  # [B, S/2^n, S/2^n, width]
    logits = patch_logits(4)(x)  # [B, S/2^n, S/2^n, 1] float32, one logit per patch
    return keras.Model(pair, logits, name="discriminator")


# --- the adversarial model ---------------------------------------------------------------


def edges_of(pairs: tf.Tensor) -> tf.Tensor:
    """[..., 1 + C] pairs -> [..., 1] edge maps (the generator's input x)."""
    return pairs[..., :EDGE_CHANNELS]


def images_of(pairs: tf.Tensor) -> tf.Tensor:
    """[..., 1 + C] pairs -> [..., C] real images (the targets y)."""
    return pairs[..., EDGE_CHANNELS:]


class Pix2Pix(AdversarialGAN):
    """A conditional GAN: G(x) from the edge map x; D judges (x, y) against (x, G(x)).

    Only the hooks differ from AdversarialGAN; its train_step, k_steps and update modes
    apply unchanged (alternating: G translates the last discriminator minibatch's edges).
    `call(edges)` is the generator.
    """

    metric_names = (*METRIC_NAMES, "g_gan", "g_l1")

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        *,
        objective: str = "l1+cgan",
        l1_weight: float = 100.0,
        **kwargs,
    ):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        super().__init__(generator, discriminator, **kwargs)
        self.objective = objective
        self.l1_weight = l1_weight

    def _generate(self, real, labels, z):
        return self.generator(edges_of(real), training=True)  # [b, S, S, C]; z unused

    def _discriminator_input(self, real, labels, fake):
        return tf.concat([edges_of(real), fake], axis=-1)  # [b, S, S, 1 + C], like real

    def _generator_objective(self, real, labels, fake, fake_logits, real_logits):
        # Both parts are logged unweighted in every mode, so runs with different
        # objectives can be compared on each.
        g_gan = self._average(self.loss.generator(fake_logits))
        g_l1 = self._average(l1_loss(images_of(real), fake))
        if self.objective == "l1+cgan":
            g_loss = g_gan + self.l1_weight * g_l1
        elif self.objective == "cgan":
            g_loss = g_gan
        else:  # "l1": D trains on, but G's gradient does not pass through it
            g_loss = self.l1_weight * g_l1
        return {"g_loss": g_loss, "g_gan": g_gan, "g_l1": g_l1}


def gan_options(run) -> dict:
    """Pix2Pix's own constructor arguments (the trainer passes them on)."""
    return {"objective": run.family.loss, "l1_weight": run.family.l1_weight}


def augmentation(run, image_shape: tuple[int, int, int]):
    """The paired random jitter and mirroring of the paper, or None (models.pix2pix.jitter)."""
    if not run.family.jitter:
        return None
    from pipeline.data.augment import PairedJitter  # late: only pix2pix training needs it

    return PairedJitter(image_shape[0], run.family.jitter_scale, run.family.mirror, EDGE_CHANNELS)


FAMILY = register(
    Family(
        name="pix2pix",
        params=Config,
        inputs=EDGE_PAIRS,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        model=Pix2Pix,
        # A PatchGAN has no per-image feature vector for minibatch discrimination; a
        # replayed fake is a past (edges, image) pair, judged as such.
        stabilizers=("minibatch_std", "replay"),
        model_options=gan_options,
        augmentation=augmentation,
        scores=("paired",),
        summary="pix2pix: U-Net + PatchGAN translating Canny edge maps (seed 003)",
    )
)
