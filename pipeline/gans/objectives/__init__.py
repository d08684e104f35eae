"""The adversarial objectives: one module per loss, picked by name with `get_loss`.

    loss = get_loss("wgan_gp", LossSettings(gp_weight=10.0))
    d = loss.discriminator(real_logits, fake_logits)             # [b]
    extra = loss.penalty(critic, real, fake, draws)              # [b] or None
    g = loss.generator(fake_logits)                              # [b]
    d_real, d_fake = loss.report(real_logits), loss.report(fake_logits)
    loss.after_discriminator_update(discriminator)               # wgan clips here

Conventions: real = 1; D outputs logits [b, ...] (a patch grid is averaged per example);
every value is per example, [b], for the caller to average over the global batch.
`loss.draws` names the random numbers `penalty` needs ("alpha": U(0, 1) [b];
"perturbation": U(0, 1) shaped like D's input), drawn by the data pipeline so a step is
reproducible and independent of how the batch is split across devices.
"""

from pipeline.gans.objectives.base import Loss, LossSettings
from pipeline.gans.objectives.gradients import gradient_norm, r1_penalty
from pipeline.gans.objectives.registry import LOSSES, get_loss

__all__ = ["LOSSES", "Loss", "LossSettings", "get_loss", "gradient_norm", "r1_penalty"]
