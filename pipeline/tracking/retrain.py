"""`python -m pipeline retrain`: rerun the pipeline when data or params changed, then move
the alias `champion` to each GAN's new version when its FID is better.

Made for timers (systemd, cron, CI schedules):
- Quick when nothing changed: `dvc status dvc.yaml` decides (about a second), `dvc repro` is
  skipped, and only the cheap promotion check runs.
- One at a time: an flock on .dvc/tmp/retrain.lock. A second retrain exits at once with
  RetrainBusy (exit 75, EX_TEMPFAIL), so a timer can tell "busy" from "failed". The kernel
  drops the lock when its holder dies, so a killed retrain never blocks the next one.
- Promotion runs even when nothing changed: a `dvc repro` run by hand registers versions
  that no retrain has judged yet (when the current version is champion, it is a no-op).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import PipelineError, ReproError, RetrainBusy

if TYPE_CHECKING:
    from mlflow import MlflowClient

LOCK_FILE = Path(".dvc") / "tmp" / "retrain.lock"
# What DVC says when another DVC process holds the repository (its lock or rwlock).
DVC_BUSY = ("Unable to acquire lock", "is busy, it is being blocked by")


@contextmanager
def retrain_lock(path: Path = LOCK_FILE) -> Iterator[None]:
    """Hold an exclusive, non-blocking flock on `path` (its pid and start time inside, for
    the message a second retrain prints)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # "a+", not "w": truncating before holding the lock would wipe the holder's pid.
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RetrainBusy(_busy_message(path)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {time.time():.0f}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _busy_message(path: Path) -> str:
    try:
        pid, started = path.read_text().split()
        when = datetime.fromtimestamp(float(started))
    except (OSError, ValueError):  # the holder is between taking the lock and writing it
        pid, when = "?", None
    since = "?" if when is None else when.strftime("%H:%M:%S")
    if when is not None and when.date() != datetime.now().date():
        since = when.strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"another retrain is running (pid {pid} since {since}); wait for it to finish "
        f"(it holds {path})"
    )


def dvc_command(*args: str) -> list[str]:
    """DVC of this interpreter: no PATH lookup, so a timer's bare PATH still finds it."""
    return [sys.executable, "-m", "dvc", *args]


def stage_env() -> dict[str, str]:
    """This interpreter's bin/ first on PATH: dvc.yaml's `python -m pipeline ...` then
    runs in the same environment as retrain, under cron or systemd too."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def changed_stages() -> dict:
    """`dvc status dvc.yaml --json`: {stage: [what changed]} of the pipeline `dvc repro`
    runs; empty when it is up to date. The target matters: without one, DVC reports the
    never-run tune@ stages of models/tune/dvc.yaml too, and nothing would ever be a no-op."""
    result = subprocess.run(
        dvc_command("status", "dvc.yaml", "--json"),
        capture_output=True,
        text=True,
        env=stage_env(),
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no output"]
        # A `dvc repro` or `dvc exp run` started by hand holds DVC's own lock: busy too.
        if any(sign in result.stderr for sign in DVC_BUSY):
            holder = next((line.strip() for line in lines if "(PID" in line), "")
            raise RetrainBusy(
                f"another DVC process is using this repository{f' {holder}' if holder else ''}"
                "; try again when it has finished"
            )
        raise ReproError(f"dvc status failed (exit {result.returncode}): {lines[0]}")
    return json.loads(result.stdout or "{}")


def run_repro() -> None:
    """`dvc repro`, its output streamed to ours; a failure is one line (DVC's own output,
    above it, names the stage)."""
    code = subprocess.run(dvc_command("repro"), env=stage_env()).returncode
    if code != 0:
        raise ReproError(
            f"dvc repro failed (exit {code}); its output above names the stage; fix it and "
            "run retrain again"
        )


def retrain_command(params_path: Path, dry_run: bool = False) -> list[str]:
    """Retrain what changed and judge every GAN of train.models; returns the printed lines.

    A dry run takes no lock and changes nothing: it says what would be run and decided."""
    if not Path(".dvc").is_dir():
        raise PipelineError("retrain runs `dvc repro`: run it from the repository's root")
    if dry_run:
        return _retrain(params_path, dry_run=True)
    with retrain_lock():
        return _retrain(params_path, dry_run=False)


def _retrain(params_path: Path, dry_run: bool) -> list[str]:
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)  # flushed: dvc repro's output follows it on the same stream
        lines.append(line)

    prefix = "retrain (dry run)" if dry_run else "retrain"
    changed = changed_stages()
    if not changed:
        say(f"{prefix}: pipeline up to date; nothing to train")
    else:
        names = ", ".join(sorted(changed))
        verb = "would run" if dry_run else "running"
        say(f"{prefix}: {len(changed)} stage(s) changed ({names}); {verb} dvc repro")
        if dry_run:
            return lines  # what repro makes is not there yet to judge
        run_repro()
    for line in judge_models(params_path, dry_run):
        say(f"{prefix}: {line}")
    return lines


def judge_models(params_path: Path, dry_run: bool = False) -> list[str]:
    """One promotion line for each GAN of train.models (its run.json's registered version)."""
    from pipeline.config import load_params
    from pipeline.tracking.registry import registry_client

    params = load_params(params_path)
    # The names as params.yaml lists them, not parse_train(...).models: checking them
    # imports every GAN family, hence Keras and TensorFlow (5 s of a 10 s no-op), and
    # `dvc repro` has just run (or found nothing to run) on these params anyway.
    models = list((params.get("train") or {}).get("models") or {})
    client = registry_client()
    return [line for model in models for line in _judge(client, params, model, dry_run)]


def _judge(client: MlflowClient, params: dict, model: str, dry_run: bool) -> list[str]:
    """The lines of one GAN: its version judged against the champion (measured again
    first when the two FIDs were measured differently)."""
    from pipeline.config import parse_data, parse_evaluate
    from pipeline.saved import EVALUATOR_DIR, model_dir
    from pipeline.tracking.registry import (
        decide,
        file_digest,
        promote_if_better,
        register_scored_run,
        registered_name,
        remeasure_champion,
        version_of_run,
    )

    dataset, fid_samples = parse_data(params).dataset, parse_evaluate(params).n_samples
    run_id = _read_json(model_dir(model) / "run.json").get("mlflow_run_id")
    if not run_id:
        return [f"{model}: no MLflow run in models/{model}/run.json; nothing to judge"]
    name = registered_name(dataset, model)
    version = version_of_run(client, name, run_id)
    if version is None and dry_run:
        return [f"{model}: run {run_id} is not registered yet; retrain would register and judge it"]
    if version is None:
        # Evaluated before registration existed: the pipeline is up to date here, so
        # metrics.json holds this run's scores.
        scores = _read_json(model_dir(model) / "metrics.json")
        evaluator = file_digest(EVALUATOR_DIR / "model.keras")
        version = register_scored_run(
            client, dataset, model, run_id, scores, fid_samples, evaluator
        )
        if version is None:
            return [f"{model}: models/{model}/metrics.json has no fid; nothing to judge"]
    if dry_run:
        return [str(decide(client, name, version.version))]
    remeasured = remeasure_champion(client, name, version.version, params)
    decision = str(promote_if_better(client, name, version.version))
    return [remeasured, decision] if remeasured else [decision]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
