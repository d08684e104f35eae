"""A data file as a run's input: which data, which bytes, how much of it (`DataInput`),
read by `describe_data_file` for the tracker to record (pipeline.tracking.logged)."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.data.files import digest_of

DIGEST_LENGTH = 12  # hex digits of the file's SHA-256 kept as its digest


@dataclass(frozen=True)
class DataInput:
    """A data file as a run's input: which data, which bytes, how much of it."""

    name: str  # what the data is: `fashion_mnist`, `fashion_mnist-edges`
    path: Path  # the file the run read, as the stage names it (data/raw/dataset.npz)
    digest: str  # the first DIGEST_LENGTH hex digits of the SHA-256 of its bytes
    splits: dict[str, int]  # rows per split: {"train": 60000, "test": 10000}
    shape: tuple[int, ...]  # one row: (28, 28, 1); edge pairs (32, 32, 2)
    dtype: str  # of the rows: "uint8"


def describe_data_file(name: str, path: Path) -> DataInput:
    """`path` (an .npz of the pipeline: dataset.npz, pairs.npz) as a DataInput.

    The digest hashes the file once (about 0.1 s for Fashion-MNIST's 30 MB); the split sizes
    come from the array headers inside the zip, so no array is decompressed. A split is the
    array `x_<split>` (dataset.npz), `<split>` (edge pairs) or `<split>_high` (lowres pairs:
    a row is then described by its original image)."""
    path = Path(path)
    arrays = _npz_headers(path)
    splits, row_shape, dtype = {}, (), ""
    for split in ("train", "test"):
        found = arrays.get(f"x_{split}") or arrays.get(split) or arrays.get(f"{split}_high")
        if found is not None:
            splits[split] = int(found[0][0])
            row_shape, dtype = row_shape or tuple(found[0][1:]), dtype or str(found[1])
    digest = digest_of(path, "sha256", decompress=False)[:DIGEST_LENGTH]
    return DataInput(name, path, digest, splits, row_shape, dtype)


def _npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array in an .npz, from the .npy headers alone."""
    headers = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            with archive.open(member) as handle:
                version = np.lib.format.read_magic(handle)
                read = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read(handle)
            headers[member.removesuffix(".npy")] = (tuple(shape), dtype)
    return headers
