"""Conditional GAN: the class label fed to both networks (seed 003; Mirza & Osindero 2014).

G(z, y) draws an image of class y; D(x, y) judges whether x is a real image *of class y*,
so a generator that ignores y is caught by D pairing its image with the wrong class. The
trunks are DCGAN's (`models.cgan.generator: upsample | transposed`); what differs is how
the label y enters (`models.cgan.label_input`):
    onehot     the paper's: G gets [z, onehot(y)]; D gets the image with K constant planes,
               plane y of ones, the others zeros ([B, H, W, C + K])
    embedding  G gets [z, E_g(y)] (a learned `embedding_dim` vector per class); D gets the
               image with one extra plane, a learned H x W map per class ([B, H, W, C + 1])
With `models.cgan.projection` D also adds <E_d(y), f(x)> to its logit, f(x) being the
trunk's features and E_d a learned vector per class (the projection discriminator of Miyato
& Koyama 2018): y then acts on D's judgement directly, not only through the first conv.
The fakes of a step are asked for the classes of the real minibatch beside them, so D sees
each class as often among the fakes as among the reals (the data's class mix).

The generator is a two-input model: `generator([z, labels])`, labels int32 [B].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import keras

from pipeline.config import AT_LEAST_ONE
from pipeline.data.labels import LabelPlan
from pipeline.gans.adversarial import AdversarialGAN
from pipeline.gans.blocks.dcgan import (
    TrunkConfig,
    condition_planes,
    discriminator_trunk,
    generator_trunk,
    start_side,
)
from pipeline.gans.blocks.layers import logit_head
from pipeline.gans.blocks.stabilizers import BatchFeatures
from pipeline.gans.families import Family, register
from pipeline.gans.inputs import CONDITIONAL


@dataclass(frozen=True)
class Config(TrunkConfig):
    """models.cgan.*: the DCGAN trunks' knobs (generator, g_width, d_width) and its own"""

    label_input: Literal["onehot", "embedding"] = "onehot"
    embedding_dim: int = field(default=50, metadata=AT_LEAST_ONE)  # label_input: embedding
    projection: bool = True  # D's logit also gets <E_d(y), features(x)>


def label_plan(run) -> LabelPlan:
    return LabelPlan(per_class=None)  # every real image with its class


def _one_hot(num_classes: int, name: str) -> keras.layers.Layer:
    """int labels [B] -> one-hot [B, K] (built-in layers only: the saved generator loads
    with nothing but Keras)."""
    return keras.layers.CategoryEncoding(num_classes, output_mode="one_hot", name=name)


def _label_input() -> keras.KerasTensor:
    return keras.Input((), dtype="int32", name="label")  # [B] class indices


def build_generator(run, image_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    cfg = run.family
    z = keras.Input((run.train.latent_dim,), name="z")  # [B, latent]
    label = _label_input()
    if cfg.label_input == "onehot":
        code = _one_hot(num_classes, "g_onehot")(label)  # [B, K]
    else:
        code = keras.layers.Embedding(num_classes, cfg.embedding_dim, name="g_embed")(label)
    x = keras.layers.Concatenate(name="g_condition")([z, code])  # [B, latent + K or E]
    image = generator_trunk(x, image_shape, cfg.generator, "cgan", cfg.g_width)  # [B, H, W, C]
    return keras.Model([z, label], image, name="generator")


def build_discriminator(run, image_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    cfg = run.family
    side = start_side(image_shape, "cgan") * 4
    image = keras.Input(image_shape, name="image")  # [B, H, W, C]
    label = _label_input()
    if cfg.label_input == "onehot":
        onehot = _one_hot(num_classes, "d_onehot")(label)  # [B, K]
        planes = condition_planes(onehot, side, "d_planes")  # [B, H, W, K]
    else:  # a learned H x W plane per class
        vector = keras.layers.Embedding(num_classes, side * side, name="d_embed")(label)
        planes = keras.layers.Reshape((side, side, 1), name="d_plane")(vector)  # [B, H, W, 1]
    x = keras.layers.Concatenate(name="d_condition")([image, planes])  # [B, H, W, C + K or 1]
    features = discriminator_trunk(
        x, cfg.generator, run.train.dropout, BatchFeatures.of(run), cfg.d_width
    )  # [B, F]
    logit = logit_head()(features)  # [B, 1]
    if cfg.projection:
        width = features.shape[-1]
        class_vector = keras.layers.Embedding(
            num_classes, width, dtype="float32", name="d_projection"
        )(label)  # [B, F]
        match = keras.layers.Dot(axes=1, dtype="float32", name="d_match")([class_vector, features])
        logit = keras.layers.Add(dtype="float32", name="d_logit")([logit, match])  # [B, 1]
    return keras.Model([image, label], logit, name="discriminator")


class ConditionalGAN(AdversarialGAN):
    """G(z, y) against D(x, y); the losses are the unconditional ones."""

    def _generate(self, real, labels, z):
        return self.generator([z, labels], training=True)  # [b, H, W, C] of classes `labels`

    def _discriminate(self, images, labels):
        return self.discriminator([images, labels], training=True)  # [2b, 1]

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)


FAMILY = register(
    Family(
        name="cgan",
        params=Config,
        inputs=CONDITIONAL,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        model=ConditionalGAN,
        # No replay: a past fake would be judged with the current minibatch's labels.
        stabilizers=("minibatch_std", "minibatch_discrimination"),
        label_plan=label_plan,
        scores=("conditional_accuracy",),
        summary="conditional GAN: the label fed to both networks (seed 003)",
    )
)
