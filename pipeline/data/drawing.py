"""A user's own picture -> the input a translation model was trained on (`translate`).

A line drawing (dark on light or light on dark) becomes white-on-black edges at the
dataset's size; a photo gets the dataset's Canny edges. Both end centred on the same black
square as the pairs (`pipeline.data.edges`).
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pipeline.config import EdgesConfig
from pipeline.data.edges import canny, centre
from pipeline.errors import ConfigError, DataError

# A picture is a line drawing when at least DRAWING_SHARE of its pixels lie within
# DRAWING_TOLERANCE grey levels of its darkest or brightest value ("ink" or "paper").
# Scanned or anti-aliased drawings pass easily (> 95%); a photo's mid-tones do not.
DRAWING_TOLERANCE = 32
DRAWING_SHARE = 0.9
KINDS = ("auto", "edges", "photo")


def read_picture(path: Path | str) -> np.ndarray:
    """uint8 [H, W] (grey), [H, W, 3] (RGB) or [H, W, 4] (with transparency) from a file."""
    if not Path(path).is_file():
        reason = "not a file" if Path(path).exists() else "no such file"
        raise DataError(f"cannot read {path} as an image ({reason}); check the path")
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                mode = "RGBA"
            elif image.mode in ("1", "L", "I", "I;16", "F"):
                mode = "L"
            else:
                mode = "RGB"
            return np.asarray(image.convert(mode))
    except (OSError, ValueError, SyntaxError, struct.error, Image.DecompressionBombError) as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise DataError(
            f"cannot read {path} as an image ({reason}); save it as PNG or JPEG"
        ) from None


def drawing_to_edges(
    picture: np.ndarray, content_size: int, pad: int, cfg: EdgesConfig, kind: str = "auto"
) -> np.ndarray:
    """A user's picture of any size -> the model's input, uint8 [S, S, 1], 0 or 255.

    kind "edges": a line drawing, dark on light or light on dark; "photo": its Canny edges
    with the dataset's settings; "auto": a drawing when it is nearly two-tone (see
    DRAWING_SHARE), else a photo. The picture keeps its aspect ratio: its longer side is
    resized to `content_size` and the rest is black (no edges), as the dataset's objects
    are centred on a square and a stretched drawing would look unlike them. S is
    content_size + 2 * pad. Transparent pixels count as white paper.
    """
    if kind not in KINDS:
        raise ConfigError(f"the picture kind must be one of {', '.join(KINDS)}, got {kind!r}")
    picture = flatten_alpha(picture)  # [H, W] or [H, W, 3]
    gray = picture if picture.ndim == 2 else cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
    if kind == "auto":
        kind = "edges" if is_drawing(gray) else "photo"
    if kind == "edges":
        edges = _drawing_edges(gray, content_size)  # [h, w], the longer side content_size
    else:
        small = _fit(picture, content_size)
        small = small[..., None] if small.ndim == 2 else small  # [h, w, C]
        edges = canny(small[None], cfg)[0, ..., 0]
    return centre(edges[..., None], content_size + 2 * pad)  # [S, S, 1]


def is_drawing(gray: np.ndarray) -> bool:
    """Whether a uint8 [H, W] picture is nearly two-tone: ink and paper, few mid-tones."""
    darkest, brightest = int(gray.min()), int(gray.max())
    near = (gray <= darkest + DRAWING_TOLERANCE) | (gray >= brightest - DRAWING_TOLERANCE)
    return bool(near.mean() >= DRAWING_SHARE)


def flatten_alpha(picture: np.ndarray) -> np.ndarray:
    """uint8 [H, W], [H, W, 1], [H, W, 3] or [H, W, 4] -> [H, W] or [H, W, 3], no alpha."""
    picture = np.asarray(picture)
    if picture.dtype != np.uint8 or not (
        picture.ndim == 2 or (picture.ndim == 3 and picture.shape[-1] in (1, 3, 4))
    ):
        raise DataError(
            f"a picture must be a uint8 H x W grey, RGB or RGBA image, got {picture.dtype} "
            f"{picture.shape}; save it as PNG or JPEG"
        )
    if picture.ndim == 3 and picture.shape[-1] == 1:
        return picture[..., 0]
    if picture.ndim == 3 and picture.shape[-1] == 4:  # composite over white paper
        alpha = picture[..., 3:].astype(np.float32) / 255.0
        rgb = picture[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return np.rint(rgb).astype(np.uint8)
    return picture


def fitted_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(h, w) of a height x width picture resized so its longer side is `size`."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def content_box(height: int, width: int, size: int, side: int) -> tuple[int, int, int, int]:
    """(top, left, h, w): where `drawing_to_edges` puts a height x width picture in the
    side x side input, so a translation can be cut back to the picture's own area."""
    h, w = fitted_shape(height, width, size)
    return (side - h) // 2, (side - w) // 2, h, w


def _fit(picture: np.ndarray, size: int) -> np.ndarray:
    """Resize so the longer side is `size`, keeping the aspect (INTER_AREA when shrinking)."""
    h, w = fitted_shape(*picture.shape[:2], size)
    method = cv2.INTER_AREA if size < max(picture.shape[:2]) else cv2.INTER_LINEAR
    return cv2.resize(picture, (w, h), interpolation=method)  # cv2 wants (w, h)


def _drawing_edges(gray: np.ndarray, size: int) -> np.ndarray:
    """A line drawing [H, W] -> white-on-black 0/255 lines [h, w], longer side `size`.

    A mostly-bright picture (median above mid-grey) is black ink on white and is inverted.
    The lines are binarised at full size, shrunk with INTER_AREA (each pixel becomes the
    share of line it covers), and kept where that share is at least half of what a
    one-pixel line leaves after the shrink: thin lines survive, stray specks do not.
    """
    darkest, brightest = int(gray.min()), int(gray.max())
    if darkest == brightest:  # a blank page
        return np.zeros(_fit(gray, size).shape, np.uint8)
    middle = (darkest + brightest) / 2
    if np.median(gray) > middle:
        gray, middle = 255 - gray, 255 - middle
    ink = np.where(gray > middle, 255, 0).astype(np.uint8)  # [H, W] white lines
    shrink = max(gray.shape) / size  # > 1 when the picture is larger than the model's input
    small = _fit(ink, size)
    return np.where(small >= 127.5 / max(shrink, 1.0), 255, 0).astype(np.uint8)
