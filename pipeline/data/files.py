"""Atomic file writes and checksums.

A file that appears under its final name is always complete: it is written to a temporary
name in the same folder, flushed to disk, then renamed (a rename within one file system is
atomic; pipeline.saved.atomic_file, which every output of the pipeline goes through). An
interrupted run leaves at most a hidden `.<name>.*.part` file, which no lookup ever
mistakes for data.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pipeline.saved import atomic_file, fsync_folder

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


@contextlib.contextmanager
def atomic_writer(dest: Path) -> Iterator[BinaryIO]:
    """Yield a binary file that becomes `dest` only if the block finishes without error."""
    with atomic_file(dest) as tmp, tmp.open("wb") as handle:
        yield handle


def install(src: Path, dest: Path, *, move: bool) -> None:
    """Put a verified file at `dest` atomically: rename when allowed, else copy."""
    if move:
        with contextlib.suppress(OSError):  # e.g. across file systems: fall back to a copy
            os.replace(src, dest)
            fsync_folder(dest.parent)
            return
    with src.open("rb") as source, atomic_writer(dest) as target:
        shutil.copyfileobj(source, target, CHUNK)


def is_gzip(path: Path) -> bool:
    """Whether `path` holds gzip data (judged by content: names are not trusted)."""
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


@contextlib.contextmanager
def open_content(path: Path) -> Iterator[BinaryIO]:
    """Open a file's content, decompressing it when it is gzip."""
    if is_gzip(path):
        with gzip.open(path, "rb") as handle:
            yield handle  # type: ignore[misc]
    else:
        with path.open("rb") as handle:
            yield handle


def digest_of(path: Path, algorithm: str, *, decompress: bool) -> str:
    """Hex digest of a file's bytes, or of its decompressed content.

    Raises ValueError when a gzip stream is truncated or corrupt, so the caller can reject
    the file like any other checksum mismatch.
    """
    hasher = hashlib.new(algorithm, usedforsecurity=False)
    try:
        with open_content(path) if decompress else path.open("rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                hasher.update(block)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ValueError(f"corrupt gzip data ({error})") from None
    return hasher.hexdigest()


def read_content(path: Path) -> bytes:
    """All of a file's (decompressed) bytes; corrupt gzip data is a ValueError."""
    try:
        with open_content(path) as handle:
            return handle.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ValueError(f"corrupt gzip data ({error})") from None


_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest zip time: keeps the file bytes reproducible


def write_npz(path: Path, arrays: dict, *, compress: bool = True) -> None:
    """An .npz of `arrays` written atomically, whose bytes depend only on the arrays.

    `np.savez` stamps the current time into the zip; fixed times make the same data give
    the same file, so DVC sees an unchanged output and does not rerun what follows.
    `compress=False` stores the arrays as they are (float features barely compress).
    Every member carries a CRC-32, which pipeline.saved.read_npz checks as it reads.
    """
    import numpy as np

    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with (
        atomic_writer(path) as handle,
        zipfile.ZipFile(handle, "w", method, compresslevel=6 if compress else None) as archive,
    ):
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_TIME)
            info.compress_type = method
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
