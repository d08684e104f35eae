"""Trains a tiny GAN in its own process for the resume tests; may SIGKILL itself.

usage: python tests/train_worker.py MODEL CHECKPOINT_DIR OUT_NPZ [KILL_AT_STEP]

MODEL is dcgan (random 28x28 images), sgan (the same with labels, so a resumed run must
redraw the same labelled slots), pix2pix (random 32x32 edge/image pairs, with the paired
jitter on, so a resumed run must redraw the same augmentations) or phased (the two-phase
toy of tests/phased_family.py, whose generator grows between its phases, trained with
wgan_gp, whose penalty draws must be drawn again, the averaged generator on and the
learning rates decaying over the last 4 of its 8 steps) or progan
(a tiny one growing 7 -> 14 -> 28 px, its phases ending inside epochs, fade-ins, fresh
optimizers at each phase, the averaged generator on as params.yaml has it) or stylegan
(a tiny one, whose training noise, style mixing and running mean of w must all resume) or
stackgan (a tiny one: stage1 for 6 steps, then stage2 for 2 with Stage I frozen and the
new networks' fresh optimizers, the captions drawn per step) or srgan (a tiny one: 4 steps
of SRResNet alone, then 4 adversarial ones; killed in the second phase).

With KILL_AT_STEP, the process kills itself with SIGKILL right after the checkpoint of
that step is written: a hard kill, no cleanup, as a machine losing power would.
"""

import os
import signal
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pipeline.gans.families import resolve_run  # noqa: E402
from pipeline.training.loop import Callback, train  # noqa: E402
from tests.helpers import TINY_LABELS, repo_params, tiny_labels  # noqa: E402


class KillAt(Callback):
    def __init__(self, step: int):
        self.step = step

    def on_checkpoint(self, step: int) -> None:
        if step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    model, checkpoint_dir, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    callbacks = [KillAt(int(sys.argv[4]))] if len(sys.argv) > 4 else []
    params = repo_params(
        epochs=2, steps_per_epoch=4, batch_size=8, log_every=3, checkpoint_every=5, seed=7
    )
    shape = (64, 28, 28, 1)
    params["models"]["sgan"].update(TINY_LABELS)
    if model == "pix2pix":
        params["models"]["pix2pix"].update(filters=4, d_filters=4, batch_size=8, jitter=True)
        shape = (64, 32, 32, 2)
    if model == "phased":
        from tests.phased_family import family

        family()
        params["train"].update(loss="wgan_gp", ema=0.9, lr_decay=0.5)
    if model == "progan":  # 7px 3 steps, fade-14px 4, 14px 3, fade-28px 4, 28px 3: 17 steps
        params["models"]["progan"].update(
            stable_steps=3, fade_steps=4, filters=8, min_filters=4, batch_size=8
        )
    if model == "stylegan":  # the averaged generator on, style mixing and noise drawn in training
        params["models"]["stylegan"].update(
            filters=8, min_filters=4, w_dim=8, mapping_layers=2, batch_size=8
        )
    if model == "stackgan":  # killed at step 5 in stage1, it must build the same Stage II at 6
        params["models"]["stackgan"].update(stage1_steps=6, stage2_steps=2)
    if model == "srgan":  # killed at step 5, it must come back in the adversarial phase
        params["models"]["srgan"].update(pretrain_steps=4, gan_steps=4, batch_size=8)
        shape = (64, 28, 28, 2)  # stacked (low, high) pairs
    run = resolve_run(params, model)
    images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    result = train(
        run,
        images,
        checkpoint_dir=checkpoint_dir,
        callbacks=callbacks,
        progress=False,
        labels=tiny_labels(run, len(images)),
    )
    weights = result.gan.generator.weights + result.gan.discriminator.weights
    if result.generator is not result.gan.generator:  # the averaged generator too
        weights += result.generator.weights
    np.savez(
        out,
        steps=result.steps,
        resumed_from=result.resumed_from,
        history_steps=[row["step"] for row in result.history],
        history=[
            [row[k] for k in ("d_loss", "g_loss", "d_real", "d_fake")] for row in result.history
        ],
        **{f"w{i}": v.numpy() for i, v in enumerate(weights)},
    )


if __name__ == "__main__":
    main()
