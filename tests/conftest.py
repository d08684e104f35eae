"""Shared test set-up.

Two logical CPU devices are configured before TensorFlow initialises, so tests can run
MirroredStrategy on a machine without GPUs. Tests that do not ask for a strategy use the
default one (the first device) and are unaffected.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
# The CLI's kernels in the tests' own process too (train.onednn: without it an AVX2 CPU
# would compute the in-process steps with other kernels than the stages the tests run)
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import pytest
import tensorflow as tf

pytest_plugins = ["tests.postgres"]  # the postgres_url fixture: a throw-away server

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)


# The files that take longest (`--durations` of a whole run on a 2-core AVX2 VM, 2026-12-02:
# the DVC pipeline test alone 18 minutes, the resume tests some 15), collected first. Under
# `-n auto --dist worksteal` (pyproject.toml) a worker runs its share in collection order
# and an idle worker takes tests from the end of the other's: a long test collected last
# would run on alone at the end. (`--dist loadfile` orders files by their number of
# tests instead, which put the one-test DVC file last.)
LONGEST_FIRST = (
    "test_pipeline_dvc.py",
    "test_resume.py",
    "test_retrain.py",
    "test_concurrency.py",
    "test_report.py",
    "test_progan.py",
    "test_dvc_deps.py",
    "test_distribute.py",
)


def pytest_collection_modifyitems(items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest as found


@pytest.fixture
def tiny_params() -> dict:
    """params.yaml as a dict, shrunk so a GAN trains in well under a second (tests that
    want the in-training FID turn it on: it needs an evaluator)."""
    from tests.helpers import tiny_params_dict

    return tiny_params_dict()


@pytest.fixture
def tiny_images():
    import numpy as np

    return np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1), dtype=np.uint8)


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory) -> str:
    """One throw-away MLflow store for the session (creating one costs a few seconds)."""
    root = tmp_path_factory.mktemp("mlruns")
    return f"sqlite:///{root / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _isolated_tracking(monkeypatch, mlflow_store):
    """No test ever writes to the repository's mlruns/."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)


@pytest.fixture
def own_store(tmp_path, monkeypatch) -> str:
    """A store of the test's own (the session's holds other tests' experiments, runs and
    registered names): counts start from nothing."""
    (tmp_path / "store").mkdir()
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture
def tiny_repo(tmp_path, monkeypatch, tiny_params):
    """A working directory with params.yaml and a fetched tiny folder dataset.

    Stages use paths relative to the repository root, as under `dvc repro`.
    """
    import yaml

    from pipeline.config import parse_data
    from pipeline.data.fetch import fetch
    from tests.helpers import write_image_folder

    write_image_folder(tmp_path / "images")
    tiny_params["data"].update(dataset=f"folder:{tmp_path / 'images'}", image_size=28, mirrors=[])
    tiny_params["data"]["cache_dir"] = str(tmp_path / "cache")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    monkeypatch.chdir(tmp_path)
    fetch(parse_data(tiny_params), progress=False)
    return tmp_path


@pytest.fixture
def scored_repo(tiny_repo):
    """tiny_repo on a labelled folder (2 classes x 100 images), with its evaluator and
    reference: what the scores and the in-training FID need."""
    from pipeline.cli import main
    from tests.helpers import TINY_LABELS, set_params, write_labelled_folder

    write_labelled_folder(tiny_repo / "labelled")
    set_params(tiny_repo, "data", dataset=f"folder:{tiny_repo / 'labelled'}")
    set_params(tiny_repo, "models", sgan=TINY_LABELS, catgan={"mode": "unsupervised"})
    for command in ("fetch", "evaluator", "reference"):
        assert main(["--no-progress", command]) == 0
    return tiny_repo
