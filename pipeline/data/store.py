"""The fetched dataset on disk: `<data.raw_dir>/dataset.npz`, and the `Dataset` it holds.

The file is a plain npz (`np.load(path, allow_pickle=False)` reads it): uint8 images
`x_train`/`x_test` [N, H, W, C], int64 labels `y_train`/`y_test` [N] (-1 when unlabelled),
`class_names` (a str array, empty when unlabelled) and `meta`, a JSON string saying which
dataset and image size it holds. The bytes depend only on the data (fixed zip timestamps,
no "fetched from"/"fetched at" fields), so re-fetching the same data does not change the
DVC hash and does not re-run the stages downstream of `fetch`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import DataConfig
from pipeline.data.files import write_npz
from pipeline.errors import DataError
from pipeline.saved import FETCH, read_npz

FORMAT_VERSION = 1
FILE_NAME = "dataset.npz"
REFETCH = "re-run `python -m pipeline fetch` (or `dvc repro fetch`)"
_ARRAYS = ("x_train", "y_train", "x_test", "y_test", "class_names")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset in memory, train and test split.

    Folder datasets have no official test split: every tenth image (in sorted order)
    is held out as `x_test`, so the split is stable and spread over the classes.
    """

    name: str
    x_train: np.ndarray  # uint8 [N, H, W, C], C = 1 (grayscale) or 3 (RGB)
    y_train: np.ndarray  # int64 [N], -1 when unlabelled
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...] = ()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every image."""
        height, width, channels = self.x_train.shape[1:]
        return (int(height), int(width), int(channels))

    @property
    def num_classes(self) -> int:
        """Number of classes; 0 for an unlabelled dataset."""
        return len(self.class_names)


def shape_problem(dataset: Dataset) -> str | None:
    """None when the arrays are consistent, else what is wrong (for corrupt-file errors)."""
    for split in ("train", "test"):
        x, y = getattr(dataset, f"x_{split}"), getattr(dataset, f"y_{split}")
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
            return f"x_{split} is {x.dtype} {x.shape}, expected uint8 [N, H, W, 1 or 3]"
        if y.dtype != np.int64 or y.shape != x.shape[:1]:
            return f"y_{split} is {y.dtype} {y.shape}, expected int64 [{x.shape[0]}]"
        if y.size and (y.max() >= dataset.num_classes or y.min() < -1):
            return f"y_{split} holds labels outside [-1, {dataset.num_classes})"
    if dataset.x_train.shape[1:] != dataset.x_test.shape[1:]:
        return "train and test images differ in shape"
    return None


def dataset_path(cfg: DataConfig) -> Path:
    """Where `fetch` writes and `load_dataset` reads."""
    return Path(cfg.raw_dir) / FILE_NAME


def _describe(dataset: str, image_size: int | None) -> str:
    size = "native size" if image_size is None else f"image_size {image_size}"
    return f"{dataset!r} at {size}"


def save_dataset(dataset: Dataset, path: Path, meta: dict[str, Any]) -> None:
    """Write `dataset` to `path` atomically; `meta` must hold "dataset" and "image_size"."""
    problem = shape_problem(dataset)
    if problem is not None:
        raise ValueError(f"refusing to save an inconsistent dataset: {problem}")
    arrays = {
        "x_train": dataset.x_train,
        "y_train": dataset.y_train,
        "x_test": dataset.x_test,
        "y_test": dataset.y_test,
        "class_names": np.array(dataset.class_names, dtype=str),
        "meta": np.array(json.dumps({"format": FORMAT_VERSION, **meta}, sort_keys=True)),
    }
    write_npz(path, arrays)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The meta and arrays of a dataset file; missing or damaged, a one-line DataError.

    Every array is read to its end, so each member's CRC-32 is checked: a flipped bit
    anywhere in the data is an error, not a silently different dataset."""
    with read_npz(path, FETCH) as npz:
        missing = [key for key in (*_ARRAYS, "meta") if key not in npz.files]
        if missing:
            raise ValueError(f"no {missing[0]} array")
        arrays = {key: npz[key] for key in _ARRAYS}
        meta = json.loads(str(npz["meta"].item()))
        if not isinstance(meta, dict) or "dataset" not in meta or "image_size" not in meta:
            raise ValueError("meta lacks dataset/image_size")
    return meta, arrays


def load_dataset(cfg: DataConfig) -> Dataset:
    """Read the dataset `fetch` wrote, checking it is the one `cfg` asks for."""
    path = dataset_path(cfg)
    meta, arrays = _read(path)
    if meta.get("format") != FORMAT_VERSION:
        raise DataError(
            f"{path} has format {meta.get('format')!r}, not {FORMAT_VERSION}; {REFETCH}"
        )
    if meta["dataset"] != cfg.dataset or meta["image_size"] != cfg.image_size:
        held = _describe(meta["dataset"], meta["image_size"])
        wanted = _describe(cfg.dataset, cfg.image_size)
        raise DataError(f"{path} holds {held} but data.* asks for {wanted}; {REFETCH}")
    dataset = Dataset(
        name=meta["dataset"],
        x_train=arrays["x_train"],
        y_train=arrays["y_train"],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        class_names=tuple(str(name) for name in arrays["class_names"]),
    )
    problem = shape_problem(dataset)
    if problem is not None:
        raise FETCH.corrupt(path, problem)
    return dataset
