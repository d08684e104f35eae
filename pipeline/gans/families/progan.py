"""ProGAN: a progressively growing GAN (Karras et al. 2018; seed 004).

Both networks start at a low resolution and grow a block at a time; each new block fades
in while the old path fades out. On Fashion-MNIST's 28 px the sides are 7 -> 14 -> 28
(the side is halved while it stays even and at least 4: 28 has no 4x4 start without
padding the images, and padding would put black borders into the real images D sees;
a 32 px dataset grows 4 -> 8 -> 16 -> 32). The phases, each `models.progan.*_steps` long:

    7px  |  fade-14px  |  14px  |  fade-28px  |  28px

In a fade-in, alpha (pipeline.training.phases, logged to MLflow) ramps 0 -> 1 and

    G:  image = (1 - alpha) * upsample(toRGB_old(h_old)) + alpha * toRGB_new(block_new(h_old))
    D:  h = (1 - alpha) * fromRGB_old(avgpool(x)) + alpha * block_new(fromRGB_new(x))

Whatever its phase, G outputs the full-size image (a lower resolution upsampled by nearest
neighbours) and D takes it (average-pooled back down first, which undoes the upsampling
exactly), so the trainer, the FID probe, the previews and the saved generator see
28 x 28 images in every phase: a lower phase's FID is the FID of its images upsampled.

ProGAN's other three ideas are in every layer: the equalized learning rate
(pipeline.gans.blocks.equalized), pixel norm after each generator convolution and on z,
and the minibatch standard deviation before D's last block (its group size is
train.minibatch_std: params.yaml gives this family 16, not the paper's 4, for the recall
at a short budget; pipeline.gans.blocks.stabilizers). Its averaged generator is train.ema
(0.99 in params.yaml). A new resolution's layers get fresh optimizers (ProGAN resets
Adam at each new resolution; the trainer does it whenever a phase changes a network's
variables, so also when a fade-in's old path is dropped).
In a fade-in the reals fade too, as in the paper (`fade_reals`): D sees

    x' = (1 - alpha) * upsample(avgpool(x)) + alpha * x      at the new resolution

so real and generated images carry the new resolution's detail in the same measure, and
D cannot tell them apart by detail G has not yet been given.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import keras
import tensorflow as tf

from pipeline.config import AT_LEAST_ONE
from pipeline.errors import ConfigError
from pipeline.gans.adversarial import AdversarialGAN
from pipeline.gans.blocks.equalized import HE_GAIN, EqualizedConv2D, EqualizedDense
from pipeline.gans.blocks.layers import image_output, leaky_relu
from pipeline.gans.blocks.progressive import FadeIn
from pipeline.gans.blocks.stabilizers import BatchFeatures, pixel_norm
from pipeline.gans.families import Family, register
from pipeline.gans.inputs import LATENT
from pipeline.gans.phases import Phase


@dataclass(frozen=True)
class Config:
    """models.progan.* (train.epochs is not read: the phases' steps are the budget)"""

    fade_steps: int = field(default=300, metadata=AT_LEAST_ONE)  # alpha 0 -> 1
    stable_steps: int = field(default=300, metadata=AT_LEAST_ONE)  # each resolution after it
    filters: int = field(default=128, metadata=AT_LEAST_ONE)  # at the lowest resolution
    min_filters: int = field(default=32, metadata=AT_LEAST_ONE)  # halving with each doubling
    fade_reals: bool = True  # fade the reals between resolutions in a fade-in (the paper's)


def sides(image_shape: tuple[int, int, int]) -> tuple[int, ...]:
    """The resolutions the networks grow through, lowest first: (7, 14, 28) for 28 px."""
    height, width, _ = image_shape
    if height != width or height % 2 or height < 8:
        raise ConfigError(
            f"progan needs square images with an even side of at least 8, got {height}x{width}; "
            "set data.image_size (e.g. 28 or 32)"
        )
    found = [height]
    while found[-1] % 2 == 0 and found[-1] // 2 >= 4:
        found.append(found[-1] // 2)
    return tuple(reversed(found))


def _filters(run, level: int) -> int:
    return max(run.family.min_filters, run.family.filters >> level)


def _seed(run, name: str) -> int:
    """A layer's initial weights depend on train.seed and its name, not on when it is built."""
    return zlib.crc32(f"{run.train.seed}/{name}".encode()) % (2**31)


def _conv(run, x, filters: int, kernel: int, name: str, gain=HE_GAIN):
    return EqualizedConv2D(filters, kernel, gain=gain, seed=_seed(run, name), name=name)(x)


# --- the generator -------------------------------------------------------------------------


def _g_block(run, x, level: int):
    """[B, s, s, .] -> [B, 2s, 2s, f]: upsample, then two 3x3 convs (the new resolution)."""
    f = _filters(run, level)
    x = keras.layers.UpSampling2D(name=f"g_up{level}")(x)
    for i in (1, 2):
        x = _conv(run, x, f, 3, f"g_block{level}_conv{i}")
        x = pixel_norm(leaky_relu(name=f"g_block{level}_act{i}")(x), f"g_block{level}_norm{i}")
    return x


def _to_rgb(run, x, level: int, channels: int):
    return _conv(run, x, channels, 1, f"g_to_rgb{level}", gain=1.0)  # [B, s, s, C]


def build_generator_at(run, image_shape, level: int, fading: bool) -> keras.Model:
    """G(z) at resolution `sides[level]` (blending in from the level below when
    `fading`), its image upsampled to the full side."""
    resolutions = sides(image_shape)
    side0, f0, channels = resolutions[0], _filters(run, 0), image_shape[-1]
    z = keras.Input((run.train.latent_dim,), name="z")  # [B, latent]
    x = pixel_norm(z, "g_z_norm")  # |z| = sqrt(latent): ProGAN normalises the latent too
    x = EqualizedDense(side0 * side0 * f0, seed=_seed(run, "g_project"), name="g_project")(x)
    x = keras.layers.Reshape((side0, side0, f0), name="g_reshape")(x)  # [B, s0, s0, f0]
    x = pixel_norm(leaky_relu(name="g_project_act")(x), "g_project_norm")
    x = _conv(run, x, f0, 3, "g_block0_conv1")
    x = pixel_norm(leaky_relu(name="g_block0_act1")(x), "g_block0_norm1")  # [B, s0, s0, f0]
    for grown in range(1, level):
        x = _g_block(run, x, grown)  # [B, s_l, s_l, f_l]
    if level == 0:
        image = _to_rgb(run, x, 0, channels)
    else:
        new = _to_rgb(run, _g_block(run, x, level), level, channels)  # [B, s, s, C]
        image = new
        if fading:
            old = _to_rgb(run, x, level - 1, channels)  # [B, s/2, s/2, C]
            old = keras.layers.UpSampling2D(name="g_fade_up")(old)  # [B, s, s, C]
            image = FadeIn(name="g_fade")([old, new])
    factor = image_shape[0] // resolutions[level]
    if factor > 1:  # a lower phase's image at the full side
        image = keras.layers.UpSampling2D(factor, name="g_to_full")(image)
    return keras.Model(z, image_output()(image), name="generator")  # [B, H, W, C]


# --- the discriminator ----------------------------------------------------------------------


def _from_rgb(run, x, level: int):
    x = _conv(run, x, _filters(run, level), 1, f"d_from_rgb{level}")
    return leaky_relu(name=f"d_from_rgb{level}_act")(x)  # [B, s, s, f]


def _d_block(run, x, level: int):
    """[B, s, s, f_level] -> [B, s/2, s/2, f_(level-1)]"""
    for i, f in ((1, _filters(run, level)), (2, _filters(run, level - 1))):
        x = _conv(run, x, f, 3, f"d_block{level}_conv{i}")
        x = leaky_relu(name=f"d_block{level}_act{i}")(x)
    return keras.layers.AveragePooling2D(2, name=f"d_down{level}")(x)


def build_discriminator_at(run, image_shape, level: int, fading: bool) -> keras.Model:
    """D at resolution `sides[level]` of a full-size image (average-pooled down first)."""
    resolutions = sides(image_shape)
    image = keras.Input(image_shape, name="image")  # [B, H, W, C]
    x = image
    factor = image_shape[0] // resolutions[level]
    if factor > 1:
        x = keras.layers.AveragePooling2D(factor, name="d_from_full")(x)  # [B, s, s, C]
    h = _from_rgb(run, x, level)
    if level > 0:
        h = _d_block(run, h, level)  # [B, s/2, s/2, f]
        if fading:
            old = keras.layers.AveragePooling2D(2, name="d_fade_down")(x)
            h = FadeIn(name="d_fade")([_from_rgb(run, old, level - 1), h])
        for lower in range(level - 1, 0, -1):
            h = _d_block(run, h, lower)
    batch = BatchFeatures.of(run)
    h = batch.std(h)  # [B, s0, s0, f0 + 1]: the minibatch std before the last block
    f0 = _filters(run, 0)
    h = leaky_relu(name="d_final_act1")(_conv(run, h, f0, 3, "d_final_conv"))
    h = keras.layers.Flatten(name="d_features")(h)  # [B, s0 * s0 * f0]
    h = EqualizedDense(f0, seed=_seed(run, "d_final_dense"), name="d_final_dense")(h)
    h = batch.discrimination(leaky_relu(name="d_final_act2")(h))  # [B, f0 (+ kernels)]
    logit = EqualizedDense(1, gain=1.0, seed=_seed(run, "logit"), dtype="float32", name="logit")
    return keras.Model(image, logit(h), name="discriminator")  # [B, 1]


def build_generator(run, image_shape, num_classes: int = 0) -> keras.Model:
    return build_generator_at(run, tuple(image_shape), 0, fading=False)


def build_discriminator(run, image_shape, num_classes: int = 0) -> keras.Model:
    return build_discriminator_at(run, tuple(image_shape), 0, fading=False)


# --- growing ------------------------------------------------------------------------------


def _carry(old: keras.Model, new: keras.Model) -> keras.Model:
    """`new` with every weight of a layer it shares by name with `old`."""
    names = {layer.name for layer in new.layers}
    for layer in old.layers:
        if layer.weights and layer.name in names:
            new.get_layer(layer.name).set_weights(layer.get_weights())
    return new


def grow(run, gan, level: int, fading: bool) -> None:
    """Rebuild both networks at `level` (a fade-in, or the stable phase after it), keeping
    the weights of every layer that carries over."""
    shape = tuple(gan.generator.output.shape[1:])
    gan.generator = _carry(gan.generator, build_generator_at(run, shape, level, fading))
    gan.discriminator = _carry(gan.discriminator, build_discriminator_at(run, shape, level, fading))
    # the reals' fade: from the side below `level`, given as the factor down to it
    gan.fading_from = shape[0] // sides(shape)[level - 1] if fading else None


class ProGAN(AdversarialGAN):
    """The adversarial model whose reals fade between resolutions in a fade-in (`grow`
    sets `fading_from`, the factor from the full side down to the side fading out)."""

    def __init__(self, generator, discriminator, *, fade_reals: bool, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        self.fade_reals = bool(fade_reals)
        self.fading_from: int | None = None

    def _present_reals(self, real):
        """[b, k, H, W, C] -> (1 - alpha) * upsample(avgpool(real)) + alpha * real, the
        coarse copy at the side fading out. D average-pools its input down to the new side
        first, so it sees the paper's blend of the two resolutions."""
        factor = self.fading_from
        if not self.fade_reals or factor is None:
            return real
        images = tf.reshape(real, [-1, *real.shape[2:]])  # [b k, H, W, C]
        coarse = tf.nn.avg_pool2d(images, factor, factor, "VALID")  # [b k, H/f, W/f, C]
        coarse = tf.repeat(tf.repeat(coarse, factor, axis=1), factor, axis=2)  # [b k, H, W, C]
        alpha = tf.cast(self.schedule["alpha"], images.dtype)
        return tf.reshape(coarse + alpha * (images - coarse), tf.shape(real))


def phases(run, image_shape):
    cfg = run.family
    resolutions = sides(image_shape)
    plan = [Phase(f"{resolutions[0]}px", steps=cfg.stable_steps)]
    for level in range(1, len(resolutions)):
        plan.append(
            Phase(
                f"fade-{resolutions[level]}px",
                steps=cfg.fade_steps,
                enter=lambda gan, level=level: grow(run, gan, level, fading=True),
                schedules={"alpha": lambda progress: progress},
            )
        )
        plan.append(
            Phase(
                f"{resolutions[level]}px",
                steps=cfg.stable_steps,
                enter=lambda gan, level=level: grow(run, gan, level, fading=False),
            )
        )
    return tuple(plan)


FAMILY = register(
    Family(
        name="progan",
        params=Config,
        inputs=LATENT,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        phases=phases,
        model=ProGAN,
        model_options=lambda run: {"fade_reals": run.family.fade_reals},
        stabilizers=("minibatch_std", "minibatch_discrimination"),
        summary="progressively growing GAN of seed 004 (Karras et al. 2018)",
    )
)
