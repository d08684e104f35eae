"""`python -m pipeline retrain`: one at a time (a lock), `dvc repro` only when something
changed, then the champion rule on the newly registered versions."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from PIL import Image

from pipeline.cli import main
from pipeline.tracking import retrain
from tests.helpers import one_line_error, pipeline_copy

REPO = Path(__file__).resolve().parents[1]
BUSY = 75  # EX_TEMPFAIL
# Holds the retrain lock of its working directory until its stdin closes.
HOLDER = """
import sys
from pipeline.tracking.retrain import retrain_lock
with retrain_lock():
    print("locked", flush=True)
    sys.stdin.read()
"""


def _hold_lock(cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


@pytest.fixture
def quiet_pipeline(tmp_path, monkeypatch) -> list[str]:
    """A repository root whose pipeline is up to date and has nothing to judge (no DVC
    run, no MLflow): what the lock tests need. Returns the calls to `dvc status`."""
    (tmp_path / ".dvc").mkdir()
    monkeypatch.chdir(tmp_path)
    calls: list[str] = []
    monkeypatch.setattr(retrain, "changed_stages", lambda: calls.append("status") or {})
    monkeypatch.setattr(retrain, "judge_models", lambda *args, **kwargs: [])
    return calls


def test_a_second_retrain_exits_busy_at_once_and_runs_after_the_release(
    quiet_pipeline, tmp_path, capsys
):
    holder = _hold_lock(tmp_path)
    try:
        start = time.monotonic()
        assert main(["retrain"]) == BUSY
        assert time.monotonic() - start < 30  # it did not wait for the holder (which never lets go)
        line = one_line_error(capsys)
        pattern = rf"error: another retrain is running \(pid {holder.pid} since \d\d:\d\d:\d\d\); "
        assert re.match(pattern, line), line
        assert quiet_pipeline == []  # it never looked at the pipeline
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert main(["retrain"]) == 0
    assert capsys.readouterr().out == "retrain: pipeline up to date; nothing to train\n"
    assert quiet_pipeline == ["status"]
    assert main(["retrain"]) == 0  # and it released the lock when it finished


def test_a_killed_retrain_does_not_block_the_next(quiet_pipeline, tmp_path, capsys):
    holder = _hold_lock(tmp_path)
    holder.kill()  # SIGKILL: no clean-up runs; the kernel drops the flock
    holder.wait(timeout=30)
    assert main(["retrain"]) == 0
    assert quiet_pipeline == ["status"]


def test_retrain_outside_a_dvc_repository_names_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["retrain"]) == 2
    assert "run it from the repository's root" in one_line_error(capsys)


def _sh(cwd: Path, *command: str) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(command)}: {result.stdout}{result.stderr}"


def _dvc_repo(tmp_path: Path, params: dict) -> Path:
    """A git + DVC clone of the pipeline that trains `gan` only, on a tiny labelled folder."""
    params["train"]["models"] = {"gan": "data/raw/dataset.npz"}
    repo = pipeline_copy(tmp_path, params)  # 200 images: more than 128 features
    _sh(repo, "git", "init", "-q")
    _sh(repo, "git", "config", "user.name", "t")
    _sh(repo, "git", "config", "user.email", "t@t")
    _sh(repo, sys.executable, "-m", "dvc", "init", "-q")
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-qm", "init")
    return repo


def _stamps(repo: Path) -> tuple[int, int]:
    return tuple(
        (repo / path).stat().st_mtime_ns for path in ("dvc.lock", "models/gan/generator.keras")
    )


@pytest.mark.slow
def test_retrain_trains_once_is_a_quick_no_op_then_retrains_on_a_new_param(
    tmp_path, tiny_params, monkeypatch, capfd
):
    repo = _dvc_repo(tmp_path, tiny_params)
    (tmp_path / "store").mkdir()
    store = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)  # the dvc stages inherit it
    monkeypatch.chdir(repo)
    name = "folder-images-gan"

    assert main(["--no-progress", "retrain"]) == 0
    out = capfd.readouterr().out
    assert "running dvc repro" in out and "Running stage 'train@gan'" in out
    assert f"retrain: {name}: v1 (FID " in out and "is the first champion" in out
    assert main(["sample", "--model-uri", f"models:/{name}@champion", "--out", "c.png"]) == 0
    assert Image.open(repo / "c.png").size[0] > 0
    capfd.readouterr()

    before = _stamps(repo)
    assert main(["--no-progress", "retrain"]) == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines[0] == "retrain: pipeline up to date; nothing to train"
    assert lines[1].startswith(f"retrain: {name}: v1 is already champion")
    assert len(lines) == 2 and _stamps(repo) == before  # no dvc repro, nothing rewritten

    spec = yaml.safe_load((repo / "params.yaml").read_text())
    spec["train"]["lr"] = 5e-4
    (repo / "params.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assert main(["retrain", "--dry-run"]) == 0
    out = capfd.readouterr().out
    assert "1 stage(s) changed (train@gan); would run dvc repro" in out
    assert _stamps(repo) == before

    assert main(["--no-progress", "retrain"]) == 0
    out = capfd.readouterr().out
    assert "Running stage 'train@gan'" in out and _stamps(repo) != before
    client = MlflowClient(store)
    fids = {
        int(v.version): float(v.tags["fid"])
        for v in client.search_model_versions(f"name = '{name}'")
    }
    assert sorted(fids) == [1, 2]  # every version kept
    champion = int(client.get_model_version_by_alias(name, "champion").version)
    if fids[2] < fids[1]:
        assert champion == 2 and f"v2 FID {fids[2]:.4g} beats champion v1" in out
    else:
        assert champion == 1 and f"kept champion v1 (FID {fids[1]:.4g} <= {fids[2]:.4g}" in out
