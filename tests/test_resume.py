"""A run killed with SIGKILL resumes from its checkpoint and ends as if never stopped."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("train_worker.py")
REPO = Path(__file__).resolve().parents[1]


def _run(*args, expect=0):
    result = subprocess.run(
        [sys.executable, str(WORKER), *map(str, args)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == expect, result.stderr[-2000:]
    return result


def _weights(npz):
    with np.load(npz) as data:
        return [
            data[k]
            for k in sorted((k for k in data.files if k.startswith("w")), key=lambda k: int(k[1:]))
        ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "model", ["dcgan", "sgan", "pix2pix", "phased", "stylegan", "stackgan", "srgan"]
)
def test_killed_run_resumes_to_the_same_weights(tmp_path, model):
    _run(model, tmp_path / "straight", tmp_path / "straight.npz")

    # 2 epochs x 4 steps, checkpoints every 5 steps and at epoch ends, a logged point every
    # 3 steps and at epoch ends: killed after step 5, mid-epoch 2, with step 5's losses
    # waiting in the logging window.
    _run(model, tmp_path / "killed", tmp_path / "never.npz", 5, expect=-signal.SIGKILL)
    assert not (tmp_path / "never.npz").exists()
    # the newest two are kept: step 5's and the epoch end's before it
    assert sorted(p.name for p in (tmp_path / "killed").iterdir()) == [
        "ckpt-000000004",
        "ckpt-000000005",
    ]

    _run(model, tmp_path / "killed", tmp_path / "resumed.npz")

    straight, resumed = np.load(tmp_path / "straight.npz"), np.load(tmp_path / "resumed.npz")
    assert int(resumed["resumed_from"]) == 5
    assert int(resumed["steps"]) == int(straight["steps"]) == 8
    # the loss history survives the kill: the same points with the same values
    assert list(resumed["history_steps"]) == list(straight["history_steps"]) == [3, 4, 6, 8]
    np.testing.assert_array_equal(resumed["history"], straight["history"])
    for a, b in zip(
        _weights(tmp_path / "straight.npz"), _weights(tmp_path / "resumed.npz"), strict=True
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("kill_at, before", [(5, 4), (12, 10)])
def test_progan_killed_in_a_fade_in_resumes_to_the_same_weights(tmp_path, kill_at, before):
    """ProGAN's phases: 7px [0, 3), fade-14px [3, 7), 14px [7, 10), fade-28px [10, 14),
    28px [14, 17). Killed at step 5 or 12 (mid fade-in, alpha 0.5), it must rebuild the
    grown networks, their fade-in weights, fresh optimizers and averaged generator, and
    end where a run never killed ends. The checkpoint `before` it is kept too."""
    _run("progan", tmp_path / "straight", tmp_path / "straight.npz")
    _run("progan", tmp_path / "killed", tmp_path / "never.npz", kill_at, expect=-signal.SIGKILL)
    assert sorted(p.name for p in (tmp_path / "killed").iterdir()) == [
        f"ckpt-{before:09d}",
        f"ckpt-{kill_at:09d}",
    ]
    _run("progan", tmp_path / "killed", tmp_path / "resumed.npz")

    straight, resumed = np.load(tmp_path / "straight.npz"), np.load(tmp_path / "resumed.npz")
    assert int(resumed["resumed_from"]) == kill_at
    assert int(resumed["steps"]) == int(straight["steps"]) == 17
    assert list(resumed["history_steps"]) == list(straight["history_steps"])
    np.testing.assert_array_equal(resumed["history"], straight["history"])
    for a, b in zip(
        _weights(tmp_path / "straight.npz"), _weights(tmp_path / "resumed.npz"), strict=True
    ):
        np.testing.assert_array_equal(a, b)


REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


def _real_dcgan_repo(folder: Path, dataset: Path | None) -> Path:
    """A working directory training the default dcgan (params.yaml's, batch 32) on
    Fashion-MNIST for 60 steps, checkpointing every 20; `dataset` is copied in, else
    fetched from the Debian package's files."""
    import shutil

    import yaml

    from pipeline.config import load_params

    params = load_params(REPO / "params.yaml")
    params["data"]["cache_dir"] = str(folder / "cache")
    params["train"].update(epochs=1, steps_per_epoch=60, checkpoint_every=20, log_every=5)
    params["train"]["fid_every"] = 0  # no evaluator needed
    for key in ("epochs", "steps_per_epoch"):  # the model's own budget would override these
        params["models"]["dcgan"].pop(key, None)
    folder.mkdir()
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    if dataset is None:
        _cli(folder, "fetch")
    else:
        (folder / "data" / "raw").mkdir(parents=True)
        shutil.copy(dataset, folder / "data" / "raw" / "dataset.npz")
    return folder


def _cli_command(*args) -> list[str]:
    return [sys.executable, "-m", "pipeline", "--no-progress", *args]


def _cli_env() -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TF_NUM_INTEROP_THREADS", None)  # params.yaml's train.inter_op_threads decides
    return env


def _cli(folder: Path, *args) -> str:
    done = subprocess.run(
        _cli_command(*args), cwd=folder, env=_cli_env(), capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _saved_weights(folder: Path) -> list:
    """Every weight of the run's saved generator and discriminator."""
    import keras

    return [
        w
        for name in ("generator.keras", "discriminator.keras")
        for w in keras.saving.load_model(folder / "models" / "dcgan" / name).get_weights()
    ]


@pytest.mark.slow
@pytest.mark.skipif(
    not REAL_FASHION.is_dir(),
    reason="needs the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)",
)
def test_default_dcgan_killed_between_checkpoints_resumes_bit_for_bit(tmp_path):
    """What docs/training.md promises, at the default settings: the default dcgan (batch 32, the
    default train.inter_op_threads) on real Fashion-MNIST, killed with SIGKILL from outside
    at a random moment between its checkpoints at steps 20 and 40, restarts from step 20
    and ends with exactly the weights, loss history and samples of a run in another
    process that was never stopped."""
    straight = _real_dcgan_repo(tmp_path / "straight", None)
    dataset = straight / "data" / "raw" / "dataset.npz"
    killed = _real_dcgan_repo(tmp_path / "killed", dataset)
    _cli(straight, "train", "--model", "dcgan")
    train_json = json.loads((straight / "models" / "dcgan" / "train.json").read_text())
    step_seconds = train_json["seconds_by_part"]["step"] / 60  # its 60 steps

    first = killed / "models" / "dcgan" / "checkpoints" / f"ckpt-{20:09d}"
    process = subprocess.Popen(
        _cli_command("train", "--model", "dcgan"),
        cwd=killed,
        env=_cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        while not (first / "meta.json").is_file():
            assert process.poll() is None, "the run ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint at step 20 in 10 minutes"
            time.sleep(0.05)
        # somewhere in the first half of the 20 steps to the next checkpoint, whatever this
        # CPU's step costs (the straight run's own step time)
        delay = random.Random(os.getpid()).uniform(0.05, 0.5) * 20 * step_seconds
        time.sleep(delay)
        process.kill()
    finally:
        process.kill()
        process.wait()
    checkpoints = sorted(p.name for p in first.parent.iterdir() if p.name.startswith("ckpt-"))
    assert checkpoints == [first.name], f"killed {delay:.2f} s after step 20: {checkpoints}"
    assert not (killed / "models" / "dcgan" / "generator.keras").exists()

    assert "resuming from step 20" in _cli(killed, "train", "--model", "dcgan")

    one, two = _saved_weights(straight), _saved_weights(killed)
    assert len(one) == len(two)
    different = [
        i for i, (a, b) in enumerate(zip(one, two, strict=True)) if not np.array_equal(a, b)
    ]
    assert not different, f"{len(different)} of {len(one)} weight arrays differ"
    for name in ("history.csv", "samples.png"):
        assert (straight / "models" / "dcgan" / name).read_bytes() == (
            killed / "models" / "dcgan" / name
        ).read_bytes(), name
