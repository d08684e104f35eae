"""The baseline a semi-supervised discriminator must beat: the same network trained on the
same labelled images alone, with the same budget.

"Same budget" is literal: the same initial weights (train.seed), the same optimizer, and
one update per discriminator update of the GAN run on exactly the labelled images that
run's minibatches carried (pipeline.data.loader.labelled_slots): epochs x steps x k_steps
updates of `labelled_per_batch` images. Only the unlabelled images and the generator's
fakes are missing, which is what the comparison is about.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from pipeline.config import RunConfig
from pipeline.data.labels import TrainingLabels
from pipeline.data.loader import StepPlan, labelled_slots, to_unit_range
from pipeline.training.distribute import precision_policy


def train_baseline(
    run: RunConfig, images: np.ndarray, labels: TrainingLabels, progress: bool = True
):
    """The supervised-only discriminator (a keras.Model) of a classifier family's run."""
    from pipeline.training.build import build_compiled_gan

    cfg = run.train
    plan = StepPlan(len(images), cfg.batch_size, cfg.k_steps, cfg.steps_per_epoch)
    with precision_policy(cfg.precision):
        gan = build_compiled_gan(
            run, images.shape[1:], tf.distribute.get_strategy(), labels.num_classes
        )
        step = tf.function(gan.supervised_step)
        classes = labels.labels
        bar = tqdm(
            total=cfg.epochs * plan.steps_per_epoch,
            desc=f"baseline {run.model}",
            unit="step",
            disable=not progress,
            mininterval=1.0,
            dynamic_ncols=True,
        )
        for epoch in range(cfg.epochs):
            slots = labelled_slots(labels, plan, cfg.seed, epoch)  # [steps, m, k]
            for minibatches in slots:
                for indices in minibatches.T:  # one update per discriminator update
                    step(to_unit_range(images[indices]), tf.constant(classes[indices]))
                bar.update(1)
        bar.close()
    return gan.discriminator
