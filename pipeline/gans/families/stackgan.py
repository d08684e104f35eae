"""StackGAN: text to image in two stages (Zhang et al. 2017; seed 000, issue 16).

Fashion-MNIST has labels, not captions, so each class has a few hand-written phrasings
(pipeline/data/captions.yaml); every training image gets one of its class's phrasings
each step, chosen by a per-example U(0, 1) draw of the data pipeline (`caption`, keyed on
(seed, step) like the latents, so a resumed run draws the same captions).

    tokens [B, L] --text_encoder--> phi [B, text_dim]      bag of words: Embedding + masked mean
    noise [B, latent] = [eps (ca_dim) | z (latent - ca_dim)]
    Stage I   c1 = mu1(phi) + sigma1(phi) * eps;  [z, c1] -> rough image [B, 14, 14, C]
    Stage II  c2 = mu2(phi) + sigma2(phi) * eps;  [rough, c2] -> image [B, 28, 28, C]
              (encode at 14 px, join c2 tiled, residual blocks, upsample to 28 px: a
              correction added to the upsampled Stage-I image, zero at the start)

Conditioning augmentation (CA): mu and log sigma are linear in phi; G's loss adds
`kl_weight` x KL(N(mu, sigma^2) || N(0, I)), averaged over the ca_dim dimensions (the
StackGAN code's form, so the weight does not change meaning with ca_dim). Its eps is the
first ca_dim entries of the noise the data pipeline draws anyway, so generator.keras is a
pure function of [noise, tokens]: deterministic at inference, and a resumed run needs no
RNG state. Both stages read the same eps (the paper draws one per stage; one draw ties
the two stages' jitter of a caption, which a two-stage sample shows side by side).

The discriminators are conditioned on the caption through their own bag-of-words encoder
(D must not shape G's encoder): its vector is tiled over D's 7x7 features and
concatenated (the paper's), and it also scores <W text, pooled features> (the projection
term cgan uses, Miyato & Koyama 2018). D1 sees the image average-pooled to 14 (which
undoes the nearest-neighbour upsampling of a Stage-I image exactly); D2 sees 28. D is
matching-aware (the paper's, Reed et al. 2016's GAN-CLS; `mismatch_weight`): each D update
also judges the real images with a caption of another class, as fakes, so D has to judge
whether the image fits its caption, not only whether it looks real.

The phases, each `models.stackgan.stage*_steps` long:
    stage1   G = text_encoder + Stage I, its 14 px image upsampled to 28 (so the loop, the
             FID probe and the previews see 28 px images); D = D1
    stage2   G = text_encoder + Stage I (both frozen, as in the paper) + Stage II; D = D2.
             The new networks get fresh optimizers (the trainer's rule for changed
             variables) and initial weights seeded by train.seed alone, so a run resumed
             from a Stage-I checkpoint builds the same Stage II as one never stopped.
generator.keras is the two-stage generator: inputs [noise, tokens], output 28 px; its
parts are layers `text_encoder`, `stage1` ([noise, phi] -> 14 px) and `stage2`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import NamedTuple

import keras
import tensorflow as tf

from pipeline.config import AT_LEAST_ONE, check
from pipeline.data.captions import has_own_captions, load_captions
from pipeline.data.labels import LabelPlan
from pipeline.errors import ConfigError
from pipeline.gans.adversarial import METRIC_NAMES, AdversarialGAN
from pipeline.gans.blocks.dcgan import condition_planes, start_side
from pipeline.gans.blocks.layers import batch_norm, image_output, leaky_relu, logit_head
from pipeline.gans.captioned import CAPTIONED
from pipeline.gans.families import Family, register
from pipeline.gans.phases import Phase

# The parts of the generator, by layer name (the stage1 metric draws Stage I through them).
TEXT_ENCODER, STAGE1, STAGE2 = "text_encoder", "stage1", "stage2"
CAPTION_DRAW = "caption"  # the data pipeline's per-example U(0, 1) draw of the phrasing
MISMATCH_DRAW = "mismatch"  # ... and of the other class whose caption D gets with a real image


class Judged(NamedTuple):
    """D's outputs on the real images of a D update: with their own captions, and with a
    caption of another class (the matching-aware term's negatives)."""

    matched: tf.Tensor  # [b, 1]
    mismatched: tf.Tensor  # [b, 1]


@dataclass(frozen=True)
class Config:
    """models.stackgan.* (train.epochs is not read: the phases' steps are the budget)"""

    stage1_steps: int = field(default=3500, metadata=AT_LEAST_ONE)  # Stage I alone
    stage2_steps: int = field(default=2000, metadata=AT_LEAST_ONE)  # then Stage II
    text_dim: int = field(default=32, metadata=AT_LEAST_ONE)  # a caption's embedding
    ca_dim: int = field(default=16, metadata=AT_LEAST_ONE)  # c's size (< train.latent_dim)
    kl_weight: float = field(default=0.05, metadata=check(lambda v: v >= 0, ">= 0"))
    # D's share of "real image, wrong caption" among its negatives (the paper's matching-aware
    # D, Reed et al. 2016's GAN-CLS: 0.5); 0 = only fakes are negatives
    mismatch_weight: float = field(default=0.5, metadata=check(lambda v: 0 <= v <= 1, "in [0, 1]"))
    filters: int = field(default=64, metadata=AT_LEAST_ONE)  # G's channels at 14 px
    residual_blocks: int = field(default=2, metadata=check(lambda v: v >= 0, ">= 0"))


def label_plan(run) -> LabelPlan:
    return LabelPlan(per_class=None)  # every image with its class, whose captions it gets


def _captions(run):
    """The run's captions: its dataset's own, or its class names in the default templates
    (read from the dataset file only then)."""
    if has_own_captions(run.data.dataset):
        return load_captions(run.data.dataset)
    from pipeline.data.store import load_dataset

    return load_captions(run.data.dataset, load_dataset(run.data).class_names)


def _check_sizes(run, image_shape) -> int:
    """The Stage-I side (half the image's), after checking the shapes fit."""
    start_side(image_shape, "stackgan")  # square, a multiple of 4: 7 -> 14 -> 28
    if run.family.ca_dim >= run.train.latent_dim:
        raise ConfigError(
            f"models.stackgan.ca_dim ({run.family.ca_dim}) must be below train.latent_dim "
            f"({run.train.latent_dim}): the noise holds the CA's eps and z; lower ca_dim"
        )
    return image_shape[0] // 2


def _conv(filters: int, kernel: int, name: str, strides: int = 1, bias: bool = False):
    # no bias before a BatchNorm (pipeline.gans.blocks.dcgan says why)
    return keras.layers.Conv2D(
        filters, kernel, strides=strides, padding="same", use_bias=bias, name=name
    )


def _bag_of_words(vocab_size: int, width: int, prefix: str) -> keras.Sequential:
    """token ids [B, L] (0 = padding) -> the mean of their embeddings [B, width].

    Word vectors start N(0, 1), not Keras' U(-0.05, 0.05): a caption's vector then starts
    as large as the CA's noise, so the text reaches G and D from the first step instead
    of being drowned by eps until the encoder grows it."""
    return keras.Sequential(
        [
            keras.layers.Embedding(
                vocab_size + 1,
                width,
                mask_zero=True,
                embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
                name=f"{prefix}_embed",
            ),
            keras.layers.GlobalAveragePooling1D(name=f"{prefix}_mean"),  # the mask: words only
        ],
        name=f"{prefix}_bag_of_words",
    )


def text_encoder(run, vocab_size: int) -> keras.Model:
    """G's caption encoder: tokens [B, L] int32 -> phi [B, text_dim]."""
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    phi = _bag_of_words(vocab_size, run.family.text_dim, "g_text")(tokens)  # [B, text_dim]
    return keras.Model(tokens, phi, name=TEXT_ENCODER)


def _augmented_condition(run, phi, noise):
    """c = mu(phi) + exp(log_sigma(phi)) * eps, eps = noise[:, :ca_dim]: [B, ca_dim]. The
    layers `ca_mu`, `ca_log_sigma` are what the KL term reads (StackGAN.kl)."""
    ca = run.family.ca_dim
    mu = keras.layers.Dense(ca, name="ca_mu")(phi)  # [B, ca]
    log_sigma = keras.layers.Dense(ca, name="ca_log_sigma")(phi)  # [B, ca]
    sigma = keras.layers.Activation("exponential", name="ca_sigma")(log_sigma)
    jitter = keras.layers.Multiply(name="ca_jitter")([sigma, noise[:, :ca]])
    return keras.layers.Add(name="ca_c")([mu, jitter])  # [B, ca]


def _inputs(run):
    noise = keras.Input((run.train.latent_dim,), name="noise")  # [B, latent] = [eps | z]
    phi = keras.Input((run.family.text_dim,), name="text")  # [B, text_dim]
    return noise, phi


def stage1_model(run, image_shape) -> keras.Model:
    """Stage I: [noise, phi] -> a rough image at half the side, [B, 14, 14, C] in [-1, 1]."""
    side, channels, f = _check_sizes(run, image_shape), image_shape[-1], run.family.filters
    noise, phi = _inputs(run)
    c = _augmented_condition(run, phi, noise)
    code = keras.layers.Concatenate(name="g1_code")([noise[:, run.family.ca_dim :], c])
    x = keras.layers.Dense((side // 2) ** 2 * 2 * f, use_bias=False, name="g1_project")(code)
    x = keras.layers.Reshape((side // 2, side // 2, 2 * f), name="g1_reshape")(x)  # [B, 7, 7, 2f]
    x = keras.layers.ReLU(name="g1_act0")(batch_norm(name="g1_bn0")(x))
    x = keras.layers.UpSampling2D(name="g1_up")(x)  # [B, 14, 14, 2f]
    for i in (1, 2):
        x = _conv(f, 3, f"g1_conv{i}")(x)
        x = keras.layers.ReLU(name=f"g1_act{i}")(batch_norm(name=f"g1_bn{i}")(x))  # [B, 14, 14, f]
    x = _conv(channels, 3, "g1_to_image", bias=True)(x)
    return keras.Model([noise, phi], image_output("g1_image")(x), name=STAGE1)  # [B, 14, 14, C]


def _residual_block(x, width: int, name: str):
    """x + (conv BN ReLU conv BN)(x), then ReLU (the paper's ResBlock)."""
    h = _conv(width, 3, f"{name}_conv1")(x)
    h = keras.layers.ReLU(name=f"{name}_act1")(batch_norm(name=f"{name}_bn1")(h))
    h = batch_norm(name=f"{name}_bn2")(_conv(width, 3, f"{name}_conv2")(h))
    return keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([x, h]))


def stage2_model(run, image_shape) -> keras.Model:
    """Stage II: [Stage-I image, noise, phi] -> the image [B, 28, 28, C] in [-1, 1]:
    encode the rough image at 14 px, join c tiled, residual blocks, upsample to 28 px, and
    add the result to the upsampled Stage-I image in tanh's input space. Its last conv
    starts at zero, so Stage II starts as Stage I upsampled and learns a correction."""
    side, channels, f = _check_sizes(run, image_shape), image_shape[-1], run.family.filters
    rough = keras.Input((side, side, channels), name="stage1_image")  # [B, 14, 14, C]
    noise, phi = _inputs(run)
    c = _augmented_condition(run, phi, noise)  # [B, ca]
    x = keras.layers.ReLU(name="g2_act0")(_conv(f, 3, "g2_conv0", bias=True)(rough))
    planes = condition_planes(c, side, "g2_c_planes")  # [B, 14, 14, ca]
    x = keras.layers.Concatenate(name="g2_joint")([x, planes])  # [B, 14, 14, f + ca]
    x = _conv(f, 3, "g2_joint_conv")(x)
    x = keras.layers.ReLU(name="g2_joint_act")(batch_norm(name="g2_joint_bn")(x))  # [B, 14, 14, f]
    for i in range(run.family.residual_blocks):
        x = _residual_block(x, f, f"g2_res{i + 1}")  # [B, 14, 14, f]
    x = keras.layers.UpSampling2D(name="g2_up")(x)  # [B, 28, 28, f]
    x = _conv(max(1, f // 2), 3, "g2_up_conv")(x)
    x = keras.layers.ReLU(name="g2_up_act")(batch_norm(name="g2_up_bn")(x))  # [B, 28, 28, f/2]
    correction = keras.layers.Conv2D(
        channels, 3, padding="same", kernel_initializer="zeros", name="g2_correction"
    )(x)  # [B, 28, 28, C], 0 at the start
    # The Stage-I path stays in float32 under a mixed policy: arctanh near +-1 in 16 bits
    # would be coarse, and nearest upsampling is exact in either type.
    base = keras.layers.UpSampling2D(dtype="float32", name="g2_stage1_up")(rough)  # [B, 28, 28, C]
    # tanh's input of the Stage-I image (clipped off +-1, where arctanh is infinite)
    base = keras.ops.arctanh(keras.ops.clip(base, -0.999, 0.999))
    image = keras.layers.Add(dtype="float32", name="g2_refined")([base, correction])
    return keras.Model([rough, noise, phi], image_output("g2_image")(image), name=STAGE2)


def _generator(run, encoder, stage1, stage2=None) -> keras.Model:
    """G(noise, tokens): Stage I upsampled to the full side, or with `stage2` its image."""
    noise = keras.Input((run.train.latent_dim,), name="noise")  # [B, latent]
    tokens = keras.Input((None,), dtype="int32", name="tokens")  # [B, L], 0 = padding
    phi = encoder(tokens)  # [B, text_dim]
    rough = stage1([noise, phi])  # [B, 14, 14, C]
    if stage2 is None:  # nearest neighbours: D1's average pooling undoes it exactly
        # float32 as every generator's image (a mixed policy would round it to 16 bits)
        image = keras.layers.UpSampling2D(2, dtype="float32", name="stage1_to_full")(rough)
    else:
        image = stage2([rough, noise, phi])  # [B, 28, 28, C]
    return keras.Model([noise, tokens], image, name="generator")


def build_generator(run, image_shape, num_classes: int = 0) -> keras.Model:
    """The Stage-I generator the first phase trains."""
    vocab = len(_captions(run).vocabulary)
    return _generator(run, text_encoder(run, vocab), stage1_model(run, image_shape))


def build_discriminator_at(run, image_shape, stage: int) -> keras.Model:
    """D(image [B, 28, 28, C], tokens [B, L]) -> logit [B, 1]: D1 judges the image
    average-pooled to 14 px, D2 the full image. The caption (D's own encoding) enters
    three times: tiled beside the image (as cgan's label planes), tiled beside the 7 px
    features (the paper's), and as a projection onto the flattened features (cgan's)."""
    side, f, rate = _check_sizes(run, image_shape), run.family.filters, run.train.dropout
    vocab = len(_captions(run).vocabulary)
    image = keras.Input(image_shape, name="image")  # [B, 28, 28, C]
    tokens = keras.Input((None,), dtype="int32", name="tokens")  # [B, L]
    text = _bag_of_words(vocab, run.family.text_dim, "d_text")(tokens)  # [B, text_dim]
    text = keras.layers.Dense(run.family.ca_dim, name="d_text")(text)
    text = leaky_relu(name="d_text_act")(text)  # [B, ca]
    x = image
    if stage == 1:
        x = keras.layers.AveragePooling2D(2, name="d_to_stage1")(x)  # [B, 14, 14, C]
    input_planes = condition_planes(text, x.shape[1], "d_input_planes")  # [B, s, s, ca]
    x = keras.layers.Concatenate(name="d_input")([x, input_planes])  # [B, s, s, C + ca]
    strides = 1 if stage == 1 else 2
    x = keras.layers.Conv2D(f, 4, strides=strides, padding="same", name="d_conv1")(x)
    x = leaky_relu(name="d_act1")(x)  # [B, 14, 14, f]
    x = keras.layers.Dropout(rate, name="d_dropout1")(x)
    x = _conv(2 * f, 4, "d_conv2", strides=2)(x)  # [B, 7, 7, 2f]
    x = leaky_relu(name="d_act2")(batch_norm(name="d_bn2")(x))
    x = keras.layers.Dropout(rate, name="d_dropout2")(x)
    planes = condition_planes(text, side // 2, "d_text_planes")  # [B, 7, 7, ca]
    x = keras.layers.Concatenate(name="d_joint")([x, planes])  # [B, 7, 7, 2f + ca]
    x = _conv(2 * f, 1, "d_joint_conv")(x)
    x = leaky_relu(name="d_joint_act")(batch_norm(name="d_joint_bn")(x))  # [B, 7, 7, 2f]
    features = keras.layers.Flatten(name="d_features")(x)  # [B, 98 f]
    logit = logit_head()(features)  # [B, 1]
    width = features.shape[-1]
    projected = keras.layers.Dense(width, dtype="float32", name="d_projection")(text)  # [B, 98 f]
    match = keras.layers.Dot(axes=1, dtype="float32", name="d_match")([projected, features])
    logit = keras.layers.Add(dtype="float32", name="d_logit")([logit, match])  # [B, 1]
    return keras.Model([image, tokens], logit, name="discriminator")


def build_discriminator(run, image_shape, num_classes: int = 0) -> keras.Model:
    return build_discriminator_at(run, tuple(image_shape), 1)


def _stage_seed(run, name: str) -> int:
    """The RNG seed a phase builds its new layers with: train.seed and the phase alone."""
    return zlib.crc32(f"{run.train.seed}/{name}".encode()) % (2**31)


def enter_stage2(run, gan, image_shape) -> None:
    """Freeze the text encoder and Stage I, add Stage II and swap D1 for D2."""
    encoder = gan.generator.get_layer(TEXT_ENCODER)
    stage1 = gan.generator.get_layer(STAGE1)
    encoder.trainable = stage1.trainable = False  # BatchNorm then uses its moving statistics
    keras.utils.set_random_seed(_stage_seed(run, STAGE2))  # not the RNG's state at this step
    gan.generator = _generator(run, encoder, stage1, stage2_model(run, image_shape))
    gan.discriminator = build_discriminator_at(run, image_shape, 2)


def phases(run, image_shape):
    cfg = run.family
    shape = tuple(image_shape)
    return (
        Phase(STAGE1, steps=cfg.stage1_steps),
        Phase(STAGE2, steps=cfg.stage2_steps, enter=lambda gan: enter_stage2(run, gan, shape)),
    )


def kl_divergence(mu: tf.Tensor, log_sigma: tf.Tensor) -> tf.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per dimension, averaged over the dimensions: [B].

    Per dimension: (mu^2 + sigma^2 - 1) / 2 - log sigma."""
    per_dim = 0.5 * (tf.square(mu) + tf.exp(2.0 * log_sigma) - 1.0) - log_sigma
    return tf.reduce_mean(per_dim, axis=-1)


class StackGAN(AdversarialGAN):
    """G(noise, tokens) against D(image, tokens); a batch's labels become caption numbers
    (the class's phrasing picked by the `caption` draw) before the shared train step."""

    def __init__(
        self,
        generator,
        discriminator,
        *,
        captions,
        kl_weight: float,
        mismatch_weight: float = 0.0,
        **kwargs,
    ):
        super().__init__(generator, discriminator, **kwargs)
        self.kl_weight = float(kl_weight)
        self.mismatch_weight = float(mismatch_weight)
        if captions.num_classes < 2:
            self.mismatch_weight = 0.0  # no other class to take a wrong caption from
        self.caption_tokens = tf.constant(captions.tokens)  # int32 [P, L]
        self.first_caption = tf.constant(captions.first)  # int32 [K]
        self.caption_count = tf.constant(captions.counts)  # int32 [K]
        self.caption_class = tf.constant(captions.caption_class)  # int32 [P]
        self.num_classes = captions.num_classes
        # d_mismatch: D's mean score of real images with a wrong caption (as d_real's)
        mismatch = ("d_mismatch",) if self.mismatch_weight else ()
        self.metric_names = (*METRIC_NAMES, *mismatch, "kl")

    @property
    def draws(self) -> tuple[str, ...]:
        mismatch = (MISMATCH_DRAW,) if self.mismatch_weight else ()
        return (*super().draws, CAPTION_DRAW, *mismatch)

    def caption_numbers(self, classes: tf.Tensor, draw: tf.Tensor) -> tf.Tensor:
        """Each example's caption: phrasing floor(u * n_class) of its class ([b, k])."""
        count = tf.gather(self.caption_count, classes)
        phrasing = tf.minimum(tf.cast(draw * tf.cast(count, tf.float32), tf.int32), count - 1)
        return tf.gather(self.first_caption, classes) + phrasing

    def train_step(self, data):
        if not isinstance(data, dict):  # (real, noise, labels), as tests build it
            data = dict(zip(("real", "noise", "labels"), data, strict=False))
        # A batch without the draws (a test's) gets u = 0: each class's first phrasing,
        # and the next class as the wrong one.
        for name in (CAPTION_DRAW, MISMATCH_DRAW):
            if name in self.draws and name not in data:
                data = {**data, name: tf.zeros(tf.shape(data["labels"]), tf.float32)}
        captions = self.caption_numbers(data["labels"], data[CAPTION_DRAW])
        return super().train_step({**data, "labels": captions})

    def wrong_captions(self, captions: tf.Tensor, draws: dict) -> tf.Tensor:
        """For each caption, one of another class: the class k + 1 + floor(u (K - 1)) mod
        K, u the mismatch draw, and its phrasing by the caption draw ([b])."""
        others = self.num_classes - 1
        shift = tf.minimum(tf.cast(draws[MISMATCH_DRAW] * others, tf.int32), others - 1)
        wrong = (tf.gather(self.caption_class, captions) + 1 + shift) % self.num_classes
        return self.caption_numbers(wrong, draws[CAPTION_DRAW])

    def _judge(self, real, captions, fake, draws=None):
        """With the matching-aware term, a D update also judges the real images with wrong
        captions: (real, fake, real) in one pass over [3b, ...] or three (separate)."""
        if not (draws and MISMATCH_DRAW in draws):  # off, or G's own judgement
            return super()._judge(real, captions, fake, draws)
        fake_inputs = self._discriminator_input(real, captions, fake)
        wrong = self.wrong_captions(captions, draws)
        matched, fake_out, mismatched = self._discriminate_each(
            [real, fake_inputs, real], [captions, captions, wrong]
        )
        return Judged(matched, mismatched), fake_out

    def _discriminator_objective(self, real_out, fake_out, labels):
        """GAN-CLS: (1 - w) x the loss on (real, fake) + w x the loss on (real, real with a
        wrong caption); for the loss's real and fake terms that is the real term plus the
        negatives' weighted as (1 - w) fake + w mismatched (w = 0.5: the paper's)."""
        if not isinstance(real_out, Judged):
            return super()._discriminator_objective(real_out, fake_out, labels)
        w = self.mismatch_weight
        report = super()._discriminator_objective(real_out.matched, fake_out, labels)
        wrong = super()._discriminator_objective(real_out.matched, real_out.mismatched, labels)
        d_loss = (1.0 - w) * report["d_loss"] + w * wrong["d_loss"]
        return {**report, "d_loss": d_loss, "d_mismatch": wrong["d_fake"]}

    def _tokens(self, captions):
        return tf.gather(self.caption_tokens, captions)  # [b, L]

    def _generate(self, real, captions, z):
        return self.generator([z, self._tokens(captions)], training=True)  # [b, H, W, C]

    def _discriminate(self, images, captions):
        return self.discriminator([images, self._tokens(captions)], training=True)  # [2b, 1]

    def trained_stage(self) -> keras.Model:
        """The stage this phase trains: Stage II once it exists, else Stage I."""
        names = {layer.name for layer in self.generator.layers}
        return self.generator.get_layer(STAGE2 if STAGE2 in names else STAGE1)

    def kl(self, captions) -> tf.Tensor:
        """The trained stage's CA term for these captions: per example [b]."""
        phi = self.generator.get_layer(TEXT_ENCODER)(self._tokens(captions), training=True)
        stage = self.trained_stage()
        mu = stage.get_layer("ca_mu")(phi)  # 16 bits under a mixed policy: the loss is float32
        log_sigma = stage.get_layer("ca_log_sigma")(phi)
        return kl_divergence(tf.cast(mu, tf.float32), tf.cast(log_sigma, tf.float32))

    def _generator_objective(self, real, captions, fake, fake_out, real_out):
        report = super()._generator_objective(real, captions, fake, fake_out, real_out)
        kl = self._average(self.kl(captions))
        return {**report, "g_loss": report["g_loss"] + self.kl_weight * kl, "kl": kl}

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)


def model_options(run) -> dict:
    cfg = run.family
    return {
        "captions": _captions(run),
        "kl_weight": cfg.kl_weight,
        "mismatch_weight": cfg.mismatch_weight,
    }


FAMILY = register(
    Family(
        name="stackgan",
        params=Config,
        inputs=CAPTIONED,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        model=StackGAN,
        model_options=model_options,
        label_plan=label_plan,
        phases=phases,
        # No replay (a past fake would be judged with this minibatch's captions), and no
        # batch-statistic layers: the text-conditioned head is the family's own.
        stabilizers=(),
        scores=("conditional_accuracy", "stage1"),
        summary="two-stage text-to-image GAN with conditioning augmentation (issue 16)",
    )
)
