"""Small data and params the tests make for themselves."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# params.yaml's train.models, in its order: the GANs `dvc repro` trains
DEFAULT_MODELS = (
    "gan",
    "dcgan",
    "pix2pix",
    "srgan",
    "cgan",
    "sgan",
    "catgan",
    "progan",
    "stylegan",
    "stackgan",
)


def load_bench(name: str):
    """bench/<name>.py as a module (bench/ is not a package; a bench may import its
    siblings, and its dataclasses look their module up in sys.modules)."""
    import importlib.util

    bench = REPO / "bench"
    sys.path.insert(0, str(bench))
    try:
        spec = importlib.util.spec_from_file_location(name, bench / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(bench))
    return module


def repo_params(**train) -> dict:
    """The repository's params.yaml with `train` applied to every model.

    Per-model training lengths (models.<name>.epochs, .steps_per_epoch) are dropped, so
    that train.epochs and train.steps_per_epoch here decide how long every GAN trains
    (and per-model batch sizes when `train` sets one: dcgan's and cgan's 32 would not fit
    a tiny dataset), the labelled slots of a semi-supervised minibatch shrink to
    TINY_LABELS' (32 would not fit a tiny batch), and
    ProGAN, whose
    length is its phases' steps, shrinks to TINY_PROGAN.
    """
    from pipeline.config import load_params

    params = load_params(REPO / "params.yaml")
    for model_params in params["models"].values():
        model_params.pop("epochs", None)
        model_params.pop("steps_per_epoch", None)
        if "batch_size" in train:
            model_params.pop("batch_size", None)
        if "labelled_per_batch" in model_params:  # room for unlabelled images in tiny batches
            model_params["labelled_per_batch"] = TINY_LABELS["labelled_per_batch"]
    params["models"]["progan"].update(TINY_PROGAN)
    params["models"]["progan"].pop("batch_size", None)
    params["models"]["stackgan"].update(TINY_STACKGAN)  # its length is its phases' steps too
    params["models"]["srgan"].update(TINY_SRGAN)  # and srgan's
    params["train"].update(train)
    return params


def write_image_folder(folder, count: int = 40, size: int = 28, seed: int = 3) -> None:
    """`count` small grayscale PNGs with some structure (a bright square on noise)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        pixels = rng.integers(0, 60, (size, size), dtype=np.uint8)
        top, left = rng.integers(0, size // 2, 2)
        pixels[top : top + size // 2, left : left + size // 2] = 220
        Image.fromarray(pixels, mode="L").save(folder / f"img_{i:03d}.png")


def write_labelled_folder(folder, classes=("circle", "square"), count: int = 100) -> None:
    """One sub-folder of `count` images per class: a labelled `folder:` dataset."""
    for seed, name in enumerate(classes):
        write_image_folder(folder / name, count=count, seed=seed)


# What `train` leaves in models/<name>/ (the checkpoints are gone once a run is complete).
TRAIN_OUTPUTS = (
    "generator.keras",
    "discriminator.keras",
    "samples.png",
    "loss_curves.png",
    "history.csv",
    "fid.csv",
    "train.json",
    "run.json",
)


def one_line_error(capsys) -> str:
    """The CLI's stderr, asserted to be one `error: ...` line, and that line."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


CLASS_NAMES = tuple(f"class{i}" for i in range(10))
# Small labelled subsets for the tiny runs: 2 per class, 2 slots of each minibatch.
TINY_LABELS = {"labels_per_class": 2, "labelled_per_batch": 2}
# 7px 2 steps, fade-14px 2, 14px 2, fade-28px 2, 28px 2; narrow, in train.batch_size
TINY_PROGAN = {"stable_steps": 2, "fade_steps": 2, "filters": 8, "min_filters": 4}
# pretrain 3 steps, adversarial 3; one residual block, narrow
TINY_SRGAN = {"pretrain_steps": 3, "gan_steps": 3, "blocks": 1, "filters": 8, "d_filters": 4}
# stage1 3 steps, stage2 3; narrow
TINY_STACKGAN = {"stage1_steps": 3, "stage2_steps": 3, "filters": 8, "text_dim": 8, "ca_dim": 4}


def tiny_labels(run, count: int):
    """What a label-aware family trains on for `count` images of balanced classes 0-9
    (image i has class i % 10); None for a family without labels."""
    import numpy as np

    from pipeline.data.labels import training_labels
    from pipeline.gans.families import get_family

    make_plan = get_family(run.model).label_plan
    if make_plan is None:
        return None
    plan = make_plan(run)
    classes = np.arange(count, dtype=np.int64) % len(CLASS_NAMES)
    return training_labels(plan, classes, CLASS_NAMES, run.train.seed, run.model)


def set_params(repo, section: str, **values) -> None:
    """Update one section of `repo`/params.yaml (created if missing) with `values`."""
    import yaml

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params.setdefault(section, {}).update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, server, seconds: float = 90) -> None:
    """Poll `url` until it answers 200; fail early if the `server` process exits."""
    import time

    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"{server.args[0]} exited early with {server.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def stop_process_group(server) -> list:
    """SIGTERM the process group `server` leads (it was started with
    start_new_session=True), SIGKILL what is left; returns the survivors (psutil)."""
    import os
    import signal

    import psutil

    family = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    os.killpg(server.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=20)
    for process in alive:
        process.kill()
    _, alive = psutil.wait_procs(alive, timeout=10)
    server.wait(timeout=10)
    return [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


# MLflow 3.17 starts a job runner and seven huey consumers (~240 MB each) beside the
# server unless this is off; nothing of the pipeline uses MLflow jobs (docs/tracking.md).
NO_JOBS = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


@contextmanager
def mlflow_server(store_uri: str, cwd: Path, command: str = "server") -> Iterator[str]:
    """`mlflow <command>` (server or ui) over `store_uri` on 127.0.0.1 and a free port,
    with one worker and no job runner, run in `cwd`; yields its URL. On leaving, checks
    that it started no job process, stops it and asserts nothing of it is left running."""
    import psutil

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mlflow = Path(sys.executable).with_name("mlflow")
    address = ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(
        [str(mlflow), command, "--backend-store-uri", store_uri, *address],
        cwd=cwd,
        env={**os.environ, **NO_JOBS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so every worker can be stopped
    )
    try:
        wait_until_serving(f"{url}/health", server)
        yield url
        family = [" ".join(p.cmdline()) for p in psutil.Process(server.pid).children(True)]
        jobs = [line for line in family if "mlflow.server.jobs" in line or "huey" in line]
        assert not jobs, f"mlflow {command} started job processes: {jobs}"
    finally:
        survivors = stop_process_group(server)
    assert not survivors, f"mlflow {command} left processes running: {survivors}"


def pipeline_copy(tmp_path, params: dict, images_per_class: int = 100):
    """tmp_path/repo: the dvc.yaml files, the ignore files and pipeline/ of this repository, with
    `params` (its data.* pointed at a labelled folder of two classes) as params.yaml. Not
    yet a git or DVC repository: the caller inits them as its test needs."""
    import shutil

    import yaml

    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", ".gitignore", ".dvcignore", "models/tune/dvc.yaml"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, repo / name)
    shutil.copytree(
        REPO / "pipeline", repo / "pipeline", ignore=shutil.ignore_patterns("__pycache__")
    )
    write_labelled_folder(tmp_path / "images", count=images_per_class)
    params["data"].update(
        dataset=f"folder:{tmp_path / 'images'}",
        image_size=28,
        mirrors=[],
        cache_dir=str(tmp_path / "cache"),
    )
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return repo


def assert_weights_alike(one, two, bound: float) -> None:
    """Two trainings that should agree (two devices and one, a resumed run and a straight
    one): every weight array within `bound` (what the Adam steps can move a weight), and
    nearly every weight within rounding. Adam divides a gradient by its own magnitude, so
    where a gradient is itself at rounding level the noise becomes a full lr-sized step:
    a few weights may differ by up to the bound. How many depends on the CPU's kernels:
    after 3 steps of the tiny dcgan and catgan on one device and on two, 0.02-0.5% of the
    weights on a 2-core AVX2 EPYC (2026-12-04; the former bound of 0.01% held on AVX-512
    machines). What the share guards against, a replica stepping with its own half-batch
    gradient, would move every weight whose half- and full-batch gradients differ in sign."""
    close = total = 0
    for a, b in zip(one, two, strict=True):
        difference = np.abs(np.asarray(a) - np.asarray(b))
        assert difference.max() <= bound
        close += int((difference <= 5e-5 + 1e-3 * np.abs(a)).sum())
        total += np.asarray(a).size
    assert close / total > 0.99, f"{total - close} of {total} weights differ"


def assert_losses_alike(one, two, lr: float) -> None:
    """The per-step losses of two trainings that should agree. The first step's come from
    the same weights and batch, so they differ only by summation order: that is where a loss
    averaged over a replica's batch instead of the global one, or unsynchronised batch
    statistics, shows. Later steps follow weights that may differ by a few flipped
    lr-sized Adam steps (assert_weights_alike), which moved D's outputs by up to 1.3e-4 at
    lr 2e-4 (2-core AVX2 EPYC, 2026-12-04): within 2 lr."""
    one, two = np.asarray(one), np.asarray(two)
    assert one.shape == two.shape
    np.testing.assert_allclose(one[0], two[0], rtol=1e-5, atol=1e-6, err_msg="first step")
    np.testing.assert_allclose(one, two, rtol=0, atol=2 * lr)


def mlflow_runs(mlflow_store: str, run_name: str) -> list:
    """The MLflow runs named `run_name` in the store, newest first."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, order_by=["start_time DESC"])
    return [r for r in runs if r.info.run_name == run_name]


TRAIN_WORKER = Path(__file__).with_name("train_worker.py")


def run_train_worker(*args, expect: int = 0, before: str = ""):
    """tests/train_worker.py ARGS in its own process, asserted to exit with `expect` (a
    negative signal number when killed). `before` is Python run in that process first, e.g.
    a patch of a function the worker reaches (the worker's usage says what ARGS are)."""
    import subprocess
    import sys

    launch = f"{before}\nimport runpy, sys\nsys.argv = sys.argv[1:]\n"
    launch += "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    result = subprocess.run(
        [sys.executable, "-c", launch, str(TRAIN_WORKER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == expect, result.stderr[-2000:]
    return result


def tiny_params_dict() -> dict:
    """The `tiny_params` fixture's dict, for fixtures of a wider scope (a module's
    artifacts built once): a GAN trains in well under a second."""
    params = repo_params(
        epochs=2,
        steps_per_epoch=3,
        batch_size=8,
        log_every=1,
        checkpoint_every=2,
        sample_grid=2,
        fid_every=0,
    )
    params["evaluator"].update(epochs=1, batch_size=16)
    params["evaluate"].update(
        n_samples=200,
        batch_size=100,
        kid_subsets=5,
        kid_subset_size=20,
        score_splits=2,
        ppl_samples=100,
    )
    return params


# --- fault injection: damaged files and what a failed command may not touch ---------------


def truncate(path: Path) -> None:
    """Cut `path` to half its size (a copy or a write that stopped half-way)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_bit(path: Path, offset: int | None = None, bit: int = 0) -> None:
    """Flip one bit of the byte at `offset` (default: the middle of the file): bit rot."""
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def member_middle(path: Path, member: str) -> int:
    """The offset of the middle byte of `member`'s data inside the zip archive `path`."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    with path.open("rb") as handle:
        handle.seek(info.header_offset + 26)  # the local header's name and extra lengths
        name_length, extra_length = struct.unpack("<HH", handle.read(4))
    return info.header_offset + 30 + name_length + extra_length + info.compress_size // 2


def tree_state(root: Path) -> dict[str, str]:
    """Every file and folder under `root`, files with the SHA-256 of their bytes: equal
    before and after a command means it created, changed and removed nothing there."""
    import hashlib

    return {
        str(path.relative_to(root)): (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        )
        for path in sorted(root.rglob("*"))
    }


# --- git/DVC repositories in subprocesses, and an MLflow store another process locks ------


def dvc_env() -> dict[str, str]:
    """The environment `git` and `dvc` run with in the DVC tests: this interpreter's bin/
    first on PATH (`dvc`, and the stages' `python -m pipeline`), a git identity, and no
    MLFLOW_TRACKING_URI, so the stages log to the repository's own mlruns/mlflow.db."""
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.update(
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )
    return env


def run_ok(cwd, *command, env, timeout: float = 600) -> str:
    """`command` in `cwd`, asserted to succeed (its output's tail in the message); its stdout."""
    import subprocess

    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def init_git_dvc(repo, env) -> None:
    """`repo` as a git repository with DVC (and this repository's plot templates) and one
    commit of everything in it (what `dvc exp` needs)."""
    import shutil

    run_ok(repo, "git", "init", "-q", env=env)
    run_ok(repo, "dvc", "init", "-q", env=env)
    # the plot templates dvc.yaml names (`dvc init` makes .dvc/ afresh, so they come after)
    shutil.copytree(REPO / ".dvc" / "plots", repo / ".dvc" / "plots", dirs_exist_ok=True)
    run_ok(repo, "git", "add", "-A", env=env)
    run_ok(repo, "git", "commit", "-qm", "init", env=env)


# Another process's exclusive lock on a SQLite database: nobody else reads or writes it.
_HOLD_SQLITE_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(600)
"""


def sqlite_locked(db: Path):
    """A context manager: while in it, another process holds `BEGIN EXCLUSIVE` on the
    SQLite database `db` (as a long migration, a backup tool or a stuck writer would)."""
    import subprocess
    import sys
    from contextlib import contextmanager

    @contextmanager
    def held():
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLD_SQLITE_LOCK, str(db)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout.readline().strip() == "locked"
            yield holder
        finally:
            holder.kill()
            holder.wait(timeout=30)
            holder.stdout.close()

    return held()
