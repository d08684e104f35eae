"""One worker of tests/test_multiworker.py: trains tiny GANs under MultiWorkerMirroredStrategy.

A plain process, not pytest: it does not see conftest's two logical CPUs, so it has one
CPU device and the cluster has one replica per worker. The test starts two of these with
the same arguments and their own TF_CONFIG; each calls the project's
`pipeline.training.train` once per model, under one strategy, and writes
<OUT_DIR>/<model>.npz:

    g0.., d0..  the final generator / discriminator weights, in `.weights` order
    losses      [logged rows, 4]: the history's d_loss, g_loss, d_real, d_fake
    steps       the step count `train` returned
    replicas    the strategy's num_replicas_in_sync

Usage: multiworker_worker.py OUT_DIR CHECKPOINT_ROOT TRAIN_OVERRIDES_JSON MODEL [MODEL ...]
(the checkpoints of <model> go to CHECKPOINT_ROOT/<model>).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pipeline.gans.adversarial import METRIC_NAMES  # noqa: E402
from pipeline.gans.families import resolve_run  # noqa: E402
from pipeline.training.distribute import make_strategy  # noqa: E402
from pipeline.training.loop import train  # noqa: E402
from tests.helpers import repo_params  # noqa: E402

IMAGE_SEED = 0
IMAGE_SHAPE = (64, 28, 28, 1)


def synthetic_images() -> np.ndarray:
    """The same uint8 images on every worker (and in the test): a pure function of a seed."""
    return np.random.default_rng(IMAGE_SEED).integers(0, 256, IMAGE_SHAPE, dtype=np.uint8)


def run_config(model: str, overrides: dict):
    """params.yaml with `overrides` applied to train.*, resolved for `model`."""
    return resolve_run(repo_params(**overrides), model)


def main(out_dir: str, checkpoint_root: str, overrides_json: str, *models: str) -> None:
    # First, before any TF op: collective ops can only be configured at startup.
    strategy = make_strategy("multi_worker")
    images = synthetic_images()
    for model in models:
        result = train(
            run_config(model, json.loads(overrides_json)),
            images,
            checkpoint_dir=Path(checkpoint_root) / model,
            strategy=strategy,
            progress=False,
        )
        arrays = {f"g{i}": v.numpy() for i, v in enumerate(result.gan.generator.weights)}
        arrays |= {f"d{i}": v.numpy() for i, v in enumerate(result.gan.discriminator.weights)}
        losses = [[row[name] for name in METRIC_NAMES] for row in result.history]
        np.savez(
            Path(out_dir) / f"{model}.npz",
            losses=np.array(losses, dtype=np.float64).reshape(-1, len(METRIC_NAMES)),
            steps=np.int64(result.steps),
            replicas=np.int64(strategy.num_replicas_in_sync),
            **arrays,
        )


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    # Two workers share a small machine: one thread per op keeps them from oversubscribing
    # it. Not at import: the test imports this module for `synthetic_images`/`run_config`.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(2)
    main(*sys.argv[1:])
