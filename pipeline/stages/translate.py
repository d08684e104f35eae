"""`translate`: a user's own edge drawing (or photo) through a trained translation
generator (pix2pix), at the input's size."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.errors import ConfigError, DataError


def translate_command(model: str, source: Path, out: Path, kind: str = "auto") -> Path:
    """Translate the picture at `source` with `model`'s generator; `out` has its size.

    The edge settings and padding come from the pairs file the model was trained on, not
    from params.yaml, so a drawing is prepared exactly as the training inputs were. `out`
    must name a file (an existing folder is an error suggesting FOLDER/SOURCE.png); a
    missing parent folder is created, as `sample --out` does."""
    from PIL import Image

    from pipeline.data.drawing import content_box, drawing_to_edges, read_picture
    from pipeline.data.edges import PAIRS_FILE, load_pairs_meta
    from pipeline.data.loader import to_unit_range
    from pipeline.gans.families import get_family
    from pipeline.gans.inputs import EDGE_PAIRS, sample_images
    from pipeline.images import save_png, to_uint8
    from pipeline.saved import check_output_file, load_generator

    out = check_output_file(out, "--out", f"{Path(source).stem}.png")
    if get_family(model).inputs is not EDGE_PAIRS:
        raise ConfigError(
            f"{model} draws from noise, it does not translate; use `python -m pipeline sample "
            f"--model {model}`, or translate with pix2pix"
        )
    picture = read_picture(source)
    meta = load_pairs_meta(PAIRS_FILE)  # the edge settings and padding the model learnt on
    generator = load_generator(model)
    side = generator.inputs[0].shape[1]
    if side != meta.side:
        raise DataError(
            f"{PAIRS_FILE} holds {meta.side}px pairs but the {model} generator takes {side}px; "
            f"retrain it on these pairs: `dvc repro train@{model}`"
        )
    edges = drawing_to_edges(picture, meta.content_size, meta.pad, meta.edges, kind)
    generated = sample_images(generator, to_unit_range(edges[None]))[0]  # [S, S, C]
    # Cut out the picture's own area (the rest is padding and letterbox), then back to
    # the picture's size.
    height, width = picture.shape[:2]
    top, left, h, w = content_box(height, width, meta.content_size, side)
    pixels = to_uint8(generated[top : top + h, left : left + w])  # [h, w, C]
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    return save_png(np.asarray(image.resize((width, height), Image.BICUBIC)), Path(out))
