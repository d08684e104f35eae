"""`data.dataset: folder:<path>`: a user's own images as a dataset.

Every .png/.jpg/.jpeg/.bmp/.webp file under the folder (recursive, sorted by path) is read
with PIL, converted to grayscale when every image is grayscale and to RGB otherwise,
center-cropped to a square (so faces and objects keep their proportions), and resized to
`image_size` x `image_size`.

Labels: when every image sits in a first-level sub-folder and there are at least two of
them, the sub-folder names (sorted) are the classes; otherwise the images are unlabelled
(-1). Every tenth image in sorted order is held out as the test split (none when there are
fewer than ten), so the split is reproducible and spread over the classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from pipeline.data.formats import resize_image
from pipeline.data.registry import FolderSpec
from pipeline.data.store import Dataset
from pipeline.errors import DataError

EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
TEST_EVERY = 10  # every tenth image goes to the test split


def find_images(root: Path) -> list[Path]:
    """Image files under `root`, sorted; DataError when the folder is missing or empty."""
    if not root.is_dir():
        raise DataError(f"data.dataset folder {root} does not exist or is not a folder")
    found = sorted(
        path for path in root.rglob("*") if path.suffix.lower() in EXTENSIONS and path.is_file()
    )
    if not found:
        kinds = "/".join(sorted(ext.lstrip(".") for ext in EXTENSIONS))
        raise DataError(f"data.dataset folder {root} holds no images ({kinds})")
    return found


def class_labels(root: Path, paths: list[Path]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels from one sub-folder per class, or all -1 when the images are not laid out so."""
    parents = [path.relative_to(root).parts for path in paths]
    classes = sorted({parts[0] for parts in parents if len(parts) == 2})
    if len(classes) < 2 or any(len(parts) != 2 for parts in parents):
        return np.full(len(paths), -1, dtype=np.int64), ()
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index[parts[0]] for parts in parents], dtype=np.int64), tuple(classes)


def _read_error(path: Path, error: Exception) -> DataError:
    return DataError(f"cannot read image {path}: {error}")


_PIL_ERRORS = (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError)


def image_mode(path: Path) -> str:
    """The PIL mode of an image, from its header only (cheap: no pixel decoding)."""
    try:
        with Image.open(path) as image:
            return image.mode
    except _PIL_ERRORS as error:
        raise _read_error(path, error) from None


def _center_square(image: Image.Image) -> Image.Image:
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def load_image(path: Path, mode: str, size: int) -> np.ndarray:
    """One image, converted to `mode`, center-cropped and resized: uint8 [size, size, C]."""
    try:
        with Image.open(path) as image:
            return resize_image(_center_square(image.convert(mode)), size)
    except _PIL_ERRORS as error:
        raise _read_error(path, error) from None


def load_folder(spec: FolderSpec, size: int, *, progress: bool = True) -> Dataset:
    """The images under `spec.path` as a Dataset of size x size images.

    Images are decoded one at a time, so a folder of large photos needs memory only for
    the resized result.
    """
    root = Path(spec.path).expanduser()
    paths = find_images(root)
    gray = all(image_mode(path) in GRAY_MODES for path in paths)
    mode, channels = ("L", 1) if gray else ("RGB", 3)
    x = np.empty((len(paths), size, size, channels), dtype=np.uint8)
    for i, path in enumerate(tqdm(paths, desc="read images", disable=not progress)):
        x[i] = load_image(path, mode, size)
    y, class_names = class_labels(root, paths)
    test = np.arange(len(paths)) % TEST_EVERY == TEST_EVERY - 1
    return Dataset(spec.name, x[~test], y[~test], x[test], y[test], class_names)
