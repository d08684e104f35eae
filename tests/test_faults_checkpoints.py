"""Checkpoints under faults: a damaged file, a kill inside a write, a full disk.

Each case asserts the one-line notice (or error and exit code), that nothing half-written
sits under a final name, and that the next run recovers with no hand edit. Tiny `gan` runs
(2 epochs x 3 steps, checkpoints at steps 2, 3, 4 and 6: the newest two are kept).
"""

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.errors import StorageError
from pipeline.gans.families import resolve_run
from pipeline.training import checkpoints
from pipeline.training.checkpoints import CheckpointStore
from pipeline.training.loop import train
from tests import train_worker
from tests.helpers import mlflow_runs, one_line_error, repo_params, run_train_worker

IMAGES = np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1), dtype=np.uint8)


def _run():
    # tiny_params' training numbers (conftest), here for a module-scoped fixture
    params = repo_params(
        epochs=2, steps_per_epoch=3, batch_size=8, log_every=1, checkpoint_every=2, fid_every=0
    )
    return resolve_run(params, "gan")


def _train(checkpoint_dir: Path):
    return train(_run(), IMAGES, checkpoint_dir=checkpoint_dir, progress=False)


def _weights(result) -> list[np.ndarray]:
    return [v.numpy() for v in result.gan.generator.weights + result.gan.discriminator.weights]


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _assert_all_sound(directory: Path, fingerprint: str) -> None:
    """No temp folder left, and every checkpoint under a final name is whole: its meta.json
    reads, and state.npz has the checksum it names and loads."""
    assert not [p for p in directory.iterdir() if p.name.startswith(checkpoints.TEMP_PREFIX)]
    for path in directory.glob(f"{checkpoints.PREFIX}*"):
        meta = json.loads((path / "meta.json").read_text())
        assert meta["format"] == checkpoints.FORMAT and meta["fingerprint"] == fingerprint
        assert hashlib.sha256((path / "state.npz").read_bytes()).hexdigest() == meta["sha256"]
        with np.load(path / "state.npz") as state:
            assert all(state[name] is not None for name in state.files)


# --- ways to damage a checkpoint ------------------------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _not_an_npz_of_old_format(checkpoint: Path) -> None:
    """A checkpoint from before checksums (no format, no sha256) whose state.npz is a
    sound zip but not an npz: it passes the zip's CRCs and fails only when loaded."""
    import zipfile

    meta = json.loads((checkpoint / "meta.json").read_text())
    del meta["format"], meta["sha256"]
    (checkpoint / "meta.json").write_text(json.dumps(meta))
    with zipfile.ZipFile(checkpoint / "state.npz", "w") as archive:  # .npy magic, then junk
        archive.writestr("generator/kernel.npy", b"\x93NUMPY\x01\x00junk")


DAMAGE = {
    "truncated": (lambda c: _truncate(c / "state.npz"), "state.npz checksum mismatch"),
    "bit_flip": (lambda c: _flip_a_byte(c / "state.npz"), "state.npz checksum mismatch"),
    "meta_json": (lambda c: _truncate(c / "meta.json"), "meta.json unreadable: JSONDecodeError"),
}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """A run never interrupted: its checkpoints (steps 4 and 6 are kept) and weights."""
    directory = tmp_path_factory.mktemp("straight") / "checkpoints"
    result = _train(directory)
    assert _names(directory) == ["ckpt-000000004", "ckpt-000000006"]
    return directory, _weights(result)


def _copy(straight, tmp_path) -> Path:
    directory = tmp_path / "checkpoints"
    shutil.copytree(straight[0], directory)
    return directory


# --- the store alone --------------------------------------------------------------------


def test_a_checkpoint_holds_its_checksum_and_the_newest_two_are_kept(tmp_path):
    store = CheckpointStore(tmp_path, "abc")
    for step in (1, 2, 3):
        store.save(step, {"w": np.full(4, float(step))}, {"mlflow_run_id": "r"})
    assert _names(tmp_path) == ["ckpt-000000002", "ckpt-000000003"]
    _assert_all_sound(tmp_path, "abc")
    latest = store.latest()
    assert latest.step == 3 and latest.extra == {"mlflow_run_id": "r"}
    np.testing.assert_array_equal(latest.load_state()["w"], np.full(4, 3.0))


# --- a damaged checkpoint: set aside, the one before it used -----------------------------


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_newest_checkpoint_is_set_aside_and_the_previous_one_used(
    straight, tmp_path, capsys, damage
):
    directory = _copy(straight, tmp_path)
    newest = directory / "ckpt-000000006"
    harm, reason = DAMAGE[damage]
    harm(newest)
    capsys.readouterr()

    result = _train(directory)

    aside = directory / "corrupt" / "ckpt-000000006"
    assert capsys.readouterr().err.splitlines() == [
        f"checkpoint {newest} is corrupt ({reason}); moved to {aside}"
    ]
    assert aside.is_dir()  # kept for a look, not deleted
    assert result.resumed_from == 4 and result.steps == 6
    # resuming from step 4 ends where the run never interrupted ended
    for a, b in zip(straight[1], _weights(result), strict=True):
        np.testing.assert_array_equal(a, b)
    assert _names(directory) == ["ckpt-000000004", "ckpt-000000006", "corrupt"]
    _assert_all_sound(directory, _run().fingerprint())


def test_a_checkpoint_that_passes_the_checks_but_does_not_load_is_set_aside(
    straight, tmp_path, capsys
):
    """The loop's last line of defence: `latest` lets an old-format checkpoint through on
    its zip's CRCs; loading it fails, so it is set aside before anything is built from it."""
    from pipeline.training.loop import _resume_point

    directory = _copy(straight, tmp_path)
    _not_an_npz_of_old_format(directory / "ckpt-000000006")
    capsys.readouterr()

    checkpoint, saved = _resume_point(CheckpointStore(directory, _run().fingerprint()))

    assert checkpoint.step == 4 and "generator/g_dense1/kernel" in saved
    aside = directory / "corrupt" / "ckpt-000000006"
    assert capsys.readouterr().err.splitlines() == [
        f"checkpoint {directory / 'ckpt-000000006'} is corrupt (state.npz does not load: "
        f"ValueError); moved to {aside}"
    ]


def test_with_both_checkpoints_damaged_the_run_starts_afresh(straight, tmp_path, capsys):
    directory = _copy(straight, tmp_path)
    _flip_a_byte(directory / "ckpt-000000006" / "state.npz")
    _truncate(directory / "ckpt-000000004" / "meta.json")
    capsys.readouterr()

    result = _train(directory)

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(" is corrupt (" in line for line in lines), lines
    assert "ckpt-000000006 is corrupt (state.npz checksum mismatch)" in lines[0]
    assert "ckpt-000000004 is corrupt (meta.json unreadable" in lines[1]
    assert _names(directory / "corrupt") == ["ckpt-000000004", "ckpt-000000006"]
    assert result.resumed_from == 0 and result.steps == 6
    _assert_all_sound(directory, _run().fingerprint())


def test_a_checkpoint_damaged_twice_at_the_same_step_is_set_aside_beside_the_first(tmp_path):
    store = CheckpointStore(tmp_path, "abc", notify=lambda line: None)
    for _ in range(2):
        store.save(5, {"w": np.zeros(3)}, {})
        _truncate(tmp_path / "ckpt-000000005" / "state.npz")
        assert store.latest() is None
    assert _names(tmp_path / "corrupt") == ["ckpt-000000005", "ckpt-000000005-1"]


# --- params changed is not corrupt --------------------------------------------------------


def test_params_changed_is_said_as_such_and_a_corrupt_file_as_corrupt(tmp_path, capsys):
    from pipeline.stages.train import _resume_point

    directory = tmp_path / "checkpoints"
    old = CheckpointStore(directory, "old-params")
    old.save(2, {"w": np.zeros(3)}, {})
    old.save(3, {"w": np.zeros(3)}, {})
    capsys.readouterr()

    assert _resume_point(CheckpointStore(directory, "new-params"), "gan") is None
    out, err = capsys.readouterr()
    assert out == "train@gan: params changed since the last checkpoint; starting afresh\n"
    assert err == "" and not directory.exists()  # cleared, nothing set aside as corrupt

    old.save(2, {"w": np.zeros(3)}, {})
    _truncate(directory / "ckpt-000000002" / "meta.json")  # same params, unreadable file
    assert _resume_point(CheckpointStore(directory, "old-params"), "gan") is None
    out, err = capsys.readouterr()
    assert "params changed" not in out + err
    assert out == "train@gan: no usable checkpoint left; starting afresh\n"
    assert err.splitlines() == [
        f"checkpoint {directory / 'ckpt-000000002'} is corrupt (meta.json unreadable: "
        f"JSONDecodeError); moved to {directory / 'corrupt' / 'ckpt-000000002'}"
    ]


# --- a kill inside a checkpoint write -------------------------------------------------------

# Run in the worker's process before it trains: the second checkpoint write (step 5 of the
# worker's 2 epochs x 4 steps, checkpoints at 4, 5 and 8) gets half its bytes on disk,
# then the process is SIGKILLed, as by a power cut, inside CheckpointStore.save.
KILLED_IN_WRITE = """
import os, signal
from pipeline.training import checkpoints

writes = []

def write_then_die(target, state):
    checkpoints.np.savez(target, **state)
    writes.append(target)
    if len(writes) == 2:
        data = target.read_bytes()
        target.write_bytes(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)

checkpoints.write_state = write_then_die
"""


@pytest.mark.slow
def test_a_kill_inside_a_checkpoint_write_leaves_a_temp_folder_the_next_run_ignores(
    tmp_path, monkeypatch
):
    directory, resumed_npz = tmp_path / "checkpoints", tmp_path / "resumed.npz"
    run_train_worker(
        "gan", directory, tmp_path / "never.npz", expect=-signal.SIGKILL, before=KILLED_IN_WRITE
    )
    assert not (tmp_path / "never.npz").exists()
    temp, kept = _names(directory)
    assert kept == "ckpt-000000004" and temp.startswith(checkpoints.TEMP_PREFIX)
    assert not (directory / temp / "meta.json").exists()  # step 5, half-written

    # the same worker again, in this process (a second TensorFlow start costs seconds)
    monkeypatch.setattr(sys, "argv", ["train_worker.py", "gan", directory, resumed_npz])
    train_worker.main()

    resumed = np.load(resumed_npz)
    assert int(resumed["resumed_from"]) == 4 and int(resumed["steps"]) == 8
    assert _names(directory) == ["ckpt-000000005", "ckpt-000000008"]  # temp folder gone


# --- a full disk -------------------------------------------------------------------------


def _fail_on_call(n: int, write):
    """A stand-in for checkpoints.write_state (or any writer) whose n-th call writes a few
    bytes and then fails as a full disk does."""
    calls = []

    def failing(target, *args, **kwargs):
        calls.append(target)
        if len(calls) != n:
            return write(target, *args, **kwargs)
        Path(target).write_bytes(b"PK\x03\x04partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return failing


def _quiet_store(mlflow_store: str, capsys) -> None:
    """Create the session's MLflow tables now, so their INFO lines are not in the stderr
    a test reads."""
    mlflow_runs(mlflow_store, "gan")
    capsys.readouterr()


def test_disk_full_while_checkpointing_exits_6_and_the_rerun_resumes(
    tiny_repo, mlflow_store, monkeypatch, capsys
):
    out = tiny_repo / "models" / "gan"
    directory = out / "checkpoints"
    write_state = checkpoints.write_state
    monkeypatch.setattr(checkpoints, "write_state", _fail_on_call(3, write_state))  # step 4
    _quiet_store(mlflow_store, capsys)
    assert main(["--no-progress", "train", "--model", "gan"]) == StorageError.exit_code == 6
    line = one_line_error(capsys)
    assert line == (
        f"error: cannot write checkpoint step 4 in {Path('models/gan/checkpoints')} (No space "
        "left on device); the last checkpoint (ckpt-000000003) is kept; free space there and "
        "run the same command again: it resumes from the last checkpoint"
    )
    assert _names(directory) == ["ckpt-000000002", "ckpt-000000003"]  # no temp folder
    assert not (out / "generator.keras").exists()
    failed = mlflow_runs(mlflow_store, "gan")[0]
    assert failed.info.status == "FAILED"

    monkeypatch.setattr(checkpoints, "write_state", write_state)  # space freed
    assert main(["--no-progress", "train", "--model", "gan"]) == 0
    assert "train@gan: resuming from step 3" in capsys.readouterr().out
    run = mlflow_runs(mlflow_store, "gan")[0]  # the same run, continued
    assert run.info.run_id == failed.info.run_id and run.info.status == "FINISHED"
    assert run.data.tags["resumed_from"] == "3"
    assert not directory.exists() and (out / "train.json").is_file()


def test_disk_full_writing_the_outputs_then_a_truncated_checkpoint_still_recover(
    tiny_repo, mlflow_store, monkeypatch, capsys
):
    """The user's report: train stops after its last checkpoint; the newest state.npz is
    truncated; `train` must resume from the one before, not fail on every restart."""
    from PIL import Image

    out = tiny_repo / "models" / "gan"
    original = Image.Image.save

    def save(image, fp, *args, **kwargs):  # samples.png's write fails, the rest go through
        if not Path(str(fp)).name.startswith(".samples.png."):
            return original(image, fp, *args, **kwargs)
        return _fail_on_call(1, None)(fp)

    monkeypatch.setattr(Image.Image, "save", save)
    _quiet_store(mlflow_store, capsys)
    assert main(["--no-progress", "train", "--model", "gan"]) == 6
    assert one_line_error(capsys) == (
        f"error: cannot write the outputs in {Path('models/gan')} (No space left on device); "
        "free space there (or make it writable) and run the same command again: it resumes "
        "from the last checkpoint"
    )
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp file left
    assert not (out / "samples.png").exists() and not (out / "train.json").exists()
    assert _names(out / "checkpoints") == ["ckpt-000000004", "ckpt-000000006"]

    monkeypatch.setattr(Image.Image, "save", original)  # space freed
    _truncate(out / "checkpoints" / "ckpt-000000006" / "state.npz")
    assert main(["--no-progress", "train", "--model", "gan"]) == 0
    stdout, stderr = capsys.readouterr()
    newest = Path("models/gan/checkpoints/ckpt-000000006")
    assert f"checkpoint {newest} is corrupt (state.npz checksum mismatch); moved to " in stderr
    assert [line for line in stderr.splitlines() if "corrupt" in line] == [
        f"checkpoint {newest} is corrupt (state.npz checksum mismatch); moved to "
        f"{Path('models/gan/checkpoints/corrupt/ckpt-000000006')}"
    ]
    assert "train@gan: resuming from step 4" in stdout
    run = mlflow_runs(mlflow_store, "gan")[0]
    assert run.info.status == "FINISHED" and run.data.tags["resumed_from"] == "4"
    assert (out / "samples.png").is_file() and (out / "train.json").is_file()
    # the run is done: its checkpoints are gone, the corrupt one stays for a look
    assert _names(out / "checkpoints") == ["corrupt"]


@pytest.fixture
def small_tmpfs(tmp_path):
    """A mount point for a tmpfs (root only); unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the ENOSPC test with a patched write runs)")
    point = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(point)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield point
    subprocess.run(["umount", str(point)], check=False)


def _resize(point: Path, size: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(point)], check=True)


def test_a_full_tmpfs_stops_the_run_and_the_rerun_resumes_once_there_is_space(
    straight, small_tmpfs
):
    # room for one checkpoint and a half: step 2's fits, step 3's fills the disk
    one = sum(f.stat().st_size for f in (straight[0] / "ckpt-000000004").iterdir())
    _resize(small_tmpfs, one * 3 // 2)
    with pytest.raises(StorageError) as stopped:
        _train(small_tmpfs)
    assert str(stopped.value) == (
        f"cannot write checkpoint step 3 in {small_tmpfs} (No space left on device); the last "
        "checkpoint (ckpt-000000002) is kept; free space there and run the same command "
        "again: it resumes from the last checkpoint"
    )
    assert _names(small_tmpfs) == ["ckpt-000000002"]  # the temp folder is gone
    _assert_all_sound(small_tmpfs, _run().fingerprint())

    _resize(small_tmpfs, one * 4)  # space freed
    result = _train(small_tmpfs)
    assert result.resumed_from == 2 and result.steps == 6
    for a, b in zip(straight[1], _weights(result), strict=True):
        np.testing.assert_array_equal(a, b)
    assert _names(small_tmpfs) == ["ckpt-000000004", "ckpt-000000006"]
