"""An MLflow store that fails under `train`: one line naming the fix, exit 7, nothing
half-written under a final name, and the next run recovering without a hand edit.

- unreachable (a server that is not there, a folder that cannot hold the database) or
  locked for longer than GAN_ZOO_TRACKING_TIMEOUT when train starts: it fails before
  training, within the timeout (not after MLflow's minutes of retries);
- locked when train logs its finished run: the outputs are written, the error says so, and
  running train again resumes from the final checkpoint and only logs;
- SIGKILL in the middle of the generator's upload: the next run continues the same MLflow
  run, marks the half-uploaded generator FAILED and logs a whole one, which is what the
  registry then registers.
"""

import json
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.errors import TrackingError
from pipeline.tracking.runs import MlflowTracker
from pipeline.tracking.store import TIMEOUT_ENV, open_client
from tests.helpers import REPO, TRAIN_OUTPUTS, free_port, one_line_error, sqlite_locked

TIMEOUT = 2  # seconds a store call may wait here (GAN_ZOO_TRACKING_TIMEOUT)
GAN = ["--no-progress", "train", "--model", "gan"]
OUTPUTS = TRAIN_OUTPUTS
STEPS = 6  # tiny_params: 2 epochs x 3 steps, a point logged every step


@pytest.fixture
def repo(tiny_repo, monkeypatch):
    monkeypatch.setenv(TIMEOUT_ENV, str(TIMEOUT))
    return tiny_repo


def _database(uri: str) -> Path:
    return Path(uri.removeprefix("sqlite:///"))


def _nothing_written(repo: Path) -> None:
    """No output, checkpoint or temp file of the model: it failed before training."""
    folder = repo / "models" / "gan"
    assert not folder.exists() or not any(folder.iterdir()), sorted(folder.rglob("*"))


def _outputs_whole(repo: Path) -> None:
    """Every declared output there and loadable; no temp file beside them."""
    from pipeline.saved import load_generator

    folder = repo / "models" / "gan"
    assert {name for name in OUTPUTS if (folder / name).is_file()} == set(OUTPUTS)
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".") or ".tmp" in p.name]
    load_generator("gan")
    json.loads((folder / "train.json").read_text())


def _generators(client, run_id: str) -> dict[str, str]:
    """model_id -> status of the run's logged generators."""
    run = client.get_run(run_id)
    found = client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'"
    )
    return {m.model_id: str(m.status) for m in found if m.name == "generator"}


def _recovers(repo: Path, store: str, capsys) -> str:
    """Train again with a working store: it finishes and MLflow holds the whole run."""
    assert main(GAN) == 0, capsys.readouterr().err
    client = open_client(store)
    run_id = json.loads((repo / "models" / "gan" / "run.json").read_text())["mlflow_run_id"]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert len(client.get_metric_history(run_id, "d_loss")) == STEPS
    assert "READY" in _generators(client, run_id).values()
    assert not (repo / "models" / "gan" / "checkpoints").exists()
    return run_id


def test_a_server_that_is_not_there_fails_before_training(repo, monkeypatch, capsys, mlflow_store):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")  # restored after the test
    started = time.monotonic()
    assert main(GAN) == TrackingError.exit_code
    assert time.monotonic() - started < 30  # MLflow's own retries would take ~4 minutes
    line = one_line_error(capsys)
    assert line.startswith(f"error: cannot reach the MLflow server {url} ("), line
    assert line.endswith(
        "; start it (or unset MLFLOW_TRACKING_URI to log to the repository's "
        "mlruns/mlflow.db), then run again"
    ), line
    _nothing_written(repo)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    _recovers(repo, mlflow_store, capsys)


def test_a_store_in_a_folder_that_cannot_be_made_fails_before_training(
    repo, monkeypatch, capsys, mlflow_store
):
    blocker = repo / "a-file"  # root ignores permissions; a file in the path stops anyone
    blocker.write_text("")
    store = f"sqlite:///{blocker / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    assert main(GAN) == TrackingError.exit_code
    line = one_line_error(capsys)
    assert line.startswith(f"error: cannot use the MLflow store {_database(store)} ("), line
    assert f"make {blocker / 'mlruns'} a writable folder or point MLFLOW_TRACKING_URI" in line
    _nothing_written(repo)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    _recovers(repo, mlflow_store, capsys)


@pytest.mark.slow
def test_a_store_locked_at_the_start_fails_within_the_timeout(repo, capsys, mlflow_store):
    """A fresh `python -m pipeline` process (MLflow opens the store from scratch there),
    so stderr is checked as a user sees it."""
    open_client(mlflow_store)  # the store exists, as it does after a first run
    env = {"MLFLOW_TRACKING_URI": mlflow_store, TIMEOUT_ENV: str(TIMEOUT)}
    with sqlite_locked(_database(mlflow_store)):
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "pipeline", *GAN],
            cwd=repo,
            env={**_environ(), **env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        waited = time.monotonic() - started
    assert result.returncode == TrackingError.exit_code, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0] == (
        f"error: the MLflow store {_database(mlflow_store)} stayed locked by another process "
        f"for {TIMEOUT} s; let that process finish (or stop it), then run again; "
        f"{TIMEOUT_ENV}=SECONDS waits longer"
    )
    assert waited < 60  # a process start, then about TIMEOUT s (MLflow alone: 20 s a statement)
    _nothing_written(repo)
    _recovers(repo, mlflow_store, capsys)


def test_a_store_locked_when_the_run_is_logged_keeps_the_outputs_and_a_rerun_logs_it(
    repo, monkeypatch, capsys, mlflow_store
):
    database = _database(mlflow_store)
    with ExitStack() as held:
        log_generator = MlflowTracker.log_generator

        def locked_first(self, generator):  # another process takes the store at that moment
            if not held._exit_callbacks:
                held.enter_context(sqlite_locked(database))
            return log_generator(self, generator)

        monkeypatch.setattr(MlflowTracker, "log_generator", locked_first)
        assert main(GAN) == TrackingError.exit_code
    line = one_line_error(capsys)
    assert line.startswith(
        "error: train@gan finished and wrote models/gan/, but MLflow did not record its "
        f"run: the MLflow store {database} stayed locked by another process for "
    ), line
    assert line.endswith(
        "let that process finish (or stop it), then `dvc repro train@gan` (or `python -m "
        "pipeline train --model gan`) resumes from the final checkpoint and only logs; "
        f"{TIMEOUT_ENV}=SECONDS waits longer"
    ), line
    _outputs_whole(repo)
    checkpoints = repo / "models" / "gan" / "checkpoints"
    assert any(checkpoints.iterdir())
    run_id = json.loads((repo / "models" / "gan" / "run.json").read_text())["mlflow_run_id"]
    assert "READY" not in _generators(open_client(mlflow_store), run_id).values()

    monkeypatch.setattr(MlflowTracker, "log_generator", log_generator)
    assert _recovers(repo, mlflow_store, capsys) == run_id  # the same run, completed
    assert f"resuming from step {STEPS}" in capsys.readouterr().out


# In a process of its own: the generator's upload (MLflow copying the saved model into
# mlruns/artifacts) writes its first file, then the process is SIGKILLed.
_KILLED_IN_UPLOAD = """
import os, shutil, signal, sys
from pathlib import Path
from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

upload = LocalArtifactRepository.log_artifacts

def killed_midway(self, local_dir, artifact_path=None):
    if not (Path(local_dir) / "MLmodel").is_file():  # not the model: sample grids, csv files
        return upload(self, local_dir, artifact_path)
    shutil.copy(Path(local_dir) / "MLmodel", self._get_or_create_artifact_dir(artifact_path))
    os.kill(os.getpid(), signal.SIGKILL)

LocalArtifactRepository.log_artifacts = killed_midway
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_killed_during_the_model_upload_the_next_run_recovers(repo, capsys, mlflow_store):
    from pipeline.tracking.registry import load_registered_generator, register_scored_run

    env = {**_environ(), "MLFLOW_TRACKING_URI": mlflow_store, TIMEOUT_ENV: str(TIMEOUT)}
    result = subprocess.run(
        [sys.executable, "-c", _KILLED_IN_UPLOAD, *GAN],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    _outputs_whole(repo)  # written before the upload, each atomically
    client = open_client(mlflow_store)
    run_id = json.loads((repo / "models" / "gan" / "run.json").read_text())["mlflow_run_id"]
    assert client.get_run(run_id).info.status == "RUNNING"
    assert list(_generators(client, run_id).values()) == ["PENDING"]  # half uploaded

    assert _recovers(repo, mlflow_store, capsys) == run_id
    statuses = _generators(client, run_id)
    assert sorted(statuses.values()) == ["FAILED", "READY"]
    ready = next(model for model, status in statuses.items() if status == "READY")
    dataset = f"folder:{repo / 'images'}"
    version = register_scored_run(client, dataset, "gan", run_id, {"fid": 1.0}, 200, "e")
    assert version.source == f"models:/{ready}"  # the whole generator, not the half one
    registered = load_registered_generator(f"models:/{version.name}/{version.version}", client)
    assert registered.generator.output_shape[1:] == (28, 28, 1)


def _environ() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(REPO)}
