"""Several trainings writing to the one SQLite MLflow store at once.

`dvc queue start -j 2` runs queued experiments two at a time, each in a temporary copy of
the repository and all logging to `<repo>/mlruns/mlflow.db`. Every run and every metric
must land, with no "database is locked" failure, and two processes starting on a store
that does not exist yet must not both create it (MLflow's own creation races:
pipeline.tracking.runs.create_sqlite_store).
"""

import itertools
import json
import multiprocessing
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import dvc_env, init_git_dvc, pipeline_copy, run_ok

STEPS = 30  # metric points each process logs


def _log_a_run(uri: str, worker: int, start, results) -> None:
    """One process's run: params, STEPS points of two metrics (queued, as train logs them),
    finished. Started together with the others at `start` (a barrier)."""
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401 (imported before the race)

    from pipeline.tracking.runs import MlflowTracker

    start.wait()
    try:
        tracker = MlflowTracker(experiment="concurrency", run_name=f"w{worker}", tags={}, uri=uri)
        tracker.log_params({"worker": worker, "train.lr": 0.0002})
        for step in range(1, STEPS + 1):
            tracker.log_metrics({"d_loss": 1.0 / step, "g_loss": float(worker)}, step)
        tracker.finish()
        results.put((worker, tracker.run_id, ""))
    except BaseException as error:  # reported to the test, not lost in the child's stderr
        results.put((worker, None, f"{type(error).__name__}: {error}"))


def test_processes_logging_at_once_to_a_new_store_all_land(tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"  # does not exist yet
    count = 3
    context = multiprocessing.get_context("spawn")  # no TensorFlow in the children
    start, results = context.Barrier(count), context.Queue()
    workers = [
        context.Process(target=_log_a_run, args=(uri, i, start, results)) for i in range(count)
    ]
    for process in workers:
        process.start()
    outcome = sorted(results.get(timeout=240) for _ in workers)
    for process in workers:
        process.join(timeout=60)
    assert [error for _, _, error in outcome] == [""] * count, outcome

    client = MlflowClient(uri)
    for worker, run_id, _ in outcome:
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.info.run_name == f"w{worker}"
        assert run.data.params == {"worker": str(worker), "train.lr": "0.0002"}
        for key in ("d_loss", "g_loss"):
            steps = [m.step for m in client.get_metric_history(run_id, key)]
            assert sorted(steps) == list(range(1, STEPS + 1)), (worker, key)
    leftovers = sorted(p.name for p in (tmp_path / "mlruns").iterdir())
    assert leftovers == ["mlflow.db", "mlflow.db.lock"]  # no temp database left behind


# --- the same through DVC's queue ------------------------------------------------------

LEARNING_RATES = {"lr1": "0.0001", "lr2": "0.0003", "lr3": "0.0005"}


def _train_only_pipeline(repo: Path) -> None:
    """dvc.yaml cut to `fetch` and `train@`, the stages that matter here: each experiment
    then starts one process (a trainer writing its whole MLflow run), not five. train@'s
    own definition is kept, less the evaluator and reference it reads only for the
    in-training FID (train.fid_every: 0 here)."""
    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())
    stages = {name: pipeline["stages"][name] for name in ("fetch", "train")}
    train = stages["train"]["do"]
    train["deps"] = [d for d in train["deps"] if not str(d).startswith("models/")]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    (repo / "models" / "tune" / "dvc.yaml").unlink()  # its stages need the evaluator


def _queue_finished(repo: Path, env, seconds: float) -> str:
    """`dvc queue status` once nothing is queued or running (polled)."""
    deadline = time.monotonic() + seconds
    while True:
        status = run_ok(repo, "dvc", "queue", "status", env=env)
        if not any(word in status for word in ("Queued", "Running")):
            return status
        assert time.monotonic() < deadline, f"the queue did not finish:\n{status}"
        time.sleep(3)


def _stop_workers(repo: Path, env) -> None:
    """Stop the queue's workers (they would stop 10 s after the queue empties) and wait
    for them, so none outlives the test."""
    run_ok(repo, "dvc", "queue", "stop", env=env)
    deadline = time.monotonic() + 60
    while "0 active, 0 idle" not in run_ok(repo, "dvc", "queue", "status", env=env):
        if time.monotonic() > deadline:
            run_ok(repo, "dvc", "queue", "stop", "--kill", env=env)
            return
        time.sleep(2)


@pytest.mark.slow
def test_three_queued_experiments_two_at_a_time_all_land_in_one_store(tmp_path, tiny_params):
    from mlflow import MlflowClient

    from pipeline.cli import main

    tiny_params["train"].update(epochs=1, steps_per_epoch=2, log_every=1, fid_every=0)
    tiny_params["train"]["models"] = {"gan": "data/raw/dataset.npz"}
    repo = pipeline_copy(tmp_path, tiny_params, images_per_class=20)
    _train_only_pipeline(repo)
    env = dvc_env()
    init_git_dvc(repo, env)
    # `fetch` done here and recorded, so each experiment runs train@gan only
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repo)
        assert main(["--no-progress", "fetch"]) == 0
    run_ok(repo, "dvc", "commit", "-f", "fetch", env=env)
    run_ok(repo, "git", "add", "-A", env=env)
    run_ok(repo, "git", "commit", "-qm", "fetched", env=env)

    for name, lr in LEARNING_RATES.items():
        run_ok(repo, "dvc", "exp", "run", "--queue", "-n", name, "-S", f"train.lr={lr}", env=env)
    # Its output to a file: the workers it starts inherit the stream and would hold a pipe open.
    with open(tmp_path / "queue-start.log", "w") as log:
        started = subprocess.run(
            ["dvc", "queue", "start", "-j", "2"], cwd=repo, env=env, stdout=log, stderr=log
        )
    assert started.returncode == 0, (tmp_path / "queue-start.log").read_text()
    try:
        status = _queue_finished(repo, env, seconds=600)
    finally:
        _stop_workers(repo, env)

    logs = "\n".join(p.read_text() for p in (repo / ".dvc/tmp/exps/run").rglob("*.out"))
    assert "database is locked" not in logs and "Traceback" not in logs, logs[-3000:]
    assert status.count("Success") == 3, status

    shown = json.loads(run_ok(repo, "dvc", "exp", "show", "--json", env=env))
    experiments = {
        e["name"]: e for rev in shown for e in (rev.get("experiments") or []) if e.get("name")
    }
    assert set(experiments) == set(LEARNING_RATES), experiments.keys()

    client = MlflowClient(f"sqlite:///{repo / 'mlruns' / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = {r.data.tags.get("dvc_experiment"): r for r in client.search_runs(ids)}
    assert set(runs) == set(LEARNING_RATES), runs.keys()
    for name, run in runs.items():
        assert run.info.status == "FINISHED", name
        assert run.data.params["train.lr"] == LEARNING_RATES[name]
        history = client.get_metric_history(run.info.run_id, "d_loss")
        assert [m.step for m in history] == [1, 2], name
        assert "images_per_sec" in run.data.metrics
        logged = client.search_logged_models(
            ids, filter_string=f"source_run_id = '{run.info.run_id}' AND name = 'generator'"
        )
        assert [str(m.status) for m in logged] == ["READY"], name
    # two at a time: some two runs wrote to the store during the same seconds
    spans = sorted((r.info.start_time, r.info.end_time) for r in runs.values())
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)), spans
