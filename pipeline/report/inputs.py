"""What the report reads of each GAN, and `report --inputs NAME`, which writes
reports/inputs/NAME.json: those files' MD5 checksums.

Why that file exists: the report must run after every evaluate@NAME and again whenever a
GAN's outputs change, without dvc.yaml naming the models (a new line in train.models must
be picked up with no other edit). DVC has no glob dependencies, and a dependency on the
whole models/ folder would also make the report depend on the stages of
models/tune/dvc.yaml, whose outputs (models/NAME/best_params.yaml) sit in models/ too:
`dvc repro` would then run every Optuna study before the report. So dvc.yaml's
`report-inputs` stage runs this once per GAN (foreach over train.models, depending on the
files below), and `report` depends on the folder reports/inputs/. Each checksum file
changes exactly when one of its model's files does, which is when the page must change.

Kept free of heavy imports: DVC runs it once per GAN.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.data.files import digest_of
from pipeline.errors import StorageError
from pipeline.saved import model_dir, write_json

# What the page shows of models/NAME/ (dvc.yaml's report-inputs@NAME lists the same files;
# tests/test_report.py checks the two agree).
MODEL_FILES = (
    "metrics.json",  # evaluate@NAME: the scores
    "train.json",  # train@NAME: steps, images/s
    "run.json",  # train@NAME: the MLflow run id
    "samples.png",  # train@NAME: the sample grid
    "history.csv",  # train@NAME: the losses per logged step
    "fid.csv",  # train@NAME: the in-training FID per epoch
)

INPUTS_DIR = Path("reports/inputs")


def model_files(model: str) -> dict[str, Path]:
    """MODEL_FILES of `model`, by name."""
    return {name: model_dir(model) / name for name in MODEL_FILES}


def md5(path: Path) -> str | None:
    """The MD5 of a file (as DVC computes it for a binary file), None when missing."""
    return digest_of(path, "md5", decompress=False) if path.is_file() else None


def write_inputs(model: str, folder: Path = INPUTS_DIR) -> Path:
    """reports/inputs/MODEL.json: {"model": MODEL, "files": {path: md5 or null}}."""
    files = {str(path): md5(path) for path in model_files(model).values()}
    target = folder / f"{model}.json"
    write_json({"model": model, "files": files}, target)
    return target


def inputs_command(model: str) -> Path:
    """`report --inputs MODEL`: write_inputs, a failed write one line."""
    try:
        return write_inputs(model)
    except OSError as error:
        raise StorageError(
            f"cannot write {INPUTS_DIR / (model + '.json')} ({error.strerror or error}); free "
            "space there (or make it writable) and run again"
        ) from error
