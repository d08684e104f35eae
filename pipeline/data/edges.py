"""Canny edge maps of the dataset, and the (edges | image) pairs pix2pix trains on.

`data/edges/pairs.npz` holds uint8 `train` and `test` [N, S, S, 1 + C]: channel 0 is the
edge map (0 or 255, white edges on black), channels 1: the image. Edges are computed on
the images at their own size and both are then centred on a black square of side
`edges.pad_to`, because the U-Net halves the side down to 1x1 (28 -> 32 for
Fashion-MNIST). Like `dataset.npz`, the file bytes depend only on the data, so an
unchanged `edges` stage output keeps its DVC hash.

`pipeline.data.drawing` turns a user's own picture into the same kind of input, with
the settings the pairs were made with (`Pairs.edges`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.config import EdgesConfig
from pipeline.data.files import write_npz
from pipeline.data.store import Dataset
from pipeline.errors import ConfigError
from pipeline.images import grid
from pipeline.saved import EDGES, read_npz

FORMAT_VERSION = 1
PAIRS_FILE = Path("data/edges/pairs.npz")
PREVIEW_FILE = Path("data/edges/preview.png")
STATS_FILE = Path("data/edges/stats.json")
MIN_SIDE = 16


# --- edge maps -------------------------------------------------------------------------


def canny(images: np.ndarray, cfg: EdgesConfig) -> np.ndarray:
    """uint8 [N, H, W, C] -> uint8 [N, H, W, 1] edge maps, 0 or 255 (white edges on black).

    A plain loop: OpenCV is fast per image (20-40 us at 28x28: 70,000 Fashion-MNIST
    images take about 1.5 s on one core), and a loop keeps the result independent of
    batching. Deterministic.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"canny expects uint8 [N, H, W, 1 or 3], got {images.dtype} {images.shape}"
        )
    edges = np.empty((*images.shape[:3], 1), np.uint8)  # [N, H, W, 1]
    for i, image in enumerate(images):
        edges[i, ..., 0] = _canny_one(image, cfg)
    return edges


def _canny_one(image: np.ndarray, cfg: EdgesConfig) -> np.ndarray:
    """uint8 [H, W, C] -> uint8 [H, W]."""
    if image.shape[-1] == 3:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    else:
        gray = np.ascontiguousarray(image[..., 0])
    if cfg.blur:  # smooths noise and texture that would otherwise turn into edge speckle
        gray = cv2.GaussianBlur(gray, (cfg.blur, cfg.blur), cfg.blur_sigma)
    return cv2.Canny(gray, cfg.low_threshold, cfg.high_threshold)


# --- padding ---------------------------------------------------------------------------


def pad_amount(size: int, side: int | None) -> int:
    """Pixels of padding on each side that centre a `size` square on a `side` square."""
    if side is None or side == size:
        return 0
    if side < size:
        raise ConfigError(
            f"edges.pad_to ({side}) is smaller than the images ({size}x{size}); set edges.pad_to "
            f"to at least {size} (e.g. {_next_side(size)}) or null"
        )
    if (side - size) % 2:
        raise ConfigError(
            f"edges.pad_to ({side}) minus the image size ({size}) is odd, so the image cannot "
            f"sit centred; set data.image_size to an even size"
        )
    return (side - size) // 2


def pad_square(images: np.ndarray, side: int) -> np.ndarray:
    """Centre uint8 [N, h, h, C] on black [N, side, side, C]; unchanged when h == side."""
    height, width = images.shape[1:3]
    if height != width:
        raise ConfigError(
            f"edges.pad_to needs square images, got {height}x{width}; set data.image_size"
        )
    if pad_amount(height, side) == 0:
        return images
    return centre(images, side)


def crop_padding(images: np.ndarray, pad: int) -> np.ndarray:
    """Undo `pad_square`: [..., S, S, C] -> [..., S - 2 pad, S - 2 pad, C], any dtype."""
    if pad == 0:
        return images
    side = images.shape[-2]
    return images[..., pad : side - pad, pad : side - pad, :]


def check_side(side: int) -> None:
    """The U-Net halves the side down to 1x1, so it must be a power of two >= 16."""
    if side < MIN_SIDE or side & (side - 1):
        raise ConfigError(
            f"pix2pix needs a power-of-two image side >= {MIN_SIDE}, got {side}; set "
            f"edges.pad_to (e.g. {_next_side(side)}) or data.image_size (64, 128, 256)"
        )


def _next_side(size: int) -> int:
    """The smallest side pix2pix accepts that holds `size`."""
    return max(MIN_SIDE, 1 << (int(size) - 1).bit_length())


def centre(images: np.ndarray, side: int) -> np.ndarray:
    """[..., h, w, C] centred on black [..., side, side, C] (h, w <= side)."""
    height, width, channels = images.shape[-3:]
    canvas = np.zeros((*images.shape[:-3], side, side, channels), images.dtype)
    top, left = (side - height) // 2, (side - width) // 2
    canvas[..., top : top + height, left : left + width, :] = images
    return canvas


# --- pairs -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Pairs:
    """Edge maps paired with their images, both splits, and the settings that made them."""

    train: np.ndarray  # uint8 [N, S, S, 1 + C]: channel 0 the edge map, 1: the image
    test: np.ndarray  # uint8 [M, S, S, 1 + C]
    pad: int  # black border on each side (0 when edges.pad_to is null)
    dataset: str
    edges: EdgesConfig

    @property
    def side(self) -> int:
        return int(self.train.shape[1])

    @property
    def image_channels(self) -> int:
        return int(self.train.shape[-1]) - 1

    @property
    def content_size(self) -> int:
        """The side of the images before padding (what a user's drawing is resized to)."""
        return self.side - 2 * self.pad

    @staticmethod
    def split_channels(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[..., 1 + C] -> (edges [..., 1], images [..., C]); works on tensors too."""
        return pairs[..., :1], pairs[..., 1:]


def make_pairs(dataset: Dataset, cfg: EdgesConfig) -> Pairs:
    """Edge maps of `dataset` at its own size, paired with its images, then padded."""
    size, width = dataset.x_train.shape[1:3]
    if size != width:
        raise ConfigError(f"pix2pix needs square images, got {size}x{width}; set data.image_size")
    pad = pad_amount(size, cfg.pad_to)
    check_side(size + 2 * pad)  # before the slow part: a bad side fails at once

    def paired(images: np.ndarray) -> np.ndarray:
        pairs = np.concatenate([canny(images, cfg), images], axis=-1)  # [N, H, W, 1 + C]
        return pad_square(pairs, size + 2 * pad)  # [N, S, S, 1 + C]

    return Pairs(
        train=paired(dataset.x_train),
        test=paired(dataset.x_test),
        pad=pad,
        dataset=dataset.name,
        edges=cfg,
    )


def _problem(pairs: Pairs) -> str | None:
    """None when the arrays are consistent, else what is wrong."""
    for split in ("train", "test"):
        array = getattr(pairs, split)
        if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] not in (2, 4):
            return f"{split} is {array.dtype} {array.shape}, expected uint8 [N, S, S, 2 or 4]"
        if array.shape[1] != array.shape[2]:
            return f"{split} images are not square ({array.shape[1]}x{array.shape[2]})"
    if pairs.train.shape[1:] != pairs.test.shape[1:]:
        return "train and test pairs differ in shape"
    if not 0 <= 2 * pairs.pad < pairs.side:
        return f"pad {pairs.pad} does not fit side {pairs.side}"
    return None


def save_pairs(pairs: Pairs, path: Path = PAIRS_FILE) -> Path:
    """Write `pairs` atomically; the same pairs always give the same bytes."""
    problem = _problem(pairs)
    if problem is not None:
        raise ValueError(f"refusing to save inconsistent pairs: {problem}")
    meta = {
        "format": FORMAT_VERSION,
        "dataset": pairs.dataset,
        "pad": pairs.pad,
        "side": pairs.side,
        "edges": asdict(pairs.edges),
    }
    arrays = {
        "train": pairs.train,
        "test": pairs.test,
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    }
    write_npz(Path(path), arrays)
    return Path(path)


@dataclass(frozen=True)
class PairsMeta:
    """What a pairs file says about itself: enough to prepare a drawing like its pairs."""

    dataset: str
    pad: int
    side: int
    edges: EdgesConfig

    @property
    def content_size(self) -> int:
        return self.side - 2 * self.pad


def _read_meta(npz) -> PairsMeta:
    meta = json.loads(str(npz["meta"].item()))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"format is not {FORMAT_VERSION}")
    return PairsMeta(
        dataset=str(meta["dataset"]),
        pad=int(meta["pad"]),
        side=int(meta["side"]),
        edges=EdgesConfig(**meta["edges"]),
    )


def load_pairs_meta(path: Path = PAIRS_FILE) -> PairsMeta:
    """Only the meta of a pairs file (cheap: np.load reads arrays lazily)."""
    with read_npz(path, EDGES) as npz:
        return _read_meta(npz)


def load_pairs(path: Path = PAIRS_FILE, *, train: bool = True) -> Pairs:
    """Read what `save_pairs` wrote; a missing or damaged file is a DataError naming the fix.

    `train=False` skips decompressing the training split (123 MB for Fashion-MNIST) for
    commands that only translate test pairs; `Pairs.train` is then empty [0, S, S, 1 + C].
    Such a command does not check the training split's CRC-32 either (it never reads it, so
    a flip there cannot change its output); `train` reads it and does.
    """
    with read_npz(path, EDGES) as npz:
        meta = _read_meta(npz)
        test = npz["test"]
        train_pairs = npz["train"] if train else test[:0]
        pairs = Pairs(train_pairs, test, meta.pad, meta.dataset, meta.edges)
    problem = _problem(pairs)
    if problem is None and pairs.side != meta.side:
        problem = f"side {pairs.side} but meta says {meta.side}"
    if problem is not None:
        raise EDGES.corrupt(Path(path), problem)
    return pairs


# --- what the stage shows --------------------------------------------------------------


def preview(pairs: Pairs, count: int = 16) -> np.ndarray:
    """uint8 picture of the first `count` test pairs, each as image | edges, in a grid."""
    source = pairs.test if len(pairs.test) else pairs.train
    edges, images = Pairs.split_channels(source[:count])  # [n, S, S, 1], [n, S, S, C]
    edges = np.repeat(edges, images.shape[-1], axis=-1)  # [n, S, S, C]
    bar = np.full((*images.shape[:2], 1, images.shape[-1]), 128, np.uint8)  # [n, S, 1, C]
    tiles = np.concatenate([images, bar, edges], axis=2)  # [n, S, 2S + 1, C]
    return grid(tiles.astype(np.float32) / 127.5 - 1.0)


def edge_stats(pairs: Pairs) -> dict[str, float | int]:
    """Flat figures for stats.json: how much of the image the edges cover, per split.

    Densities count only the unpadded area, so they do not change with edges.pad_to.
    """
    stats: dict[str, float | int] = {
        "side": pairs.side,
        "pad": pairs.pad,
        "content_size": pairs.content_size,
    }
    for split in ("train", "test"):
        edges = crop_padding(Pairs.split_channels(getattr(pairs, split))[0], pairs.pad) > 0
        per_map = edges.reshape(len(edges), -1).sum(axis=1)  # [N] edge pixels per map
        stats[f"{split}_pairs"] = len(edges)
        stats[f"{split}_edge_density"] = float(per_map.sum() / max(1, edges.size))
        stats[f"{split}_empty_maps"] = int((per_map == 0).sum())
    stats["edge_density"] = stats["train_edge_density"]
    return stats
