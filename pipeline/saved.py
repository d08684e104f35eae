"""The saved models the stages write and read: where they live and how they load.

Every load of a missing or unreadable file is a one-line DataError naming the stage that
makes it. Kept apart from pipeline.stages so the library (tasks, registry) can load models
without importing the commands.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import DataError
from pipeline.images import atomic_path

MODELS_DIR = Path("models")
EVALUATOR_DIR = MODELS_DIR / "evaluator"
REFERENCE_DIR = MODELS_DIR / "reference"


def model_dir(model: str) -> Path:
    return MODELS_DIR / model


def load_generator(model: str):
    """The trained generator of `model`, with a one-line error naming the stage to run."""
    return load_keras(model_dir(model) / "generator.keras", stage=f"train@{model}")


def load_discriminator(model: str):
    """The trained discriminator of `model` (sgan/catgan: the classifier)."""
    return load_keras(model_dir(model) / "discriminator.keras", stage=f"train@{model}")


def load_keras(path: Path, stage: str):
    """A saved Keras model; missing or unreadable, a one-line error naming the stage."""
    import keras

    import pipeline  # noqa: F401  (registers the project's custom layers)

    if not path.is_file():
        raise DataError(f"{path} not found; make it first: `dvc repro {stage}`")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # a truncated or foreign file
        raise DataError(
            f"{path} could not be loaded ({type(error).__name__}); make it again: "
            f"`dvc repro -f {stage}`"
        ) from None


# --- writing outputs: each atomically (a temp file beside it, then a rename) ---------------


@contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """A temp path beside `target` to write; renamed onto `target` only if the block
    finishes, removed otherwise (a kill mid-write leaves no half-written output)."""
    tmp, commit = atomic_path(target)
    try:
        yield tmp
        commit()
    finally:
        tmp.unlink(missing_ok=True)


def save_keras(model, target: Path) -> None:
    with atomic_file(target) as tmp:
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
