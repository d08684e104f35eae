"""Small data and params the tests make for themselves."""

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def repo_params(**train) -> dict:
    """The repository's params.yaml with `train` applied to every model.

    Per-model training lengths (models.<name>.epochs) are dropped, so that train.epochs
    here decides how long every GAN trains, the labelled slots of a semi-supervised
    minibatch shrink to TINY_LABELS' (32 would not fit a tiny batch), and ProGAN, whose
    length is its phases' steps, shrinks to TINY_PROGAN.
    """
    from pipeline.config import load_params

    params = load_params(REPO / "params.yaml")
    for model_params in params["models"].values():
        model_params.pop("epochs", None)
        if "labelled_per_batch" in model_params:  # room for unlabelled images in tiny batches
            model_params["labelled_per_batch"] = TINY_LABELS["labelled_per_batch"]
    params["models"]["progan"].update(TINY_PROGAN)
    params["models"]["progan"].pop("batch_size", None)
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
    a few weights may differ by up to the bound."""
    close = total = 0
    for a, b in zip(one, two, strict=True):
        difference = np.abs(np.asarray(a) - np.asarray(b))
        assert difference.max() <= bound
        close += int((difference <= 5e-5 + 1e-3 * np.abs(a)).sum())
        total += np.asarray(a).size
    assert close / total > 0.9999, f"{total - close} of {total} weights differ"
