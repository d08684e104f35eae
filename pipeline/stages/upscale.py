"""`upscale`: a user's picture of any size, grey or RGB, made lowres.factor times larger by
a trained super-resolution generator (srgan).

The generator is fully convolutional, so a picture goes through whole; past
`WHOLE_PIXELS` low-resolution pixels it goes in tiles of `TILE` x `TILE`, each with a
margin of the generator's receptive radius (`receptive_radius`) around it, so a tile's
output equals the whole picture's (up to float rounding) and memory stays bounded (about
2 GB at 4x: a 600 x 400 RGB picture took 50 s on 2 AVX-512 cores, a progress bar over the tiles).
An RGB picture through a grey model is upscaled one channel at a time; a grey picture
through an RGB model is repeated on three channels. Transparency is composited over white.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pipeline.errors import ConfigError, DataError

WHOLE_PIXELS = 256 * 256  # low-resolution pixels upscaled in one pass (about 1 GB at 4x)
TILE = 128  # a tile's side in low-resolution pixels, without its margin


def receptive_radius(generator) -> int:
    """How far (in input pixels) a fully convolutional generator looks from a pixel:
    the sum of its convolutions' half-widths, each at the scale it runs at (a layer with
    a `scale`, pixel shuffle, multiplies the scale by it). Skip connections add nothing."""
    radius, scale = 0.0, 1
    for layer in generator.layers:
        kernel = getattr(layer, "kernel_size", None)
        if kernel is not None:
            radius += (max(kernel) - 1) / 2 / scale
        scale *= getattr(layer, "scale", 1)
    return math.ceil(radius)


def upscale_factor(generator) -> int:
    """Output side over input side, from the generator's own shapes."""
    channels = generator.input.shape[-1]
    side = generator.compute_output_shape((1, 8, 8, channels))[1]
    return side // 8


def upscale_planes(
    generator, low: np.ndarray, factor: int, tile: int = TILE, progress: bool = False
) -> np.ndarray:
    """uint8 [N, h, w, C] -> float [N, h * factor, w * factor, C] in [-1, 1]; in tiles with
    a margin when the picture is larger than WHOLE_PIXELS (or `tile` says so), with a
    progress bar over the tiles when `progress`."""
    from tqdm import tqdm

    from pipeline.gans.inputs import translate_images

    def each(pictures):  # one picture at a time: the activations at 4x take the memory
        return translate_images(generator, pictures, batch_size=1)

    count, height, width, channels = low.shape
    if height * width <= WHOLE_PIXELS and max(height, width) <= tile * 4:
        return each(low)
    margin = receptive_radius(generator)
    out = np.empty((count, height * factor, width * factor, channels), np.float32)
    corners = [(top, left) for top in range(0, height, tile) for left in range(0, width, tile)]
    for top, left in tqdm(corners, desc="upscale", unit="tile", disable=not progress):
        # the tile, with up to `margin` pixels of its neighbours on each side
        y0, x0 = max(0, top - margin), max(0, left - margin)
        y1, x1 = min(height, top + tile + margin), min(width, left + tile + margin)
        upscaled = each(low[:, y0:y1, x0:x1])  # about 130 MB a layer for a 176 px tile
        h, w = min(tile, height - top), min(tile, width - left)
        dy, dx = (top - y0) * factor, (left - x0) * factor
        out[:, top * factor : (top + h) * factor, left * factor : (left + w) * factor] = upscaled[
            :, dy : dy + h * factor, dx : dx + w * factor
        ]
    return out


def upscale_picture(
    generator, picture: np.ndarray, tile: int = TILE, progress: bool = False
) -> np.ndarray:
    """uint8 [H, W] or [H, W, 3] (alpha already flattened) -> uint8 of factor x the side."""
    from pipeline.images import to_uint8

    channels = generator.input.shape[-1]
    factor = upscale_factor(generator)
    planes = picture[None, ..., None] if picture.ndim == 2 else picture[None]  # [1, H, W, c]
    if planes.shape[-1] != channels:
        if channels == 1:  # each colour channel as a grey picture: [c, H, W, 1]
            planes = np.moveaxis(planes[0], -1, 0)[..., None]
        else:
            planes = np.repeat(planes, channels, axis=-1)  # grey on three channels
    upscaled = to_uint8(upscale_planes(generator, planes, factor, tile, progress))  # [n, fH, fW, C]
    if upscaled.shape[0] > 1:  # the colour channels back in place
        upscaled = np.moveaxis(upscaled[..., 0], 0, -1)[None]
    result = upscaled[0]
    return result[..., 0] if result.shape[-1] == 1 else result


def upscale_command(model: str, source: Path, out: Path, progress: bool = True) -> Path:
    """Upscale the picture at `source` with `model`'s generator and write it to `out`."""
    import pipeline.gans.blocks  # noqa: F401  (the zoo's custom layers, to load a generator)
    from pipeline.data.drawing import flatten_alpha, read_picture
    from pipeline.gans.families import get_family
    from pipeline.gans.inputs import LOWRES_PAIRS
    from pipeline.images import save_png
    from pipeline.saved import check_output_file, load_generator

    out = check_output_file(out, "--out", f"{Path(source).stem}_large.png")
    if get_family(model).inputs is not LOWRES_PAIRS:
        raise ConfigError(
            f"{model} does not upscale pictures; use `python -m pipeline upscale --model srgan`"
        )
    picture = flatten_alpha(read_picture(source))  # [H, W] or [H, W, 3]
    if picture.size == 0 or min(picture.shape[:2]) < 1:
        raise DataError(f"{source} is an empty picture ({picture.shape[1]}x{picture.shape[0]} px)")
    generator = load_generator(model)
    return save_png(upscale_picture(generator, picture, progress=progress), Path(out))
