"""Comparing runs the way a user does: `mlflow server` on the pipeline's store, read over REST.

Two GANs are trained into a fresh SQLite store; a real `mlflow server` is started on
127.0.0.1 and asked, through its REST API only, for the runs, their params and their
metric histories. Then the server and every process it started are stopped.

tests.helpers.mlflow_server starts it as docs/tracking.md says (one worker, no job runner).
"""

import pytest
import requests

from pipeline.cli import main
from tests.helpers import mlflow_server


@pytest.fixture
def trained_store(tiny_repo, mlflow_store, monkeypatch, tmp_path):
    """A store of its own holding one run of `gan` and one of `dcgan`."""
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for model in ("gan", "dcgan"):
        assert main(["--no-progress", "train", "--model", model]) == 0
    return uri


def test_mlflow_server_shows_both_gans_with_params_and_metrics(
    trained_store, tmp_path, tiny_params
):
    lr = tiny_params["train"]["lr"]  # params.yaml's, which both runs read
    with mlflow_server(trained_store, tmp_path) as url:
        api = f"{url}/api/2.0/mlflow"
        experiments = requests.post(
            f"{api}/experiments/search", json={"max_results": 100}, timeout=10
        ).json()["experiments"]
        ids = [e["experiment_id"] for e in experiments if e["name"] != "Default"]
        runs = requests.post(
            f"{api}/runs/search", json={"experiment_ids": ids, "max_results": 100}, timeout=10
        ).json()["runs"]
        by_name = {run["info"]["run_name"]: run for run in runs}
        assert {"gan", "dcgan"} <= set(by_name)
        for name, run in by_name.items():
            params = {p["key"]: p["value"] for p in run["data"]["params"]}
            metrics = {m["key"] for m in run["data"]["metrics"]}
            assert params["train.lr"] == str(lr) and params["train.batch_size"] == "8"
            assert {"d_loss", "g_loss", "d_real", "d_fake", "images_per_sec"} <= metrics
            assert run["info"]["status"] == "FINISHED"
            history = requests.get(
                f"{api}/metrics/get-history",
                params={"run_id": run["info"]["run_id"], "metric_key": "d_loss"},
                timeout=10,
            ).json()["metrics"]
            assert [m["step"] for m in history] == list(range(1, 7)), name  # one point a step
        assert by_name["dcgan"]["data"]["params"] != by_name["gan"]["data"]["params"]
