"""Checkpoints that make a killed run resumable, and that a damaged file cannot stop.

A checkpoint holds every variable of both networks (weights, batch-norm statistics, the
dropout layers' RNG states), both optimizers' slots and step counters, the averaged
generator and the phase schedules, each under its name (pipeline.training.state), the
global step, the loss history so far and the MLflow run id. Together with the data
pipeline being a pure function of (seed, step), restoring one and training on gives the
same weights as never having stopped.

Layout: <dir>/ckpt-<step>/{state.npz, meta.json}. meta.json holds the step, the params'
fingerprint, the format version (FORMAT) and the sha256 of state.npz's bytes.

Writing: a checkpoint is written into a temp folder (<dir>/.tmp-*), fsynced and renamed into
place, so a kill mid-write leaves at worst a temp folder that is ignored (and removed at the
next save). The newest KEEP (two) complete checkpoints are kept, so that when the newest
turns out damaged there is a previous one to fall back to. Any OSError while writing (disk
full, a read-only folder) removes the temp folder, keeps the previous checkpoints and
raises StorageError (exit code 6): free space and run again, it resumes from the last one.

Reading (`CheckpointStore.latest`), newest first: a checkpoint whose meta.json is missing or
unreadable, whose state.npz is missing, fails its checksum or does not open, is reported in
one line on stderr and moved aside to <dir>/corrupt/ckpt-<step>[-N] (kept, not deleted,
so it can be looked at), and the one before it is tried; none left means a fresh start.
A checkpoint with a readable meta.json and another fingerprint is not corrupt: it was
written with other params (`stale`), which the train stage reports as such and clears.
Checkpoints written before FORMAT 1 have no checksum: the zip's own CRCs check them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import DataError, StorageError
from pipeline.saved import fsync_file, fsync_folder

PREFIX = "ckpt-"
TEMP_PREFIX = ".tmp-"
CORRUPT_DIR = "corrupt"
FORMAT = 1  # 1: meta.json has "format" and "sha256" (of state.npz)
KEEP = 2  # the newest and the one before it, to fall back to


class CorruptCheckpoint(DataError):
    """A checkpoint's files cannot be trusted (unreadable, truncated, altered). `latest`
    and the loop set such a checkpoint aside; the message is for anyone else who meets it."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(
            f"checkpoint {path} is corrupt ({reason}); run train again, which sets it aside "
            "and resumes from the one before (or delete it)"
        )


@dataclass
class Checkpoint:
    step: int
    fingerprint: str
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None  # None: written before FORMAT 1

    def load_state(self) -> dict[str, np.ndarray]:
        """name -> value of every variable saved; CorruptCheckpoint when the bytes are not
        the ones written (checked again here: the file is read once, hashed and loaded)."""
        try:
            data = (self.path / "state.npz").read_bytes()
        except OSError as error:
            reason = f"state.npz unreadable: {error.strerror or error}"
            raise CorruptCheckpoint(self.path, reason) from None
        if self.sha256 is not None and hashlib.sha256(data).hexdigest() != self.sha256:
            raise CorruptCheckpoint(self.path, "state.npz checksum mismatch")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as state:
                values = {name: state[name] for name in state.files}
        except Exception as error:  # numpy/zipfile raise many types on damaged bytes
            reason = f"state.npz does not load: {type(error).__name__}"
            raise CorruptCheckpoint(self.path, reason) from None
        # np.load hands back a member that is not an .npy as raw bytes
        odd = next(
            (name for name, value in values.items() if not isinstance(value, np.ndarray)), None
        )
        if odd is not None:
            raise CorruptCheckpoint(self.path, f"state.npz: {odd} is not an array")
        return values


def report(line: str) -> None:
    """Where the store's one-line notices go (stderr; a test may replace it)."""
    print(line, file=sys.stderr, flush=True)


class CheckpointStore:
    """The checkpoints of one model's training run, in one folder.

    `writable` false (a non-chief worker): nothing is ever written, moved or deleted; a
    corrupt checkpoint is only skipped.
    """

    def __init__(
        self,
        directory: Path,
        fingerprint: str,
        writable: bool = True,
        notify: Callable[[str], None] = report,
    ):
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.writable = writable
        self.notify = notify
        self.set_aside_count = 0  # checkpoints found corrupt by this store
        self._rejected: set[Path] = set()  # corrupt ones left in place (not writable)

    # --- reading ---------------------------------------------------------------------

    def _complete(self) -> list[Path]:
        """Every ckpt-<step> folder, oldest first (temp folders and corrupt/ excluded)."""
        if not self.directory.is_dir():
            return []
        found = [p for p in self.directory.iterdir() if _step_of(p) is not None and p.is_dir()]
        return sorted(found, key=_step_of)

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint written with these params whose files check out, or None.

        Each corrupt one met on the way is set aside (one line on stderr) and the one
        before it tried. Ones written with other params are skipped (see `stale`)."""
        for path in reversed(self._complete()):
            if path in self._rejected:
                continue
            try:
                meta = _read_meta(path)
            except CorruptCheckpoint as error:
                self.set_aside(path, error.reason)
                continue
            if meta["fingerprint"] != self.fingerprint:
                continue  # other params: not corrupt, and not ours to use
            checkpoint = Checkpoint(
                meta["step"], meta["fingerprint"], path, meta.get("extra", {}), meta.get("sha256")
            )
            try:
                _verify_state(checkpoint)
            except CorruptCheckpoint as error:
                self.set_aside(path, error.reason)
                continue
            return checkpoint
        return None

    def stale(self) -> bool:
        """True when no usable checkpoint is left but some were written with other params
        (a readable meta.json with another fingerprint): the run starts afresh."""
        if self.latest() is not None:
            return False
        for path in self._complete():
            try:
                if _read_meta(path)["fingerprint"] != self.fingerprint:
                    return True
            except CorruptCheckpoint:
                continue
        return False

    def set_aside(self, path: Path, reason: str) -> Path | None:
        """Move a corrupt checkpoint to <dir>/corrupt/ (kept for a look, never used again)
        and say so in one line; returns where it went (None: left in place)."""
        self.set_aside_count += 1
        where = None
        if self.writable:
            target = _free_name(self.directory / CORRUPT_DIR / path.name)
            try:
                target.parent.mkdir(exist_ok=True)
                os.replace(path, target)
                where = target
            except OSError as error:  # it stays, skipped by this store
                reason += f"; could not move it ({error.strerror or error})"
        if where is None:
            self._rejected.add(path)
        moved = f"moved to {where}" if where else "left in place, skipped"
        self.notify(f"checkpoint {path} is corrupt ({reason}); {moved}")
        return where

    # --- writing ---------------------------------------------------------------------

    def save(self, step: int, state: dict[str, np.ndarray], extra: dict[str, Any]) -> Path:
        """Write checkpoint `step` atomically and prune to the newest KEEP; on any OSError
        (disk full) nothing new is left behind and StorageError is raised."""
        final = self.directory / f"{PREFIX}{step:09d}"
        tmp: Path | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self.directory, prefix=TEMP_PREFIX))
            write_state(tmp / "state.npz", state)
            meta = {
                "format": FORMAT,
                "step": step,
                "fingerprint": self.fingerprint,
                "sha256": _sha256(tmp / "state.npz"),
                "extra": extra,
            }
            (tmp / "meta.json").write_text(json.dumps(meta))
            for name in ("state.npz", "meta.json"):
                fsync_file(tmp / name)
            shutil.rmtree(final, ignore_errors=True)  # the same step again: replace it
            os.replace(tmp, final)
            fsync_folder(self.directory)  # the rename itself survives a power cut
            self._rejected.discard(final)  # a corrupt one left in place is replaced
        except OSError as error:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise self._storage_error(step, error) from error
        except BaseException:  # an interrupt: no temp folder left behind either
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._prune(keep=final)
        return final

    def _storage_error(self, step: int, error: OSError) -> StorageError:
        kept = [p.name for p in self._complete()]
        last = f"the last checkpoint ({kept[-1]}) is kept" if kept else "no checkpoint yet"
        full = error.errno in (errno.ENOSPC, errno.EDQUOT)
        fix = "free space there" if full else "make it writable (or free space)"
        return StorageError(
            f"cannot write checkpoint step {step} in {self.directory} "
            f"({error.strerror or error}); {last}; {fix} and run the same command again: "
            "it resumes from the last checkpoint"
        )

    def _prune(self, keep: Path) -> None:
        """Keep `keep` and the newest checkpoint before it; remove older ones, ones with a
        later step (another params' leftovers) and temp folders of killed writes."""
        step = _step_of(keep)
        earlier = [p for p in self._complete() if _step_of(p) < step]
        kept = {keep, *earlier[-(KEEP - 1) :]}
        for path in self.directory.iterdir():
            leftover = path.name.startswith(TEMP_PREFIX) or _step_of(path) is not None
            if leftover and path not in kept:
                shutil.rmtree(path, ignore_errors=True)

    def clear(self) -> None:
        """Remove every checkpoint and temp folder; corrupt/ stays (it was reported, and is
        the user's to look at and delete)."""
        if not self.directory.is_dir():
            return
        for path in self.directory.iterdir():
            if path.name != CORRUPT_DIR:
                shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):  # not empty: corrupt/ is in it
            self.directory.rmdir()


def write_state(target: Path, state: dict[str, np.ndarray]) -> None:
    """state.npz's bytes (its own function so the fault tests can make it fail)."""
    np.savez(target, **state)


def _step_of(path: Path) -> int | None:
    digits = path.name[len(PREFIX) :]
    return int(digits) if path.name.startswith(PREFIX) and digits.isdigit() else None


def _read_meta(path: Path) -> dict[str, Any]:
    """meta.json, checked for the keys a resume needs; CorruptCheckpoint otherwise."""
    try:
        meta = json.loads((path / "meta.json").read_text())
    except FileNotFoundError:
        raise CorruptCheckpoint(path, "meta.json missing") from None
    except (OSError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        raise CorruptCheckpoint(path, f"meta.json unreadable: {type(error).__name__}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("step"), int):
        raise CorruptCheckpoint(path, "meta.json has no step")
    if not isinstance(meta.get("fingerprint"), str):
        raise CorruptCheckpoint(path, "meta.json has no fingerprint")
    if not isinstance(meta.get("extra", {}), dict):
        raise CorruptCheckpoint(path, "meta.json has a malformed extra")
    version = meta.get("format", 0)  # 0: written before checksums
    if not isinstance(version, int):
        raise CorruptCheckpoint(path, "meta.json has a malformed format")
    if version > FORMAT:  # a newer pipeline wrote it: unusable here, so set aside (kept)
        raise CorruptCheckpoint(path, f"format {version} is newer than this code's {FORMAT}")
    if version >= 1 and not isinstance(meta.get("sha256"), str):
        raise CorruptCheckpoint(path, "meta.json has no sha256")
    return meta


def _verify_state(checkpoint: Checkpoint) -> None:
    """state.npz is there, has the bytes written (sha256) and opens as an npz. Streams the
    file: the variables are loaded later, once, by Checkpoint.load_state."""
    path, state = checkpoint.path, checkpoint.path / "state.npz"
    if not state.is_file():
        raise CorruptCheckpoint(path, "state.npz missing")
    try:
        if checkpoint.sha256 is not None:
            if _sha256(state) != checkpoint.sha256:
                raise CorruptCheckpoint(path, "state.npz checksum mismatch")
            with zipfile.ZipFile(state) as archive:  # reads the directory only
                archive.namelist()
        else:  # before FORMAT 1: the zip's CRC of every member
            with zipfile.ZipFile(state) as archive:
                if archive.testzip() is not None:
                    raise CorruptCheckpoint(path, "state.npz CRC mismatch")
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as error:
        raise CorruptCheckpoint(path, f"state.npz does not open: {type(error).__name__}") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _free_name(target: Path) -> Path:
    """`target`, or target-1, target-2, ... when a checkpoint of that step was set aside
    before."""
    candidate, n = target, 0
    while candidate.exists():
        n += 1
        candidate = target.with_name(f"{target.name}-{n}")
    return candidate
