"""Semi-supervised GAN: a discriminator that classifies into K classes + "fake" (seed 003;
Odena 2016, Salimans et al. 2016).

The point is the discriminator: trained on a few labelled images and many unlabelled ones,
with the generator's fakes as a third source, it should classify better than the same
network trained on the labelled images alone (`baseline_accuracy`, pipeline.training.baseline).

Discriminator  DCGAN's trunk -> Dense(K + 1) logits (K classes, then fake), and the trunk's
               flattened features as a second output (for feature matching).
Generator      DCGAN's, unconditional.
D's loss, each term a mean over its own rows:
    supervised     cross-entropy of the labelled real rows over the K classes (labels
                   hidden elsewhere); `supervised_weight` scales it
    unsupervised   -log P(real | x) on every real row, -log P(fake | G(z)) on the fakes:
                   the GAN loss on the logit LSE(l_1..l_K) - l_fake (losses.real_fake_logit)
G's loss (`models.sgan.g_objective`):
    feature_matching  ||mean f(x) - mean f(G(z))||^2 over the global batch (Salimans et
                      al.: G matches the statistics D's features see in the reals)
    adversarial       train.loss on the real/fake logit, as a plain GAN
Labels: `labels_per_class` per class, drawn with train.seed (pipeline.data.labels); each
minibatch's last `labelled_per_batch` slots are images of that subset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import keras

from pipeline.config import AT_LEAST_ONE, check
from pipeline.data.labels import LabelPlan
from pipeline.gans.adversarial import METRIC_NAMES, ClassifierGAN
from pipeline.gans.blocks import dcgan
from pipeline.gans.families import STABILIZERS, Family, register
from pipeline.gans.inputs import CLASSIFIER
from pipeline.gans.losses import feature_matching, real_fake_logit, supervised_loss


@dataclass(frozen=True)
class Config(dcgan.TrunkConfig):
    """models.sgan.*: the DCGAN trunks' knobs (generator, g_width, d_width) and its own"""

    labels_per_class: int = field(default=10, metadata=AT_LEAST_ONE)  # 10: 100 labels
    labelled_per_batch: int = field(default=32, metadata=AT_LEAST_ONE)
    g_objective: Literal["feature_matching", "adversarial"] = "feature_matching"
    supervised_weight: float = field(default=1.0, metadata=check(lambda v: v >= 0, ">= 0"))


def label_plan(run) -> LabelPlan:
    return LabelPlan(run.family.labels_per_class, run.family.labelled_per_batch)


def build_generator(run, image_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    return dcgan.build_latent_generator(run, image_shape, "sgan")  # G(z), unconditional


def build_discriminator(run, image_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    # [B, K + 1] logits (K classes, then fake) and [B, F] features
    return dcgan.build_classifier(run, image_shape, num_classes + 1, "sgan", with_features=True)


class SemiSupervisedGAN(ClassifierGAN):
    """K+1-way discriminator: supervised on the labelled rows, real/fake on every row."""

    metric_names = (*METRIC_NAMES, "d_supervised", "d_unsupervised")

    def __init__(self, generator, discriminator, *, g_objective, supervised_weight, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        self.g_objective = g_objective
        self.supervised_weight = supervised_weight
        self.generator_sees_real = g_objective == "feature_matching"

    def _discriminator_objective(self, real_out, fake_out, labels):
        (real_logits, _), (fake_logits, _) = real_out, fake_out
        real_s, fake_s = real_fake_logit(real_logits), real_fake_logit(fake_logits)
        unsupervised = self._average(self.loss.discriminator(real_s, fake_s))
        class_loss = supervised_loss(self.class_logits(real_out), labels)
        supervised = self._labelled_mean(class_loss, labels)
        return {
            "d_loss": unsupervised + self.supervised_weight * supervised,
            "d_real": self._average(self.loss.report(real_s)),  # P(real | x)
            "d_fake": self._average(self.loss.report(fake_s)),  # P(real | G(z))
            "d_supervised": supervised,
            "d_unsupervised": unsupervised,
        }

    def _generator_objective(self, real, labels, fake, fake_out, real_out):
        fake_logits, fake_features = fake_out
        if self.g_objective == "adversarial":
            loss = self.loss.generator(real_fake_logit(fake_logits))
            return {"g_loss": self._average(loss)}
        real_mean = self._global_mean(real_out[1])  # [F], the same on every replica
        fake_mean = self._global_mean(fake_features)
        return {"g_loss": self._replica_share(feature_matching(real_mean, fake_mean))}

    @staticmethod
    def class_logits(d_output):
        return d_output[0][:, :-1]  # [B, K]: the fake logit dropped


def gan_options(run) -> dict:
    return {
        "g_objective": run.family.g_objective,
        "supervised_weight": run.family.supervised_weight,
    }


FAMILY = register(
    Family(
        name="sgan",
        params=Config,
        inputs=CLASSIFIER,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        model=SemiSupervisedGAN,
        stabilizers=STABILIZERS,
        model_options=gan_options,
        losses=("nonsaturating", "minimax"),
        own_objective="sgan (K+1 classes)",
        label_plan=label_plan,
        scores=("classifier_accuracy",),
        summary="semi-supervised GAN: a K+1-way discriminator (seed 003)",
    )
)
