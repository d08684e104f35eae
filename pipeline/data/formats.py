"""Parsers for the built-in datasets' file formats, and image resizing.

They run only on files whose checksum was verified; they still check every header, so a
spec pointing at the wrong file fails with a DataError naming the file instead of producing
garbage arrays.
"""

from __future__ import annotations

import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from pipeline.data.files import read_content
from pipeline.data.registry import DatasetSpec
from pipeline.data.store import Dataset
from pipeline.errors import DataError

IDX_UBYTE = 0x08  # IDX type code of unsigned bytes (the only type MNIST-style files use)
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))


def parse_idx(data: bytes, name: str, ndim: int) -> np.ndarray:
    """An IDX file (LeCun's MNIST format) as a uint8 array of `ndim` dimensions.

    Header: two zero bytes, a type code, the number of dimensions, then one big-endian
    uint32 per dimension.
    """
    if len(data) < 4:
        raise DataError(f"{name}: not an IDX file (only {len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    expected = (IDX_UBYTE << 8) | ndim
    if magic != expected:
        raise DataError(f"{name}: bad IDX magic number 0x{magic:08x}, expected 0x{expected:08x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: IDX header truncated")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    size = int(np.prod(dims, dtype=np.int64))
    if len(data) - header != size:
        raise DataError(
            f"{name}: IDX header says {dims} ({size} bytes) but holds {len(data) - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _idx_file(path: Path, name: str, ndim: int) -> np.ndarray:
    try:
        data = read_content(path)
    except (OSError, ValueError) as error:
        raise DataError(f"{name}: cannot read {path}: {error}") from None
    return parse_idx(data, name, ndim)


def load_idx(spec: DatasetSpec, paths: list[Path]) -> Dataset:
    """MNIST-style data from its four files: train images/labels, test images/labels."""
    names = [file.name for file in spec.files]
    splits = []
    for images_at, labels_at in ((0, 1), (2, 3)):
        images = _idx_file(paths[images_at], names[images_at], 3)
        labels = _idx_file(paths[labels_at], names[labels_at], 1)
        if len(images) != len(labels):
            raise DataError(
                f"{names[labels_at]}: {len(labels)} labels for {len(images)} images "
                f"in {names[images_at]}"
            )
        splits.append((images[..., np.newaxis], labels.astype(np.int64)))
    (x_train, y_train), (x_test, y_test) = splits
    return Dataset(spec.name, x_train, y_train, x_test, y_test, spec.class_names)


def _unpickle(archive: tarfile.TarFile, member: str) -> dict:
    """One pickled batch of the official CIFAR archive (trusted: its MD5 was verified)."""
    try:
        handle = archive.extractfile(f"{CIFAR_FOLDER}/{member}")
    except KeyError:
        handle = None
    if handle is None:
        raise DataError(f"cifar-10-python.tar.gz has no {CIFAR_FOLDER}/{member}")
    with handle:
        return pickle.load(handle, encoding="bytes")  # only ever the MD5-verified archive


def _cifar_batch(batch: dict) -> tuple[np.ndarray, np.ndarray]:
    """Rows of 3072 bytes (all red, then green, then blue, each row-major) to [N,32,32,3]."""
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(batch[b"labels"], dtype=np.int64)


def load_cifar10(spec: DatasetSpec, paths: list[Path]) -> Dataset:
    """CIFAR-10 from the python-version archive: 50000 train, 10000 test images."""
    try:
        with tarfile.open(paths[0], "r:gz") as archive:
            meta = _unpickle(archive, "batches.meta")
            train = [_cifar_batch(_unpickle(archive, name)) for name in CIFAR_TRAIN]
            x_test, y_test = _cifar_batch(_unpickle(archive, "test_batch"))
    except (OSError, EOFError, tarfile.TarError, KeyError, ValueError) as error:
        raise DataError(f"cifar-10-python.tar.gz is unreadable ({error}); fetch it again") from None
    class_names = tuple(name.decode() for name in meta[b"label_names"])
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return Dataset(spec.name, x_train, y_train, x_test, y_test, class_names)


def load_builtin(spec: DatasetSpec, paths: list[Path]) -> Dataset:
    """Parse the verified files of a built-in dataset."""
    loaders = {"idx": load_idx, "cifar10": load_cifar10}
    return loaders[spec.layout](spec, paths)


def resize_image(image: Image.Image, size: int) -> np.ndarray:
    """A PIL image resized (bilinear) to size x size, as a uint8 [H, W, C] array."""
    resized = image.resize((size, size), Image.Resampling.BILINEAR)
    array = np.asarray(resized, dtype=np.uint8)
    return array[..., np.newaxis] if array.ndim == 2 else array


def resize_images(images: np.ndarray, size: int, *, progress: bool = True) -> np.ndarray:
    """Resize uint8 [N, H, W, C] images to [N, size, size, C] with PIL (bilinear)."""
    if images.shape[1:3] == (size, size):
        return images
    out = np.empty((len(images), size, size, images.shape[-1]), dtype=np.uint8)
    squeeze = images.shape[-1] == 1
    for i, image in enumerate(tqdm(images, desc=f"resize to {size}", disable=not progress)):
        pil = Image.fromarray(image[..., 0] if squeeze else image)
        out[i] = resize_image(pil, size)
    return out


def resize_dataset(dataset: Dataset, size: int, *, progress: bool = True) -> Dataset:
    """The same dataset with every image resized to size x size."""
    return Dataset(
        dataset.name,
        resize_images(dataset.x_train, size, progress=progress),
        dataset.y_train,
        resize_images(dataset.x_test, size, progress=progress),
        dataset.y_test,
        dataset.class_names,
    )
