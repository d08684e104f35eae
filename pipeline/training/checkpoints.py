"""Checkpoints that make a killed run resumable.

A checkpoint holds every variable of both networks (weights, batch-norm statistics, the
dropout layers' RNG states), both optimizers' slots and step counters, the averaged
generator and the phase schedules, each under its name (pipeline.training.state), the
global step,
the loss history so far and the MLflow run id. Together with the data pipeline being a
pure function of (seed, step), restoring one and training on gives the same weights as
never having stopped.

Layout: <dir>/ckpt-<step>/{state.npz, meta.json}. A checkpoint is written into a temp
folder and renamed into place, so a kill mid-write leaves at worst a temp folder that is
ignored (and removed) later; only the newest complete checkpoint is kept.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PREFIX = "ckpt-"


@dataclass
class Checkpoint:
    step: int
    fingerprint: str
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def load_state(self) -> dict[str, np.ndarray]:
        """name -> value of every variable saved."""
        with np.load(self.path / "state.npz", allow_pickle=False) as state:
            return {name: state[name] for name in state.files}


class CheckpointStore:
    """The checkpoints of one model's training run, in one folder."""

    def __init__(self, directory: Path, fingerprint: str):
        self.directory = Path(directory)
        self.fingerprint = fingerprint

    def _complete(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        found = [
            p
            for p in self.directory.iterdir()
            if p.name.startswith(PREFIX) and (p / "meta.json").is_file()
        ]
        return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint written with the same config, or None."""
        for path in reversed(self._complete()):
            try:
                meta = json.loads((path / "meta.json").read_text())
            except (OSError, ValueError):
                continue
            if meta.get("fingerprint") == self.fingerprint:
                return Checkpoint(meta["step"], meta["fingerprint"], path, meta.get("extra", {}))
        return None

    def stale(self) -> bool:
        """True when checkpoints exist but were written with another config."""
        return bool(self._complete()) and self.latest() is None

    def save(self, step: int, state: dict[str, np.ndarray], extra: dict[str, Any]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.directory, prefix=".tmp-"))
        try:
            np.savez(tmp / "state.npz", **state)
            meta = {"step": step, "fingerprint": self.fingerprint, "extra": extra}
            (tmp / "meta.json").write_text(json.dumps(meta))
            for name in ("state.npz", "meta.json"):
                with open(tmp / name, "rb") as handle:
                    os.fsync(handle.fileno())
            final = self.directory / f"{PREFIX}{step:09d}"
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._prune(keep=final)
        return final

    def _prune(self, keep: Path) -> None:
        for path in self.directory.iterdir():
            if path != keep and (path.name.startswith(PREFIX) or path.name.startswith(".tmp-")):
                shutil.rmtree(path, ignore_errors=True)

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
