"""SRGAN: 4x super-resolution, SRResNet against a strided-conv discriminator (seed 000's
application; Ledig et al. 2017).

Data: the `lowres` pairs (pipeline.data.lowres), stacked for the training loop as
[S, S, 2C]: channels [:C] the low-resolution image repeated factor x factor times per
pixel, channels [C:] the original. The generator takes the low image itself (every
factor-th pixel of the first half, `low_of`), so `image_shape` is the stacked shape and
lowres.factor comes with the run (RunConfig.lowres). A train step gets the same (real,
noise) as every other GAN; SRGAN ignores the noise (its output is a function of the input).

Generator  SRResNet: Conv 9x9 -> PReLU, `blocks` residual blocks (Conv 3x3 -> BN -> PReLU
           -> Conv 3x3 -> BN, plus the block's input), Conv 3x3 -> BN plus the first
           conv's output (the long skip), then log2(factor) x2 sub-pixel upsamplers (Conv
           3x3 to 4 x filters -> depth_to_space -> PReLU) and Conv 9x9 to C with tanh.
           Fully convolutional: generator.keras takes a low image of any size, so
           `upscale` runs a whole picture (tiled past a size, pipeline.stages.upscale).
Discriminator  the paper's strided stack, narrower and shorter for 28 px: Conv 3x3 ->
           LeakyReLU, then pairs of (Conv 3x3 stride 2, Conv 3x3 stride 1) -> BN ->
           LeakyReLU, widths d_filters doubling per pair, until the side is at most 4;
           Dense(8 x d_filters) -> LeakyReLU -> one logit. It judges the image alone (the
           second half of a stacked pair), not the low input, as the paper's does.
Objective  G: content + adversarial_weight x adversarial (the paper's 1e-3). The content
           loss (models.srgan.content) is `mse` on pixels or `features`: the MSE of the
           evaluator's last conv block (its ReLU output, 7x7x128 at 28 px), standing in for
           the paper's VGG features (no VGG weights here; the evaluator is the project's
           stand-in for pretrained networks, DESIGN.md, Scoring). The adversarial term is
           train.loss's (the paper's: nonsaturating).
Phases     `pretrain` (models.srgan.pretrain_steps): SRResNet alone on the pixel MSE, the
           paper's initialisation; D does not train and its logged values are 0. Then
           `adversarial` (gan_steps) trains both. gan_steps 0 is SRResNet alone (the MSE
           baseline of bench/srgan_tradeoff.py). train.epochs is not read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import keras
import tensorflow as tf

from pipeline.config import AT_LEAST_ONE, check
from pipeline.data.lowres import high_of, low_of
from pipeline.errors import ConfigError
from pipeline.gans.adversarial import METRIC_NAMES, AdversarialGAN
from pipeline.gans.blocks.layers import batch_norm, image_output, leaky_relu, logit_head
from pipeline.gans.blocks.resnet import BN_MOMENTUM, conv, prelu, residual_block, upsample_x2
from pipeline.gans.blocks.stabilizers import BatchFeatures
from pipeline.gans.families import Family, register
from pipeline.gans.inputs import LOWRES_PAIRS
from pipeline.gans.phases import Phase

AT_LEAST_ZERO = check(lambda v: v >= 0, ">= 0")
D_MIN_SIDE = 4  # the discriminator halves the side down to at most this


@dataclass(frozen=True)
class Config:
    """models.srgan.* (train.epochs is not read: the phases' steps are the budget)"""

    blocks: int = field(default=8, metadata=AT_LEAST_ONE)  # residual blocks (paper: 16)
    filters: int = field(default=64, metadata=AT_LEAST_ONE)  # the generator's width (paper: 64)
    d_filters: int = field(default=32, metadata=AT_LEAST_ONE)  # D's first width (paper: 64)
    content: Literal["mse", "features"] = "mse"
    adversarial_weight: float = field(default=1e-3, metadata=AT_LEAST_ZERO)
    pretrain_steps: int = field(default=1000, metadata=AT_LEAST_ZERO)  # SRResNet on MSE alone
    gan_steps: int = field(default=1000, metadata=AT_LEAST_ZERO)  # then both networks


def _stacked_shape(image_shape: tuple[int, int, int]) -> tuple[int, int]:
    """(S, C) of a stacked pair shape (S, S, 2C), or a ConfigError."""
    height, width, channels = image_shape
    if height != width or channels not in (2, 6):
        raise ConfigError(
            f"srgan trains on (low, high) pairs stacked on the channel axis, [S, S, 2C], got "
            f"{height}x{width}x{channels}; run the lowres stage (`dvc repro lowres`)"
        )
    return height, channels // 2


def factor_of(run) -> int:
    """lowres.factor, which srgan reaches by x2 upsamplers: a power of two."""
    if run.lowres is None:
        raise ConfigError("srgan needs lowres.* in its run (pipeline.gans.families.resolve_run)")
    factor = run.lowres.factor
    if factor & (factor - 1):
        raise ConfigError(
            f"srgan upsamples in x2 steps, so lowres.factor must be a power of two (2, 4, 8); "
            f"got {factor}"
        )
    return factor


# --- generator: SRResNet ---------------------------------------------------------------


def build_generator(run, image_shape: tuple[int, int, int], num_classes: int = 0) -> keras.Model:
    _, channels = _stacked_shape(image_shape)
    cfg, factor = run.family, factor_of(run)
    low = keras.Input((None, None, channels), name="low")  # [B, h, w, C]: any size
    x = prelu("g_in_act")(conv(cfg.filters, 9, "g_in")(low))  # [B, h, w, filters]
    skip = x
    for i in range(cfg.blocks):
        x = residual_block(x, cfg.filters, f"g_res{i + 1}")  # [B, h, w, filters]
    x = conv(cfg.filters, 3, "g_trunk_conv", use_bias=False)(x)
    x = batch_norm(BN_MOMENTUM, name="g_trunk_bn")(x)
    x = keras.layers.Add(name="g_long_skip")([skip, x])  # [B, h, w, filters]
    for i in range(factor.bit_length() - 1):
        x = upsample_x2(x, cfg.filters, f"g_up{i + 1}")  # [B, 2^(i+1) h, 2^(i+1) w, filters]
    x = conv(channels, 9, "g_to_image")(x)  # [B, factor h, factor w, C]
    return keras.Model(low, image_output()(x), name="generator")


# --- discriminator -----------------------------------------------------------------------


def _d_conv(x, filters: int, stride: int, norm: bool, rate: float, name: str):
    """[B, h, w, .] -> [B, ceil(h / stride), ceil(w / stride), filters]"""
    x = keras.layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=not norm, name=f"{name}_conv"
    )(x)
    if norm:
        x = batch_norm(BN_MOMENTUM, name=f"{name}_bn")(x)
    x = leaky_relu(name=f"{name}_act")(x)
    if rate:
        x = keras.layers.Dropout(rate, name=f"{name}_dropout")(x)
    return x


def build_discriminator(
    run, image_shape: tuple[int, int, int], num_classes: int = 0
) -> keras.Model:
    side, channels = _stacked_shape(image_shape)
    cfg, rate = run.family, run.train.dropout
    batch = BatchFeatures.of(run)
    pair = keras.Input(image_shape, name="pair")  # [B, S, S, 2C]: low (repeated), image
    x = pair[..., channels:]  # [B, S, S, C]: D judges the image alone, as the paper's
    x = _d_conv(x, cfg.d_filters, 1, False, rate, "d_in")  # [B, S, S, d]
    width, levels = cfg.d_filters, _halvings(side)
    for level in range(1, levels + 1):  # s = ceil(S / 2^level): 14, 7, 4 at 28 px
        x = _d_conv(x, width, 2, True, rate, f"d_down{level}")  # [B, s, s, width]
        width *= 2
        if level == levels:
            x = batch.std(x)  # where ProGAN puts it: before the last block
        x = _d_conv(x, width, 1, True, rate, f"d_block{level}")  # [B, s, s, width]
    x = keras.layers.Flatten(name="d_flatten")(x)  # [B, s * s * width]
    x = keras.layers.Dense(8 * cfg.d_filters, name="d_dense")(x)  # [B, 8 d] (paper: 1024)
    x = batch.discrimination(leaky_relu(name="d_dense_act")(x))  # [B, 8 d (+ kernels)]
    return keras.Model(pair, logit_head()(x), name="discriminator")  # [B, 1]


def _halvings(side: int) -> int:
    """Stride-2 blocks that bring `side` down to at most D_MIN_SIDE (28: 14, 7, 4)."""
    count = 0
    while side > D_MIN_SIDE:
        side, count = -(-side // 2), count + 1
    return count


# --- the adversarial model -----------------------------------------------------------------


def content_features(evaluator: keras.Model) -> keras.Model:
    """The evaluator's last conv block (after its ReLU): images in [-1, 1] -> [B, h, w, F]."""
    names = [layer.name for layer in evaluator.layers]
    last_bn = max(
        i for i, name in enumerate(names) if name.startswith("e_bn") and "dense" not in name
    )
    model = keras.Model(evaluator.input, evaluator.layers[last_bn + 1].output, name="content")
    model.trainable = False  # a fixed yardstick, as VGG is in the paper
    return model


class SRGAN(AdversarialGAN):
    """G(low) -> high against D(high). Only the hooks differ from AdversarialGAN, plus a
    pretraining step (G alone on the pixel MSE) while `adversarial` is off."""

    metric_names = (*METRIC_NAMES, "g_content", "g_adversarial")

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        *,
        factor: int = 4,
        content: str = "mse",
        adversarial_weight: float = 1e-3,
        features: keras.Model | None = None,
        **kwargs,
    ):
        if content == "features" and features is None:
            raise ValueError("content='features' needs the evaluator's `features` model")
        super().__init__(generator, discriminator, **kwargs)
        self.factor = factor
        self.content = content
        self.adversarial_weight = adversarial_weight
        self.features = features
        self.adversarial = True  # the phases set it (pretrain: False)

    def set_adversarial(self, on: bool) -> None:
        self.adversarial = on

    def _generate(self, real, labels, z):
        return self.generator(low_of(real, self.factor), training=True)  # [b, S, S, C]

    def _discriminator_input(self, real, labels, fake):
        return tf.concat([real[..., : fake.shape[-1]], fake], axis=-1)  # [b, S, S, 2C]

    def _content(self, real, fake, kind: str) -> tf.Tensor:
        """Per-example content loss [b] of G's `fake` against the original images."""
        target, fake = high_of(real), tf.cast(fake, tf.float32)  # [b, S, S, C]
        if kind == "features":  # [b, h, w, F]
            target, fake = (
                self.features(target, training=False),
                self.features(fake, training=False),
            )
        return tf.reduce_mean(tf.square(tf.cast(fake - target, tf.float32)), axis=[1, 2, 3])

    def _generator_objective(self, real, labels, fake, fake_out, real_out):
        content = self._average(self._content(real, fake, self.content))
        adversarial = self._average(self.loss.generator(fake_out))
        return {
            "g_loss": content + self.adversarial_weight * adversarial,
            "g_content": content,
            "g_adversarial": adversarial,
        }

    def train_step(self, data):
        if self.adversarial:
            return super().train_step(data)
        if not isinstance(data, dict):
            data = dict(zip(("real", "noise"), data, strict=False))
        real = data["real"][:, 0]  # [b, S, S, 2C]: the first minibatch (k_steps > 1: the rest wait)
        with tf.GradientTape() as tape:
            fake = self._generate(real, None, None)
            content = self._average(self._content(real, fake, "mse"))  # the paper's SRResNet
            scaled = self.g_optimizer.scale_loss(content)
        self._apply(self.g_optimizer, tape, scaled, self.generator.trainable_variables)
        idle = tf.zeros_like(content)  # D does not train while G pretrains
        report = {"d_loss": idle, "d_real": idle, "d_fake": idle, "g_adversarial": idle}
        return {**report, "g_loss": content, "g_content": content}


def gan_options(run) -> dict:
    """SRGAN's own constructor arguments (the trainer passes them on); `features` loads the
    evaluator (models/evaluator/model.keras, a dependency of every train@ stage)."""
    features = None
    if run.family.content == "features":
        from pipeline.saved import EVALUATOR, EVALUATOR_DIR, load_keras

        features = content_features(load_keras(EVALUATOR_DIR / "model.keras", EVALUATOR))
    return {
        "factor": factor_of(run),
        "content": run.family.content,
        "adversarial_weight": run.family.adversarial_weight,
        "features": features,
    }


def phases(run, image_shape):
    cfg = run.family
    if cfg.pretrain_steps + cfg.gan_steps < 1:
        raise ConfigError(
            "models.srgan.pretrain_steps + models.srgan.gan_steps is 0: nothing to train; "
            "set either to at least 1"
        )
    plan = []
    if cfg.pretrain_steps:
        plan.append(
            Phase(
                "pretrain", steps=cfg.pretrain_steps, enter=lambda gan: gan.set_adversarial(False)
            )
        )
    if cfg.gan_steps:
        plan.append(
            Phase("adversarial", steps=cfg.gan_steps, enter=lambda gan: gan.set_adversarial(True))
        )
    return tuple(plan)


FAMILY = register(
    Family(
        name="srgan",
        params=Config,
        inputs=LOWRES_PAIRS,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        model=SRGAN,
        model_options=gan_options,
        phases=phases,
        # D judges the image alone: a replayed fake is a past upscaled image
        stabilizers=("minibatch_std", "minibatch_discrimination", "replay"),
        scores=("paired", "upscale_baseline"),
        summary="SRGAN: 4x super-resolution, SRResNet + strided-conv D (seed 000)",
    )
)
