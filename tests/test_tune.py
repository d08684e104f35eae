"""Optuna tuning: pruning on the in-training FID, best params, MLflow parent and child runs,
a study shared by two workers on a real PostgreSQL server."""

import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.config import load_params, parse_tune
from pipeline.errors import ConfigError
from pipeline.tuning.results import apply_command, override_keys
from pipeline.tuning.tune import tune
from tests.helpers import (
    free_port,
    one_line_error,
    set_params,
    stop_process_group,
    wait_until_serving,
)

States = optuna.trial.TrialState
TUNE_GAN = (sys.executable, "-m", "pipeline", "--no-progress", "tune", "--model", "gan")


class ScriptedFid:
    """An in-training FID that returns the next value of a script: the tests decide what
    each epoch of each trial scores, so the pruner's decisions are known in advance."""

    key = "fid200"

    def __init__(self, values):
        self.values, self.calls = list(values), 0

    def __call__(self, generator, discriminator) -> float:
        self.calls += 1
        return self.values.pop(0)


@pytest.fixture
def tune_repo(tiny_repo, tmp_path):
    """tiny_repo with a tiny study budget: 3 epochs of 2 steps, pruning from the 1st epoch
    after one finished trial, SQLite storage of its own."""
    set_params(
        tiny_repo,
        "tune",
        trials=3,
        epochs=3,
        steps_per_epoch=2,
        startup_trials=1,
        warmup_epochs=0,
        storage=f"sqlite:///{tmp_path / 'optuna.db'}",
    )
    return tiny_repo


def _children(client: MlflowClient, parent_id: str) -> list:
    experiment = client.get_run(parent_id).info.experiment_id
    return client.search_runs(
        [experiment], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )


def test_a_worse_trial_is_pruned_on_its_fid_and_the_best_is_written(tune_repo, mlflow_store):
    # trial 0: 10, 9, 8 (complete). trial 1: 50 at epoch 1, above trial 0's 10: pruned.
    # trial 2: 5, 4, 3 (complete, the best).
    probe = ScriptedFid([10, 9, 8, 50, 5, 4, 3])
    result = tune(Path("params.yaml"), "gan", progress=False, fid_probe=probe)

    assert probe.calls == 7  # the pruned trial stopped training after its first epoch
    study = optuna.load_study(study_name=result.study, storage=parse_tune(load_params()).storage)
    states = [t.state for t in study.trials]
    assert states == [States.COMPLETE, States.PRUNED, States.COMPLETE]
    assert study.trials[1].intermediate_values == {1: 50}
    assert study.trials[0].intermediate_values == {1: 10, 2: 9, 3: 8}
    assert (result.best_number, result.best_value, result.metric) == (2, 3, "fid200")
    assert result.counts == {"complete": 2, "pruned": 1, "failed": 0}

    written = yaml.safe_load((tune_repo / "models/gan/best_params.yaml").read_text())
    best = study.trials[2].params
    assert written["params"] == {f"models.gan.{k}": v for k, v in best.items()}
    assert written["fid200"] == 3 and written["trial"] == 2
    assert written["command"] == result.command == apply_command(load_params(), "gan", best)
    assert set(best) == {"lr", "beta1", "k_steps", "dropout"}

    client = MlflowClient(mlflow_store)
    parent_id = study.user_attrs["mlflow_parent_run_id"]
    parent = client.get_run(parent_id)
    assert parent.info.run_name == "tune-gan" and parent.info.status == "FINISHED"
    assert parent.data.metrics["best_fid200"] == 3
    children = {int(r.data.tags["optuna.trial"]): r for r in _children(client, parent_id)}
    assert sorted(children) == [0, 1, 2]
    assert children[1].data.tags["optuna.state"] == "PRUNED"
    assert children[1].info.status == "KILLED"
    assert children[2].data.tags["optuna.state"] == "COMPLETE"
    for number, run in children.items():
        trial = study.trials[number]
        # the trial trained with its values: the resolved params MLflow shows are them
        assert float(run.data.params["train.lr"]) == pytest.approx(trial.params["lr"])
        assert int(run.data.params["train.k_steps"]) == trial.params["k_steps"]
        assert run.data.params["train.epochs"] == "3"
        curve = client.get_metric_history(run.info.run_id, "fid200")
        assert [m.value for m in curve] == list(trial.intermediate_values.values())


def test_tune_command_end_to_end_and_a_second_call_adds_to_the_study(
    scored_repo, tmp_path, monkeypatch, capsys
):
    repo = scored_repo
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"  # its own: exactly this study's runs
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    set_params(
        repo,
        "tune",
        epochs=2,
        steps_per_epoch=2,
        storage=f"sqlite:///{tmp_path / 'optuna.db'}",
    )
    set_params(repo, "train", fid_samples=200)
    assert main(["--no-progress", "tune", "--model", "gan", "--trials", "3"]) == 0
    out = capsys.readouterr().out
    assert "apply it with: dvc exp run -S '+models.gan.lr=" in out  # a key to add
    written = yaml.safe_load((repo / "models/gan/best_params.yaml").read_text())
    assert set(written["params"]) == {
        f"models.gan.{k}" for k in ("lr", "beta1", "k_steps", "dropout")
    }

    assert main(["--no-progress", "tune", "--model", "gan", "--trials", "1"]) == 0
    study = optuna.load_study(
        study_name=written["study"], storage=f"sqlite:///{tmp_path / 'optuna.db'}"
    )
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert all(t.state in (States.COMPLETE, States.PRUNED) for t in study.trials)
    client = MlflowClient(store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    parents = client.search_runs(experiments, filter_string="attributes.run_name = 'tune-gan'")
    assert len(parents) == 1  # one parent per study, however many calls
    assert len(_children(client, parents[0].info.run_id)) == 4


def test_a_study_refuses_trials_made_with_other_settings(tune_repo, capsys):
    tune(Path("params.yaml"), "gan", 1, progress=False, fid_probe=ScriptedFid([3, 2, 1]))
    set_params(tune_repo, "tune", lr=[1e-4, 1e-2])
    assert main(["--no-progress", "tune", "--model", "gan", "--trials", "1"]) == 2
    assert "was run with other params, budget or ranges" in one_line_error(capsys)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("lr", [1e-3, 1e-5], "tune.lr must be [low, high] with low < high"),
        ("lr", [0.0, 1e-3], "tune.lr must lie > 0"),
        ("beta1", [0.0, 1.0], "tune.beta1 must lie in [0, 1)"),
        ("k_steps", [0, 3], "tune.k_steps must lie >= 1"),
        ("k_steps", [1.5, 3], "tune.k_steps[0] must be an integer"),
        ("pruner", "hyperband", "tune.pruner must be one of 'median', 'none'"),
    ],
)
def test_bad_tune_params_name_the_key(key, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_tune({"tune": {key: value}})


def test_overrides_add_keys_that_params_yaml_lacks():
    params = {"models": {"gan": {"lr": 0.1}}}
    assert override_keys(params, "gan", {"lr": 0.5, "beta1": 0.3}) == [
        "models.gan.lr=0.5",
        "+models.gan.beta1=0.3",
    ]


def test_two_workers_share_one_study_on_postgresql(scored_repo, tmp_path, postgres_url):
    repo = scored_repo
    set_params(repo, "tune", epochs=2, steps_per_epoch=2, storage=postgres_url)
    set_params(repo, "train", fid_samples=200)
    workers = [
        subprocess.Popen(
            [*TUNE_GAN, "--trials", "2", "--worker", str(worker)],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for worker in (0, 1)
    ]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-3000:]

    summaries = optuna.get_all_study_summaries(postgres_url)
    assert len(summaries) == 1
    study = optuna.load_study(study_name=summaries[0].study_name, storage=postgres_url)
    # 2 + 2 trials: none lost, none run twice, none left running
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all(t.state in (States.COMPLETE, States.PRUNED) for t in study.trials)
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4


def test_optuna_dashboard_serves_the_study_storage(tmp_path):
    """docs/tuning.md's `optuna-dashboard` command on a study storage: the study is listed."""
    import requests

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(storage=storage, study_name="fashion_mnist-gan")
    study.optimize(lambda trial: trial.suggest_float("lr", 1e-5, 1e-3, log=True), n_trials=2)
    port = free_port()
    dashboard = Path(sys.executable).with_name("optuna-dashboard")
    server = subprocess.Popen(
        [str(dashboard), storage, "--host", "127.0.0.1", "--port", str(port), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(f"{url}/api/studies", server)
        studies = requests.get(f"{url}/api/studies", timeout=10).json()["study_summaries"]
        assert [s["study_name"] for s in studies] == ["fashion_mnist-gan"]
    finally:
        survivors = stop_process_group(server)
    assert not survivors


def test_queue_top_queues_the_best_trials_as_dvc_experiments(tune_repo):
    repo = tune_repo
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    (repo / "dvc.yaml").write_text("stages:\n  noop:\n    cmd: echo ok\n    params: [models]\n")
    for command in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "base"],
    ):
        subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True)
    # trials 0 and 2 complete (8 and 3), trial 1 pruned: the two best are 2, then 0
    result = tune(
        Path("params.yaml"),
        "gan",
        progress=False,
        queue_top=2,
        fid_probe=ScriptedFid([10, 9, 8, 50, 5, 4, 3]),
    )
    assert result.queued == ["folder-images-gan-t2", "folder-images-gan-t0"]
    status = subprocess.run(
        ["dvc", "queue", "status"], cwd=repo, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "folder-images-gan-t2" in status and "folder-images-gan-t0" in status
    assert status.count("Queued") == 2
