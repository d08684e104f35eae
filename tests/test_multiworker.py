"""MultiWorkerMirroredStrategy: two worker processes on localhost train like one device.

DESIGN.md: multi-worker is how users outgrow one machine, and the custom loop in
`pipeline.training.train` is what makes it work (Keras' fit does not). Two processes
(tests/multiworker_worker.py), each with its own TF_CONFIG and one CPU device, train the
same tiny GANs with the same seed and images; they must end with bit-identical weights,
finite losses, weights that moved from their initial values, and the weights and losses of
one device training the same global batches (so the data is split across workers, not
duplicated or skipped). Only the chief (worker 0) writes checkpoints.
"""

import copy
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipeline.training.build import build_compiled_gan
from pipeline.training.checkpoints import CheckpointStore
from pipeline.training.loop import train
from tests.helpers import assert_losses_alike, assert_weights_alike

WORKER = Path(__file__).with_name("multiworker_worker.py")
MODELS = ("gan", "dcgan")
# Dropout 0: dropout masks are drawn per replica and could not match one device's.
TRAIN = {
    "epochs": 1,
    "steps_per_epoch": 3,
    "batch_size": 8,
    "dropout": 0.0,
    "log_every": 1,
    "checkpoint_every": 2,
    "sample_grid": 2,
}
TIMEOUT = 120.0  # seconds for both workers, start-up included (15-30 s on 2 cores)

_spec = importlib.util.spec_from_file_location("multiworker_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)  # no side effects: the worker's set-up is under __main__


def _free_ports(count: int) -> list[int]:
    """Ports the OS considers free now; all bound at once, so they differ."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _worker_env(cluster: list[str], index: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}  # gRPC reads them
    env.update(
        TF_CONFIG=json.dumps(
            {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}
        ),
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="-1",  # one CPU device per worker, even on a GPU machine
        NO_PROXY="localhost,127.0.0.1",
        no_proxy="localhost,127.0.0.1",
        NO_ALBUMENTATIONS_UPDATE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _tail(path: Path, chars: int = 3000) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no output)"
    return text[-chars:]


class Cluster:
    """What the two workers left behind; `error` is None when both exited 0 in time."""

    def __init__(self, root: Path):
        self.root = root
        self.error: str | None = None
        self.seconds = 0.0

    def out(self, index: int) -> Path:
        return self.root / f"worker{index}"

    def checkpoints(self, index: int) -> Path:
        return self.root / f"checkpoints{index}"

    def log(self, index: int) -> Path:
        return self.root / f"worker{index}.log"

    def result(self, index: int, model: str):
        return np.load(self.out(index) / f"{model}.npz")

    def report(self, headline: str) -> str:
        tails = [f"--- worker {i} output (tail) ---\n{_tail(self.log(i))}" for i in range(2)]
        return "\n".join([headline, *tails])


def _run_cluster(root: Path) -> Cluster:
    cluster = Cluster(root)
    addresses = [f"localhost:{port}" for port in _free_ports(2)]
    overrides = json.dumps(TRAIN)
    processes: list[subprocess.Popen] = []
    started = time.monotonic()
    try:
        for index in range(2):
            cluster.out(index).mkdir()
            out, checkpoints = str(cluster.out(index)), str(cluster.checkpoints(index))
            with open(cluster.log(index), "wb") as log:  # a file: a full pipe would block
                processes.append(
                    subprocess.Popen(
                        [sys.executable, str(WORKER), out, checkpoints, overrides, *MODELS],
                        env=_worker_env(addresses, index),
                        cwd=root,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        # Poll rather than wait on one: a worker that fails leaves its peer blocked in a
        # collective until the timeout, so stop at the first failure.
        while any(p.poll() is None for p in processes):
            failed = [i for i, p in enumerate(processes) if p.poll() not in (None, 0)]
            if failed:
                codes = [p.poll() for p in processes]
                cluster.error = cluster.report(f"worker {failed[0]} failed; exit codes {codes}")
                break
            if time.monotonic() - started > TIMEOUT:
                cluster.error = cluster.report(f"the workers did not finish in {TIMEOUT:.0f} s")
                break
            time.sleep(0.2)
        else:
            codes = [p.returncode for p in processes]
            if codes != [0, 0]:
                cluster.error = cluster.report(f"workers exited with {codes}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        cluster.seconds = time.monotonic() - started
    return cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    """Both workers, trained once for every model of MODELS."""
    return _run_cluster(tmp_path_factory.mktemp("multiworker"))


def _run(model: str):
    return worker.run_config(model, copy.deepcopy(TRAIN))


def _weights(gan) -> list[np.ndarray]:
    return [v.numpy() for v in gan.generator.weights + gan.discriminator.weights]


def _saved_weights(result, gan) -> list[np.ndarray]:
    generator = [result[f"g{i}"] for i in range(len(gan.generator.weights))]
    return generator + [result[f"d{i}"] for i in range(len(gan.discriminator.weights))]


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_two_workers_train_like_one_device(cluster, model, tmp_path):
    assert cluster.error is None, cluster.error
    run = _run(model)
    images = worker.synthetic_images()
    results = [cluster.result(i, model) for i in range(2)]
    for result in results:
        assert int(result["replicas"]) == 2, "one replica per worker"
        assert int(result["steps"]) == TRAIN["epochs"] * TRAIN["steps_per_epoch"]

    # The initial weights, and one device training the same global batches.
    initial = build_compiled_gan(run, images.shape[1:], tf.distribute.get_strategy())
    one = train(
        run,
        images,
        checkpoint_dir=tmp_path / "one",
        strategy=tf.distribute.get_strategy(),
        progress=False,
    )
    names = [v.path for v in one.gan.generator.weights + one.gan.discriminator.weights]
    w0, w1 = (_saved_weights(r, one.gan) for r in results)
    assert len(w0) == len(_weights(initial)) == len(names)

    # The all-reduce hands every worker the same gradients: identical weights and losses.
    for name, a, b in zip(names, w0, w1, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"{name} differs between the workers")
    np.testing.assert_array_equal(results[0]["losses"], results[1]["losses"])
    losses = results[0]["losses"]
    assert losses.shape == (3, 4)
    assert np.isfinite(losses).all(), losses

    # Training moved every weight (and batch-norm statistic) from its initial value.
    for name, start, end in zip(names, _weights(initial), w0, strict=True):
        assert start.shape == end.shape, name
        assert not np.array_equal(start, end), f"{name} did not move"

    # Each worker trained on its half of every global batch: the result is one device's.
    # The tolerances are test_distribute's (Adam turns rounding-level gradients into
    # lr-sized steps, so a few weights may differ by up to the 3-step bound).
    one_losses = np.array(
        [[row[k] for k in ("d_loss", "g_loss", "d_real", "d_fake")] for row in one.history]
    )
    assert_losses_alike(losses, one_losses, run.train.lr)
    assert_weights_alike(_weights(one.gan), w0, bound=3 * 2 * run.train.lr)

    # Only the chief writes checkpoints, and its last one holds the final weights.
    fingerprint = run.fingerprint()
    chief = CheckpointStore(cluster.checkpoints(0) / model, fingerprint).latest()
    assert chief is not None and chief.step == 3
    state = chief.load_state()  # name -> value (pipeline.training.state)
    for name, value in zip(names, w0, strict=True):
        assert any(s.shape == value.shape and np.array_equal(s, value) for s in state.values()), (
            name
        )
    assert CheckpointStore(cluster.checkpoints(1) / model, fingerprint).latest() is None
    assert not (cluster.checkpoints(1) / model).exists(), "a non-chief worker wrote files"
