"""Low-resolution copies of the dataset, paired with the originals: what srgan upscales.

`data/lowres/pairs.npz` holds uint8 `train_low` [N, h, h, C] and `train_high` [N, H, H, C]
(and `test_*`), with h = H / lowres.factor: every image shrunk with PIL's resampling filter
`lowres.filter` (antialiased: PIL widens the filter by the factor when it shrinks;
bicubic 28 -> 7 by default, the SRGAN paper's bicubic degradation). Like `dataset.npz`,
the file's bytes depend only on the data, so an unchanged stage output keeps its DVC hash.

The training loop iterates one uint8 array per split, so a task hands it the pairs
*stacked* on the channel axis at the high resolution, [N, H, H, 2C]: channels [:C] the
low-resolution image upsampled by nearest neighbours (every low pixel repeated factor x
factor times), channels [C:] the original. `low_of` takes every factor-th pixel of the
first half back, which is exactly the low-resolution image, so nothing is lost.

The baselines (`UPSCALERS`) are plain resampling back up, scored by the `lowres` stage
(stats.json) and beside srgan by `evaluate@srgan`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.config import LowresConfig
from pipeline.data.files import write_npz
from pipeline.data.store import Dataset
from pipeline.errors import ConfigError, DataError
from pipeline.images import grid
from pipeline.saved import LOWRES, read_npz

FORMAT_VERSION = 1
PAIRS_FILE = Path("data/lowres/pairs.npz")
PREVIEW_FILE = Path("data/lowres/preview.png")
STATS_FILE = Path("data/lowres/stats.json")
SPLITS = ("train", "test")
# The plain upscalers every super-resolution score is compared with, in PIL's filters.
UPSCALERS = ("nearest", "bilinear", "bicubic")
_FILTERS = {
    "nearest": Image.NEAREST,
    "bilinear": Image.BILINEAR,
    "bicubic": Image.BICUBIC,
    "box": Image.BOX,
    "lanczos": Image.LANCZOS,
}


# --- resampling --------------------------------------------------------------------------


def resample(images: np.ndarray, side: int, method: str) -> np.ndarray:
    """uint8 [N, H, W, C] -> uint8 [N, side, side, C] with PIL's filter `method`.

    A plain loop: PIL takes a few microseconds per 28 px image (70,000 in about 1.5 s on
    one core), and one image at a time keeps the result independent of batching."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"resample expects uint8 [N, H, W, 1 or 3], got {images.dtype} {images.shape}"
        )
    channels = images.shape[-1]
    out = np.empty((len(images), side, side, channels), np.uint8)
    for i, image in enumerate(images):
        picture = Image.fromarray(image[..., 0] if channels == 1 else image)
        resized = np.asarray(picture.resize((side, side), _FILTERS[method]))
        out[i] = resized.reshape(side, side, channels)
    return out


def check_factor(side: int, factor: int) -> int:
    """The low-resolution side of `side` px images, or a ConfigError naming the fix."""
    if side % factor or side // factor < 2:
        raise ConfigError(
            f"lowres.factor ({factor}) must divide the image side ({side}) and leave at least "
            f"2 px; choose a divisor of {side} (e.g. {_divisor_near(side, factor)})"
        )
    return side // factor


def _divisor_near(side: int, factor: int) -> int:
    divisors = [d for d in range(2, side // 2 + 1) if side % d == 0]
    return min(divisors, key=lambda d: abs(d - factor)) if divisors else 2


def upscale(low: np.ndarray, factor: int, method: str) -> np.ndarray:
    """A baseline: uint8 [N, h, h, C] -> uint8 [N, h * factor, h * factor, C]."""
    return resample(low, low.shape[1] * factor, method)


# --- pairs -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LowresPairs:
    """Every image of both splits shrunk by `lowres.factor`, next to the original."""

    train_low: np.ndarray  # uint8 [N, h, h, C]
    train_high: np.ndarray  # uint8 [N, H, H, C]
    test_low: np.ndarray  # uint8 [M, h, h, C]
    test_high: np.ndarray  # uint8 [M, H, H, C]
    dataset: str
    lowres: LowresConfig

    @property
    def factor(self) -> int:
        return self.lowres.factor

    @property
    def channels(self) -> int:
        return int(self.test_high.shape[-1])

    @property
    def train(self) -> np.ndarray:
        """The training split stacked for the training loop: uint8 [N, H, H, 2C]."""
        return stack(self.train_low, self.train_high, self.factor)

    @property
    def test(self) -> np.ndarray:
        return stack(self.test_low, self.test_high, self.factor)


def stack(low: np.ndarray, high: np.ndarray, factor: int) -> np.ndarray:
    """(low [N, h, h, C], high [N, H, H, C]) -> [N, H, H, 2C]: low repeated factor x factor
    times per pixel (nearest neighbours), then high."""
    repeated = np.repeat(np.repeat(low, factor, axis=1), factor, axis=2)  # [N, H, H, C]
    return np.concatenate([repeated, high], axis=-1)


def low_of(stacked, factor: int):
    """[..., H, H, 2C] stacked pairs -> the low-resolution images [..., h, h, C] (numpy
    arrays or tensors): every factor-th pixel of the first half."""
    channels = stacked.shape[-1] // 2
    return stacked[..., ::factor, ::factor, :channels]


def high_of(stacked):
    """[..., H, H, 2C] stacked pairs -> the original images [..., H, H, C]."""
    return stacked[..., stacked.shape[-1] // 2 :]


def make_pairs(dataset: Dataset, cfg: LowresConfig) -> LowresPairs:
    """Both splits of `dataset` shrunk with lowres.*, beside the originals."""
    height, width = dataset.x_train.shape[1:3]
    if height != width:
        raise ConfigError(f"srgan needs square images, got {height}x{width}; set data.image_size")
    side = check_factor(height, cfg.factor)
    return LowresPairs(
        train_low=resample(dataset.x_train, side, cfg.filter),
        train_high=dataset.x_train,
        test_low=resample(dataset.x_test, side, cfg.filter),
        test_high=dataset.x_test,
        dataset=dataset.name,
        lowres=cfg,
    )


def _problem(pairs: LowresPairs) -> str | None:
    """None when the arrays are consistent, else what is wrong."""
    for split in SPLITS:
        low, high = getattr(pairs, f"{split}_low"), getattr(pairs, f"{split}_high")
        for name, array in ((f"{split}_low", low), (f"{split}_high", high)):
            if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] not in (1, 3):
                return f"{name} is {array.dtype} {array.shape}, expected uint8 [N, S, S, 1 or 3]"
        if len(low) != len(high):
            return f"{split} has {len(low)} low and {len(high)} high images"
        if len(high) and high.shape[1:3] != (low.shape[1] * pairs.factor,) * 2:
            return f"{split}: {low.shape[1]} px x factor {pairs.factor} is not {high.shape[1]} px"
    if pairs.test_high.shape[1:] != pairs.train_high.shape[1:] and len(pairs.train_high):
        return "train and test images differ in shape"
    return None


def save_pairs(pairs: LowresPairs, path: Path = PAIRS_FILE) -> Path:
    """Write `pairs` atomically; the same pairs always give the same bytes."""
    problem = _problem(pairs)
    if problem is not None:
        raise ValueError(f"refusing to save inconsistent pairs: {problem}")
    meta = {"format": FORMAT_VERSION, "dataset": pairs.dataset, "lowres": asdict(pairs.lowres)}
    arrays = {
        f"{split}_{part}": getattr(pairs, f"{split}_{part}")
        for split in SPLITS
        for part in ("low", "high")
    }
    write_npz(Path(path), {**arrays, "meta": np.array(json.dumps(meta, sort_keys=True))})
    return Path(path)


def load_pairs(path: Path = PAIRS_FILE, *, train: bool = True) -> LowresPairs:
    """Read what `save_pairs` wrote; a missing or damaged file is a DataError naming the
    fix. `train=False` skips the training split (commands that only upscale test images);
    it is then empty."""
    with read_npz(path, LOWRES) as npz:
        meta = json.loads(str(npz["meta"].item()))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"format is not {FORMAT_VERSION}")
        test_low, test_high = npz["test_low"], npz["test_high"]
        pairs = LowresPairs(
            train_low=npz["train_low"] if train else test_low[:0],
            train_high=npz["train_high"] if train else test_high[:0],
            test_low=test_low,
            test_high=test_high,
            dataset=str(meta["dataset"]),
            lowres=LowresConfig(**meta["lowres"]),
        )
    problem = _problem(pairs)
    if problem is not None:
        raise LOWRES.corrupt(Path(path), problem)
    return pairs


def check_pairs(pairs: LowresPairs, run, path: Path = PAIRS_FILE) -> LowresPairs:
    """`pairs`, if they were made from the run's data.dataset with its lowres.*; else a
    DataError naming the stage that remakes them."""
    made, wanted = (pairs.dataset, pairs.lowres), (run.data.dataset, run.lowres)
    if made != wanted:
        raise DataError(
            f"{path} was made from {pairs.dataset!r} with {asdict(pairs.lowres)} but params.yaml "
            f"says {run.data.dataset!r} with {asdict(run.lowres)}; remake it: `dvc repro lowres`"
        )
    return pairs


# --- what the stage shows ----------------------------------------------------------------


def strips(low: np.ndarray, upscaled: list[np.ndarray], high: np.ndarray, factor: int):
    """low (nearest) | each of `upscaled` | high, side by side: float [n, H, kH, C] in
    [-1, 1], a grey bar between the tiles."""
    blocky = np.repeat(np.repeat(low, factor, axis=1), factor, axis=2)
    tiles = [blocky, *upscaled, high]
    bar = np.full((*high.shape[:2], 1, high.shape[-1]), 128, np.uint8)
    joined = [tiles[0]]
    for tile in tiles[1:]:
        joined += [bar, tile]
    return np.concatenate(joined, axis=2).astype(np.float32) / 127.5 - 1.0


def preview(pairs: LowresPairs, count: int = 16) -> np.ndarray:
    """uint8 picture of the first `count` test pairs: low | bicubic | original."""
    low, high = pairs.test_low[:count], pairs.test_high[:count]
    bicubic = upscale(low, pairs.factor, "bicubic")
    return grid(strips(low, [bicubic], high, pairs.factor), columns=4)
