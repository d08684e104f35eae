"""Comparing runs the way a user does: `mlflow server` on the pipeline's store, read over REST.

Two GANs are trained into a fresh SQLite store; a real `mlflow server` is started on
127.0.0.1 and asked, through its REST API only, for the runs, their params and their
metric histories. Then the server and every process it started are stopped.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from pipeline.cli import main
from tests.helpers import free_port, stop_process_group, wait_until_serving


@pytest.fixture
def trained_store(tiny_repo, mlflow_store, monkeypatch, tmp_path):
    """A store of its own holding one run of `gan` and one of `dcgan`."""
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for model in ("gan", "dcgan"):
        assert main(["--no-progress", "train", "--model", model]) == 0
    return uri


def test_mlflow_server_shows_both_gans_with_params_and_metrics(trained_store):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow), "server", "--backend-store-uri", trained_store]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so every worker can be stopped
    )
    try:
        wait_until_serving(f"{url}/health", server)
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
            assert params["train.lr"] == "0.0002" and params["train.batch_size"] == "8"
            assert {"d_loss", "g_loss", "d_real", "d_fake", "images_per_sec"} <= metrics
            assert run["info"]["status"] == "FINISHED"
            history = requests.get(
                f"{api}/metrics/get-history",
                params={"run_id": run["info"]["run_id"], "metric_key": "d_loss"},
                timeout=10,
            ).json()["metrics"]
            assert [m["step"] for m in history] == list(range(1, 7)), name  # one point a step
        assert by_name["dcgan"]["data"]["params"] != by_name["gan"]["data"]["params"]
    finally:
        survivors = stop_process_group(server)
    assert not survivors, f"mlflow server left processes running: {survivors}"
