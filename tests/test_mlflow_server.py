"""Comparing runs the way a user does: `mlflow server` on the pipeline's store, read over REST.

Two GANs are trained into a fresh SQLite store; a real `mlflow server` is started on
127.0.0.1 and asked, through its REST API only, for the runs, their params and their
metric histories. Then the server and every process it started are stopped.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from pipeline.cli import main


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"mlflow server exited early with {server.returncode}")
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"mlflow server not healthy after {seconds} s")


def _stop(server: subprocess.Popen) -> list[psutil.Process]:
    """SIGTERM the server's process group, SIGKILL what is left; returns the survivors."""
    family = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
    os.killpg(server.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=20)
    for process in alive:
        process.kill()
    _, alive = psutil.wait_procs(alive, timeout=10)
    server.wait(timeout=10)
    return [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


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
    port = _free_port()
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
        _wait_healthy(url, server)
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
        survivors = _stop(server)
    assert not survivors, f"mlflow server left processes running: {survivors}"
