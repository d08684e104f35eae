"""Small data the tests make for themselves."""


def write_image_folder(folder, count: int = 40, size: int = 28) -> None:
    """`count` small grayscale PNGs with some structure (a bright square on noise)."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for i in range(count):
        pixels = rng.integers(0, 60, (size, size), dtype=np.uint8)
        top, left = rng.integers(0, size // 2, 2)
        pixels[top : top + size // 2, left : left + size // 2] = 220
        Image.fromarray(pixels, mode="L").save(folder / f"img_{i:03d}.png")
