"""What every adversarial objective shares: its settings and the `Loss` interface.

Conventions (those of pipeline.gans.losses): real = 1, fake = 0; the discriminator (or
critic) outputs logits [b, ...], a single unit [b, 1] or a patch grid [b, h, w, 1];
every loss is per example, [b], the logits flattened to [b, n] and averaged over the n
positions. The caller averages over the *global* batch (`tf.nn.compute_average_loss`),
so the gradient is the same on one device and split across many.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from pipeline.errors import ConfigError
from pipeline.gans.objectives.gradients import r1_penalty
from pipeline.gans.objectives.scores import mean_probability, mean_score, mean_square


@dataclass(frozen=True)
class LossSettings:
    """The hyperparameters of the objectives; each loss reads the ones it uses."""

    gp_weight: float = 10.0  # lambda of wgan_gp's and dragan's gradient penalty
    clip: float = 0.01  # wgan's weight clipping bound c
    r1_gamma: float = 0.0  # R1 on reals added to any loss (0: off)
    drift: float = 0.0  # ProGAN's epsilon: drift * D(x)^2 on the reals keeps a critic near 0

    def __post_init__(self):
        # A negative weight would reward a steep critic, a bound c <= 0 zero every weight.
        if self.gp_weight < 0:
            raise ConfigError(f"gp_weight must be >= 0, got {self.gp_weight}")
        if self.clip <= 0:
            raise ConfigError(f"clip must be > 0, got {self.clip}")
        if self.r1_gamma < 0:
            raise ConfigError(f"r1_gamma must be >= 0, got {self.r1_gamma}")
        if self.drift < 0:
            raise ConfigError(f"drift must be >= 0, got {self.drift}")


DEFAULT_SETTINGS = LossSettings()


class Loss:
    """One adversarial objective: what D and G minimise, what is logged, what is added.

    A subclass sets `name`, `scores_are_probabilities` and `draws`, implements
    `discriminator` and `generator`, and overrides `gradient_penalty` (a penalty of its
    own) or `after_discriminator_update` (e.g. clipping) when it has one.
    """

    name: str = ""
    # True: d_real/d_fake are mean sigmoid(logit), "D(x)"; False: the critic's raw score.
    scores_are_probabilities: bool = True
    # Per-example random numbers `penalty` needs, supplied by the data pipeline:
    #   "alpha": U(0, 1), [b]; "perturbation": U(0, 1), shaped like the D input [b, H, W, C].
    draws: tuple[str, ...] = ()

    def __init__(self, settings: LossSettings = DEFAULT_SETTINGS):
        self.settings = settings

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings})"

    def discriminator(self, real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
        """[b] per-example loss the discriminator minimises."""
        raise NotImplementedError

    def generator(self, fake_logits: tf.Tensor) -> tf.Tensor:
        """[b] per-example loss the generator minimises."""
        raise NotImplementedError

    def report(self, logits: tf.Tensor) -> tf.Tensor:
        """[b]: the logged score, mean sigmoid(logit) or the mean raw score (patch mean)."""
        if self.scores_are_probabilities:
            return mean_probability(logits)
        return mean_score(logits)

    @property
    def has_penalty(self) -> bool:
        """Whether `penalty` adds anything (so the caller can skip building its inputs)."""
        own = type(self).gradient_penalty is not Loss.gradient_penalty
        return own or self.settings.r1_gamma > 0 or self.settings.drift > 0

    def gradient_penalty(self, critic, real_inputs, fake_inputs, draws: dict) -> tf.Tensor | None:
        """[b] this loss's own weighted penalty, or None: the hook a subclass overrides."""
        return None

    def penalty(self, critic, real_inputs, fake_inputs, draws: dict) -> tf.Tensor | None:
        """[b] everything added to D's per-example loss, already weighted, or None.

        The loss's own gradient penalty plus R1 at the reals when `r1_gamma` > 0 and
        ProGAN's drift term when `drift` > 0 (one more pass of D over the reals), so the
        caller makes one call whatever the loss. None (nothing to add) lets it skip the
        extra critic passes. `critic` maps a D input [b, ...] to logits [b, ...].
        """
        terms = [self.gradient_penalty(critic, real_inputs, fake_inputs, draws)]
        if self.settings.r1_gamma > 0:
            terms.append(r1_penalty(critic, real_inputs, self.settings.r1_gamma))
        if self.settings.drift > 0:
            terms.append(self.settings.drift * mean_square(critic(real_inputs)))
        terms = [term for term in terms if term is not None]
        if not terms:
            return None
        return tf.add_n(terms)

    def after_discriminator_update(self, discriminator) -> None:
        """Called after each D update (wgan clips D's weights here); default: nothing."""
        return None
