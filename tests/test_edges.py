"""Canny edge maps, the pairs file, and a user's own drawing turned into model input."""

import numpy as np
import pytest
from PIL import Image

from pipeline.config import EdgesConfig
from pipeline.data.drawing import content_box, drawing_to_edges, is_drawing, read_picture
from pipeline.data.edges import (
    Pairs,
    canny,
    check_side,
    crop_padding,
    edge_stats,
    load_pairs,
    load_pairs_meta,
    make_pairs,
    pad_amount,
    pad_square,
    preview,
    save_pairs,
)
from pipeline.data.store import Dataset
from pipeline.errors import ConfigError, DataError

CFG = EdgesConfig()


def square_image(size: int = 28, top: int = 8, side: int = 12) -> np.ndarray:
    """uint8 [size, size]: a bright square on black."""
    image = np.zeros((size, size), np.uint8)
    image[top : top + side, top : top + side] = 220
    return image


def tiny_dataset(channels: int = 1, size: int = 28) -> Dataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 40, (12, size, size, channels), dtype=np.uint8)  # [N, H, W, C]
    for i, image in enumerate(images):
        image[4 + i % 5 : 20, 6:22] = 200  # a bright block in a different place each time
    labels = np.zeros(12, np.int64)
    return Dataset("tiny", images[:8], labels[:8], images[8:], labels[8:])


def drawing(height: int = 120, width: int = 120) -> np.ndarray:
    """uint8 [H, W]: black 2-px lines (a rectangle and a diagonal) on white paper."""
    paper = np.full((height, width), 255, np.uint8)
    top, left, bottom, right = height // 5, width // 5, 4 * height // 5, 4 * width // 5
    paper[top : top + 2, left:right] = paper[bottom - 2 : bottom, left:right] = 0
    paper[top:bottom, left : left + 2] = paper[top:bottom, right - 2 : right] = 0
    for y in range(top, bottom):
        x = left + (y - top) * (right - left) // (bottom - top)
        paper[y, x : x + 2] = 0
    return paper


# --- edge maps -------------------------------------------------------------------------


def test_edges_are_binary_single_channel_and_deterministic(tiny_images):
    first, second = canny(tiny_images, CFG), canny(tiny_images.copy(), CFG)
    assert first.shape == (64, 28, 28, 1) and first.dtype == np.uint8
    assert set(np.unique(first)) <= {0, 255}
    assert first.tobytes() == second.tobytes()


def test_a_square_has_edges_on_its_border_only():
    edges = canny(square_image()[None, ..., None], CFG)[0, ..., 0]  # [28, 28]
    for border in (edges[7:10, 8:20], edges[18:21, 8:20], edges[8:20, 7:10], edges[8:20, 18:21]):
        assert border.any()
    assert not edges[11:17, 11:17].any()  # the square's interior
    assert not edges[:4].any() and not edges[24:].any()  # far background
    assert not edges[:, :4].any() and not edges[:, 24:].any()


def test_rgb_input_is_converted_to_grey_first():
    grey = square_image()[None, ..., None]  # [1, 28, 28, 1]
    rgb = np.repeat(grey, 3, axis=-1)
    assert canny(rgb, CFG).shape == (1, 28, 28, 1)
    np.testing.assert_array_equal(canny(rgb, CFG), canny(grey, CFG))
    red = rgb.copy()
    red[..., 1:] = 0  # a red square: still an edge, at a lower contrast
    assert canny(red, EdgesConfig(low_threshold=10, high_threshold=30)).any()


def test_no_blur_is_allowed():
    assert canny(square_image()[None, ..., None], EdgesConfig(blur=0)).any()


# --- padding ---------------------------------------------------------------------------


def test_pad_square_and_crop_padding_round_trip(tiny_images):
    assert pad_amount(28, 32) == 2 and pad_amount(28, None) == 0
    padded = pad_square(tiny_images, 32)
    assert padded.shape == (64, 32, 32, 1)
    assert not padded[:, :2].any() and not padded[:, :, -2:].any()
    np.testing.assert_array_equal(crop_padding(padded, 2), tiny_images)
    floats = padded.astype(np.float32) / 127.5 - 1.0  # [N, 32, 32, 1]
    assert crop_padding(floats, 2).shape == (64, 28, 28, 1)
    assert pad_square(tiny_images, 28) is tiny_images
    assert crop_padding(tiny_images, 0) is tiny_images


@pytest.mark.parametrize(
    ("images", "side"),
    [(np.zeros((1, 28, 28, 1), np.uint8), 16), (np.zeros((1, 28, 30, 1), np.uint8), 32)],
)
def test_pad_square_rejects_large_or_non_square_images(images, side):
    with pytest.raises(ConfigError, match=r"edges\.pad_to"):
        pad_square(images, side)


@pytest.mark.parametrize("side", [32, 64, 128, 256])
def test_check_side_accepts_powers_of_two(side):
    check_side(side)


@pytest.mark.parametrize("side", [8, 28, 48, 100])
def test_check_side_rejects_others_naming_the_fix(side):
    with pytest.raises(ConfigError, match=r"power-of-two.*edges\.pad_to.*data\.image_size"):
        check_side(side)


def test_make_pairs_without_padding_needs_a_power_of_two():
    with pytest.raises(ConfigError, match=r"got 28; set edges\.pad_to \(e\.g\. 32\)"):
        make_pairs(tiny_dataset(), EdgesConfig(pad_to=None))


# --- pairs -----------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_make_pairs_pairs_edges_with_images(channels):
    dataset = tiny_dataset(channels)
    pairs = make_pairs(dataset, CFG)
    assert pairs.train.shape == (8, 32, 32, 1 + channels) and pairs.test.shape[0] == 4
    assert (pairs.side, pairs.pad, pairs.content_size) == (32, 2, 28)
    assert pairs.image_channels == channels and pairs.dataset == "tiny" and pairs.edges == CFG
    edges, images = Pairs.split_channels(crop_padding(pairs.train, pairs.pad))
    np.testing.assert_array_equal(images, dataset.x_train)
    np.testing.assert_array_equal(edges, canny(dataset.x_train, CFG))


def test_save_load_round_trip_gives_identical_bytes(tmp_path):
    pairs = make_pairs(tiny_dataset(), CFG)
    first, second = tmp_path / "a" / "pairs.npz", tmp_path / "b.npz"
    save_pairs(pairs, first)
    save_pairs(make_pairs(tiny_dataset(), CFG), second)
    assert first.read_bytes() == second.read_bytes()
    loaded = load_pairs(first)
    assert loaded.train.tobytes() == pairs.train.tobytes()
    assert loaded.test.tobytes() == pairs.test.tobytes()
    assert (loaded.pad, loaded.dataset, loaded.edges) == (2, "tiny", CFG)
    meta = load_pairs_meta(first)
    assert (meta.side, meta.pad, meta.content_size, meta.dataset) == (32, 2, 28, "tiny")
    assert meta.edges == CFG
    assert [p.name for p in first.parent.iterdir()] == ["pairs.npz"]  # no temp files left


def test_save_pairs_leaves_nothing_behind_on_failure(tmp_path, monkeypatch):
    pairs = make_pairs(tiny_dataset(), CFG)
    broken = Pairs(pairs.train, pairs.test.astype(np.float32), 2, "tiny", CFG)
    with pytest.raises(ValueError):
        save_pairs(broken, tmp_path / "pairs.npz")
    write_array = np.lib.format.write_array

    def fail_on_test(member, array, **kwargs):
        if array is pairs.test:
            raise OSError("disk full")
        write_array(member, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", fail_on_test)
    with pytest.raises(OSError, match="disk full"):
        save_pairs(pairs, tmp_path / "pairs.npz")  # fails half-way through the archive
    assert list(tmp_path.iterdir()) == []


def test_load_pairs_names_the_fix_when_missing(tmp_path):
    with pytest.raises(DataError, match=r"not found; run `python -m pipeline edges`"):
        load_pairs(tmp_path / "pairs.npz")
    with pytest.raises(DataError, match="not found"):
        load_pairs_meta(tmp_path / "pairs.npz")


def test_load_pairs_names_the_fix_when_truncated(tmp_path):
    path = tmp_path / "pairs.npz"
    save_pairs(make_pairs(tiny_dataset(), CFG), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for load in (load_pairs, load_pairs_meta):
        with pytest.raises(DataError, match=r"delete it and re-run .*dvc repro edges") as error:
            load(path)
        assert "\n" not in str(error.value)


def test_preview_and_stats():
    pairs = make_pairs(tiny_dataset(3), CFG)
    picture = preview(pairs, count=4)
    assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[-1] == 3
    stats = edge_stats(pairs)
    assert 0 < stats["edge_density"] < 0.5 and stats["train_pairs"] == 8
    assert stats["test_pairs"] == 4 and stats["train_empty_maps"] == 0
    assert preview(make_pairs(tiny_dataset(1), CFG)).ndim == 2


# --- a user's picture ------------------------------------------------------------------


def test_a_drawing_and_its_inverse_give_the_same_edges():
    dark_on_light = drawing()
    light_on_dark = 255 - dark_on_light
    first = drawing_to_edges(dark_on_light, 28, 2, CFG, kind="edges")
    assert first.shape == (32, 32, 1) and set(np.unique(first)) == {0, 255}
    np.testing.assert_array_equal(first, drawing_to_edges(light_on_dark, 28, 2, CFG, "edges"))
    np.testing.assert_array_equal(first, drawing_to_edges(dark_on_light, 28, 2, CFG, "auto"))
    assert not first[:2].any() and not first[:, -2:].any()  # the padding stays black


@pytest.mark.parametrize(("height", "width"), [(17, 40), (300, 300)])
@pytest.mark.parametrize("kind", ["auto", "edges", "photo"])
def test_any_picture_size_gives_the_model_input_shape(height, width, kind):
    picture = drawing(height, width)
    edges = drawing_to_edges(picture, 28, 2, CFG, kind)
    assert edges.shape == (32, 32, 1) and edges.dtype == np.uint8
    assert set(np.unique(edges)) <= {0, 255}


def test_thin_lines_survive_the_downscale():
    paper = np.full((300, 300), 255, np.uint8)
    paper[150, 30:270] = 0  # one pixel wide, 10.7 times larger than the model's 28
    edges = drawing_to_edges(paper, 28, 0, CFG, "edges")[..., 0]
    assert edges[13:16].any(axis=0)[4:24].all()


def test_rgba_drawing_on_transparent_paper():
    ink = 255 - drawing()  # alpha: opaque where the lines are
    rgba = np.zeros((*ink.shape, 4), np.uint8)
    rgba[..., 3] = ink
    np.testing.assert_array_equal(
        drawing_to_edges(rgba, 28, 2, CFG), drawing_to_edges(drawing(), 28, 2, CFG)
    )


def test_a_photo_is_recognised_in_auto_mode():
    rng = np.random.default_rng(1)
    gradient = np.linspace(30, 220, 64)[None, :] + np.linspace(0, 30, 64)[:, None]
    photo = np.clip(gradient + rng.normal(0, 12, (64, 64)), 0, 255).astype(np.uint8)
    photo[20:44, 20:44] //= 2  # some structure for Canny to find
    assert not is_drawing(photo) and is_drawing(drawing())
    np.testing.assert_array_equal(
        drawing_to_edges(photo, 28, 2, CFG, "auto"), drawing_to_edges(photo, 28, 2, CFG, "photo")
    )


def test_unknown_kind_is_a_config_error():
    with pytest.raises(ConfigError, match="auto, edges, photo"):
        drawing_to_edges(drawing(), 28, 2, CFG, "sketch")


def test_read_picture(tmp_path):
    path = tmp_path / "drawing.png"
    Image.fromarray(drawing()).save(path)
    np.testing.assert_array_equal(read_picture(path), drawing())
    rgba = np.zeros((5, 6, 4), np.uint8)
    Image.fromarray(rgba, mode="RGBA").save(path)
    assert read_picture(path).shape == (5, 6, 4)
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    with pytest.raises(DataError, match=r"cannot read .*notes\.txt as an image \("):
        read_picture(text)
    with pytest.raises(DataError, match=r"cannot read .*missing\.png as an image \(no such"):
        read_picture(tmp_path / "missing.png")


def test_content_box_is_where_a_wide_drawing_lands():
    wide = np.full((250, 500), 255, np.uint8)
    wide[100:150, 50:450] = 0  # a filled bar: its edges are inside the box
    edges = drawing_to_edges(wide, 28, 2, CFG, "edges")[..., 0]  # [32, 32]
    top, left, h, w = content_box(250, 500, 28, 32)
    assert (h, w) == (14, 28) and (top, left) == (9, 2)
    inside = np.zeros_like(edges, bool)
    inside[top : top + h, left : left + w] = True
    assert edges[inside].any() and not edges[~inside].any()


def test_load_pairs_can_skip_the_training_split(tmp_path):
    pairs = make_pairs(tiny_dataset(), CFG)
    save_pairs(pairs, tmp_path / "pairs.npz")
    test_only = load_pairs(tmp_path / "pairs.npz", train=False)
    np.testing.assert_array_equal(test_only.test, pairs.test)
    assert test_only.train.shape == (0, *pairs.train.shape[1:])
    assert (test_only.side, test_only.pad) == (pairs.side, pairs.pad)
