"""CatGAN: a K-way classifier as the discriminator, trained with entropies (seed 003;
Springenberg 2016, an adversarial extension of RIM).

D has no real/fake output: it is a classifier p(y | x) over K classes (clusters, when no
label is seen). With H the entropy, the global-batch means E, and p_bar the class
marginal (the mean of p(y | .) over the batch):
    D minimises   E_x H[p(y|x)] - H[p_bar_real] - E_z H[p(y|G(z))] + lambda * CE_labelled
                  confident on reals, every class used, uncertain on fakes
    G minimises   E_z H[p(y|G(z))] - H[p_bar_fake]
                  fakes that D classifies confidently, spread over every class
The marginal is taken over the global batch (an all-reduce), as the paper takes it over a
minibatch: fine while the batch is much bigger than K.
Modes (`models.catgan.mode`): unsupervised (no label seen: D clusters; scored by
`clustering_accuracy`) or semi_supervised (`labels_per_class` labels per class and their
cross-entropy, weight `supervised_weight`; scored by `accuracy` too).
Logged: d_real / d_fake are D's mean confidence (max_y p(y|x)) on reals and fakes, and the
four entropies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import keras
import tensorflow as tf

from pipeline.config import AT_LEAST_ONE, check
from pipeline.data.labels import LabelPlan
from pipeline.gans.adversarial import ClassifierGAN
from pipeline.gans.blocks import dcgan
from pipeline.gans.families import STABILIZERS, Family, register
from pipeline.gans.inputs import CLASSIFIER
from pipeline.gans.losses import entropy, supervised_loss


@dataclass(frozen=True)
class Config(dcgan.TrunkConfig):
    """models.catgan.*: the DCGAN trunks' knobs (generator, g_width, d_width) and its own"""

    mode: Literal["unsupervised", "semi_supervised"] = "unsupervised"
    labels_per_class: int = field(default=10, metadata=AT_LEAST_ONE)  # semi_supervised
    labelled_per_batch: int = field(default=32, metadata=AT_LEAST_ONE)  # semi_supervised
    supervised_weight: float = field(default=1.0, metadata=check(lambda v: v >= 0, ">= 0"))


def label_plan(run) -> LabelPlan:
    if run.family.mode == "unsupervised":
        return LabelPlan(per_class=0)  # D never sees a label; K is the dataset's class count
    return LabelPlan(run.family.labels_per_class, run.family.labelled_per_batch)


def build_generator(run, image_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    return dcgan.build_latent_generator(run, image_shape, "catgan")  # G(z), unconditional


def build_discriminator(run, image_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    # [B, K] class logits
    return dcgan.build_classifier(run, image_shape, num_classes, "catgan", with_features=False)


def batch_entropies(logits, global_mean=None) -> tuple[tf.Tensor, tf.Tensor]:
    """H[p(y|x)] per example, [B], and H of the batch's class marginal, a scalar, in nats.
    `global_mean` averages rows over the global batch (the default: this batch's mean)."""
    global_mean = global_mean or (lambda rows: tf.reduce_mean(rows, axis=0))
    p = tf.nn.softmax(tf.cast(logits, tf.float32))  # [B, K]
    return entropy(p), entropy(global_mean(p))


def entropy_terms(real_logits, fake_logits, global_mean=None) -> dict[str, tf.Tensor]:
    """The four entropies of CatGAN's objectives for one batch: h_real / h_fake per
    example, [B]; h_marginal_real / h_marginal_fake of the class marginals, scalars."""
    h_real, h_marginal_real = batch_entropies(real_logits, global_mean)
    h_fake, h_marginal_fake = batch_entropies(fake_logits, global_mean)
    return {
        "h_real": h_real,
        "h_fake": h_fake,
        "h_marginal_real": h_marginal_real,
        "h_marginal_fake": h_marginal_fake,
    }


class CategoricalGAN(ClassifierGAN):
    """D: confident on reals, uncertain on fakes, balanced classes; G: the opposite on fakes."""

    metric_names = (
        "d_loss",
        "g_loss",
        "d_real",
        "d_fake",
        "h_real",
        "h_fake",
        "h_marginal_real",
        "h_marginal_fake",
        "d_supervised",
    )

    def __init__(self, generator, discriminator, *, supervised_weight=1.0, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        self.supervised_weight = supervised_weight

    @staticmethod
    def class_logits(d_output):
        return d_output  # [B, K]

    def _entropies(self, real_out, fake_out) -> dict[str, tf.Tensor]:
        """Replica shares of the four global-batch entropies."""
        terms = entropy_terms(real_out, fake_out, self._global_mean)
        return {
            "h_real": self._average(terms["h_real"]),
            "h_fake": self._average(terms["h_fake"]),
            "h_marginal_real": self._replica_share(terms["h_marginal_real"]),
            "h_marginal_fake": self._replica_share(terms["h_marginal_fake"]),
        }

    def _discriminator_objective(self, real_out, fake_out, labels):
        h = self._entropies(real_out, fake_out)
        supervised = self._labelled_mean(supervised_loss(real_out, labels), labels)
        d_loss = h["h_real"] - h["h_marginal_real"] - h["h_fake"]
        return {
            "d_loss": d_loss + self.supervised_weight * supervised,
            "d_real": self._average(_confidence(real_out)),
            "d_fake": self._average(_confidence(fake_out)),
            "d_supervised": supervised,
            **h,
        }

    def _generator_objective(self, real, labels, fake, fake_out, real_out):
        h_fake, h_marginal = batch_entropies(fake_out, self._global_mean)
        return {"g_loss": self._average(h_fake) - self._replica_share(h_marginal)}


def _confidence(logits) -> tf.Tensor:
    """max_y p(y | x) per example: [B]."""
    return tf.reduce_max(tf.nn.softmax(tf.cast(logits, tf.float32)), axis=-1)


def gan_options(run) -> dict:
    return {"supervised_weight": run.family.supervised_weight}


FAMILY = register(
    Family(
        name="catgan",
        params=Config,
        inputs=CLASSIFIER,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        model=CategoricalGAN,
        stabilizers=STABILIZERS,
        model_options=gan_options,
        losses=(),
        own_objective="catgan (entropies)",
        label_plan=label_plan,
        scores=("classifier_accuracy",),
        summary="CatGAN: entropy objectives, a K-way classifier as D (seed 003)",
    )
)
