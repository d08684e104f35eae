"""The files the stages write and read back: where they live, how they are written (each
atomically) and how they are read (a missing or damaged file is one line naming it and
the stage that makes it again).

Kept apart from pipeline.stages so the library (tasks, registry) can load models without
importing the commands, and at the bottom layer so pipeline.data, pipeline.scoring and
pipeline.images share one writer and one kind of error.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ConfigError, DataError

MODELS_DIR = Path("models")
EVALUATOR_DIR = MODELS_DIR / "evaluator"
REFERENCE_DIR = MODELS_DIR / "reference"


def model_dir(model: str) -> Path:
    return MODELS_DIR / model


# --- what to run when a file is missing or damaged ---------------------------------------


@dataclass(frozen=True)
class Maker:
    """The stage that writes a file: what its errors tell a user to run."""

    stage: str  # the DVC stage, e.g. "fetch", "train@gan"
    command: str  # the same as `python -m pipeline <command>`, e.g. "train --model gan"

    def missing(self, path: Path) -> DataError:
        return DataError(
            f"{path} not found; run `python -m pipeline {self.command}` "
            f"(or `dvc repro {self.stage}`)"
        )

    def corrupt(self, path: Path, reason: BaseException | str) -> DataError:
        # "delete it" first: DVC decides whether an output changed by its size and mtime,
        # so a file damaged in place (bit rot, a copy gone wrong) may look unchanged to
        # `dvc repro`, while a deleted one is always remade (or restored from DVC's cache).
        # Not `dvc repro -f`: that forces every stage upstream of this one too (the
        # evaluator included, which would change every score).
        return DataError(
            f"{path} is corrupt or unreadable ({_reason(reason)}); delete it and re-run "
            f"`python -m pipeline {self.command}` (or `dvc repro {self.stage}`)"
        )


FETCH = Maker("fetch", "fetch")
EDGES = Maker("edges", "edges")
LOWRES = Maker("lowres", "lowres")
EVALUATOR = Maker("evaluator", "evaluator")
REFERENCE = Maker("reference", "reference")


def trained(model: str) -> Maker:
    """The stage that writes models/MODEL/*."""
    return Maker(f"train@{model}", f"train --model {model}")


def _reason(reason: BaseException | str, limit: int = 160) -> str:
    """The first line of an error (or its type when it has no text), kept short."""
    if not isinstance(reason, str):
        lines = str(reason).strip().splitlines()
        reason = lines[0] if lines else type(reason).__name__
    return reason if len(reason) <= limit else reason[: limit - 3] + "..."


# --- reading ----------------------------------------------------------------------------

# What damage looks like while reading a zip-based file (npz, .keras): a truncated archive
# or a bad header (BadZipFile, EOFError, ValueError), a CRC-32 mismatch in a member read to
# its end (BadZipFile), a broken deflate stream (zlib.error), a missing array (KeyError), a
# file that cannot be opened (OSError).
READ_ERRORS = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error)


def check_zip(path: Path, *, members: bool) -> None:
    """Raise zipfile.BadZipFile unless `path` is a complete zip archive; with `members`,
    also read every member through its CRC-32 (the only checksum these files carry)."""
    # Opened here, not by is_zipfile, which would turn "permission denied" into False
    with open(path, "rb") as handle:
        complete = zipfile.is_zipfile(handle)
    if not complete:  # no end-of-archive record: truncated, or not a zip at all
        raise zipfile.BadZipFile("not a complete zip archive")
    if members:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
        if bad is not None:
            raise zipfile.BadZipFile(f"bad CRC-32 for {bad}")


@contextlib.contextmanager
def read_npz(path: Path, maker: Maker) -> Iterator:
    """`np.load(path)` (no pickles) for the block. Missing, it is `maker.missing`; damaged,
    it is `maker.corrupt`: whatever the block reads fails zip's or numpy's checks (see
    READ_ERRORS), or the block's own (raise ValueError for an inconsistent array).

    Only what the block reads is checked (members are read lazily): a flip in a member it
    never reads does not change what it returns, and the reader of that member sees it."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise maker.missing(path)
    try:
        check_zip(path, members=False)
        with np.load(path, allow_pickle=False) as npz:
            yield npz
    except READ_ERRORS as error:
        raise maker.corrupt(path, error) from None


def read_json(path: Path, maker: Maker) -> dict:
    """A JSON object the pipeline wrote. JSON has no checksum: a flip that leaves valid
    JSON is read as it is (DVC's hash of the file in dvc.lock is what notices it)."""
    path = Path(path)
    if not path.is_file():
        raise maker.missing(path)
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        raise maker.corrupt(path, error) from None
    if not isinstance(payload, dict):
        raise maker.corrupt(path, f"a JSON {type(payload).__name__}, not an object")
    return payload


def load_keras(path: Path, maker: Maker):
    """A saved Keras model; missing or damaged, a one-line DataError naming `maker`."""
    import keras

    import pipeline  # noqa: F401  (its environment settings; StyleGAN's layers: see load_generator)

    path = Path(path)
    if not path.is_file():
        raise maker.missing(path)
    try:
        # Every member through its CRC-32 first (15 ms for the 10 MB evaluator): Keras
        # checks it when it reads the weights into memory, but if that read fails it falls
        # back to reading them from the zip on the fly, which need not read every byte
        # (keras/src/saving/saving_lib.py, _load_model_from_fileobj). Its own error for a
        # truncated file says "File not found", which it is not.
        check_zip(path, members=True)
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # whatever Keras raises for a file it cannot rebuild
        raise maker.corrupt(path, error) from None


def load_generator(model: str):
    """The trained generator of `model`, computing in float32, with a one-line error
    naming the stage to run.

    ProGAN's, StyleGAN's and SRGAN's generators have custom layers: a caller that may load
    one imports `pipeline.gans.blocks` first (evaluate, sample, explore, upscale and the
    registry do; kept out of this module so that the stages that load no generator do not
    depend on the layers' code)."""
    return in_float32(load_keras(model_dir(model) / "generator.keras", trained(model)))


def _float32_policies(node):
    """A Keras config with every mixed dtype policy ("mixed_bfloat16", "mixed_float16")
    replaced by "float32"; layers that were float32 already stay as they are."""
    if isinstance(node, dict):
        if node.get("class_name") == "DTypePolicy":
            name = node.get("config", {}).get("name", "")
            if name.startswith("mixed_"):
                return {**node, "config": {**node["config"], "name": "float32"}}
        return {key: _float32_policies(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_float32_policies(value) for value in node]
    return node


def in_float32(network):
    """`network` rebuilt to compute in float32 with the same weights, if it was trained
    under a mixed policy (its variables are float32 either way); else `network` itself.

    Scores are taken in float32 whatever the training precision: bfloat16 keeps 8 bits of
    mantissa, so the perceptual path length's latent steps of 1e-4 vanish or jump in it
    (PPL 50-1000x too high on bf16 generators, 2026-12-04), and FID would measure the
    rounding as well as the generator."""
    config = network.get_config()
    float32 = _float32_policies(config)
    if float32 == config:
        return network
    rebuilt = network.__class__.from_config(float32)
    rebuilt.set_weights(network.get_weights())
    return rebuilt


def load_discriminator(model: str):
    """The trained discriminator of `model` (sgan/catgan: the classifier)."""
    return load_keras(model_dir(model) / "discriminator.keras", trained(model))


def training_run_id(model: str) -> str | None:
    """The MLflow run that trained `model` (models/MODEL/run.json), if there is one."""
    run_file = model_dir(model) / "run.json"
    if not run_file.is_file():
        return None
    return read_json(run_file, trained(model)).get("mlflow_run_id")


# --- writing outputs: each atomically (a temp file beside it, then a rename) -------------


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk (before the rename that publishes it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable; not every platform or file system lets one open
    a folder, so best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _shared_mode() -> int:
    """0666 less the umask: what a plain open() would have made (mkstemp makes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_file(target: Path, suffix: str = ".part") -> Iterator[Path]:
    """A temp path beside `target` to write; moved onto `target` only if the block
    finishes, removed otherwise. A kill mid-write leaves at most a hidden
    `.<name>.*<suffix>` file, never a half-written `target`; the data reaches the disk
    before the rename, so a power cut cannot leave an empty `target` either.

    `suffix` ends the temp name, for writers that go by it (Keras wants `.keras`)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        fsync_file(tmp)
        os.chmod(tmp, _shared_mode())
        os.replace(tmp, target)  # atomic within one file system, and the folder is the same
    finally:
        tmp.unlink(missing_ok=True)
    fsync_folder(target.parent)  # makes the rename itself durable


def save_keras(model, target: Path) -> None:
    with atomic_file(target, suffix=".part.keras") as tmp:
        model.save(tmp)


def write_csv(rows: list[dict], columns: list[str], target: Path) -> None:
    with atomic_file(target) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def write_json(payload: dict, target: Path) -> None:
    write_text(json.dumps(payload, indent=2) + "\n", target)


def write_text(text: str, target: Path) -> None:
    with atomic_file(target) as tmp:
        tmp.write_text(text)


def check_output_file(path: Path, option: str, example: str) -> Path:
    """A user's output file (`--out`), checked before any work is done: not a folder and
    not under a file. A missing parent folder is fine: it is created when the file is
    written, as for every output."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            f"{option} {path} is a folder; give the file to write, e.g. {option} {path / example}"
        )
    existing = next((parent for parent in path.parents if parent.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"{option} {path}: {existing} is a file, not a folder")
    return path
