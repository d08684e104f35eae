"""Fetching datasets: sources, checksums, atomic writes, the stored file, folder datasets.

Everything runs on tiny IDX files the tests write themselves, with a registry spec whose
checksums are those of the tiny files and no URLs (or file:// URLs), so nothing touches the
network. The one test on the real Fashion-MNIST reads the Debian package's local copy.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import logging
import os
import pickle
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.config import DataConfig
from pipeline.data import store
from pipeline.data.fetch import cache_root, fetch
from pipeline.data.formats import parse_idx
from pipeline.data.registry import (
    BUILTIN_SPECS,
    FASHION_MNIST_CLASSES,
    DatasetSpec,
    DebianPackage,
    FileSpec,
    resolve,
)
from pipeline.data.store import load_dataset
from pipeline.errors import ConfigError, DataError

NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CLASSES = tuple(f"class {i}" for i in range(10))
REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


# --- helpers -------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file (type uint8) holding `array`."""
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@dataclasses.dataclass
class Tiny:
    """A tiny MNIST-like dataset: the arrays and the four IDX files' bytes."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def files(self) -> dict[str, bytes]:
        arrays = (self.x_train, self.y_train, self.x_test, self.y_test)
        return {name: idx_bytes(a) for name, a in zip(NAMES, arrays, strict=True)}


@pytest.fixture
def tiny() -> Tiny:
    rng = np.random.default_rng(0)
    return Tiny(
        rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 20).astype(np.uint8),
        rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 6).astype(np.uint8),
    )


def tiny_spec(files: dict[str, bytes], **file_options) -> dict[str, DatasetSpec]:
    """A registry holding only "tiny": SHA-256 of the decompressed bytes, no URLs."""
    spec = DatasetSpec(
        name="tiny",
        files=tuple(
            FileSpec(name, hashlib.sha256(data).hexdigest(), **file_options)
            for name, data in files.items()
        ),
        layout="idx",
        class_names=CLASSES,
    )
    return {"tiny": spec}


def write_mirror(folder: Path, files: dict[str, bytes], *, gz: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def config(tmp_path: Path, *mirrors: Path, **changes) -> DataConfig:
    return DataConfig(
        dataset=changes.pop("dataset", "tiny"),
        mirrors=tuple(str(m) for m in mirrors),
        cache_dir=str(tmp_path / "cache"),
        raw_dir=str(tmp_path / "raw"),
        **changes,
    )


def leftovers(folder: Path) -> list[Path]:
    """Temporary files a fetch must never leave behind."""
    return [p for p in folder.rglob("*") if p.name.endswith(".part") or ".fetch-" in str(p)]


def assert_round_trip(dataset: store.Dataset, tiny: Tiny) -> None:
    np.testing.assert_array_equal(dataset.x_train[..., 0], tiny.x_train)
    np.testing.assert_array_equal(dataset.y_train, tiny.y_train.astype(np.int64))
    np.testing.assert_array_equal(dataset.x_test[..., 0], tiny.x_test)
    np.testing.assert_array_equal(dataset.y_test, tiny.y_test.astype(np.int64))
    assert dataset.x_train.dtype == np.uint8
    assert dataset.y_train.dtype == np.int64
    assert dataset.image_shape == (28, 28, 1)
    assert dataset.num_classes == 10
    assert dataset.class_names == CLASSES


# --- fetching from mirrors and the cache -------------------------------------------------


def test_gz_mirror_round_trips_pixels_and_labels(tmp_path, tiny, capsys):
    mirror = write_mirror(tmp_path / "mirror", tiny.files, gz=True)
    cfg = config(tmp_path, mirror)
    path = fetch(cfg, progress=False, specs=tiny_spec(tiny.files))
    assert path == tmp_path / "raw" / "dataset.npz"
    assert_round_trip(load_dataset(cfg), tiny)
    with np.load(path, allow_pickle=False) as npz:  # plain arrays, no pickles
        assert {"x_train", "y_train", "x_test", "y_test", "class_names", "meta"} <= set(npz.files)
    out = capsys.readouterr().out
    assert "fetched tiny" in out and f"mirror {mirror}" in out and str(path) in out
    assert sorted(p.name for p in (tmp_path / "cache" / "tiny").iterdir()) == sorted(
        f"{n}.gz" for n in NAMES
    )
    assert not leftovers(tmp_path)


def test_plain_mirror_works(tmp_path, tiny):
    mirror = write_mirror(tmp_path / "mirror", tiny.files, gz=False)
    cfg = config(tmp_path, mirror)
    fetch(cfg, progress=False, specs=tiny_spec(tiny.files))
    assert_round_trip(load_dataset(cfg), tiny)


def test_corrupt_file_in_first_mirror_falls_back_to_second(tmp_path, tiny, caplog):
    bad = write_mirror(tmp_path / "bad", tiny.files, gz=True)
    broken = bytearray(tiny.files[NAMES[0]])
    broken[100] ^= 0xFF
    (bad / f"{NAMES[0]}.gz").write_bytes(gzip.compress(bytes(broken)))
    good = write_mirror(tmp_path / "good", tiny.files, gz=False)
    cfg = config(tmp_path, bad, good)
    with caplog.at_level(logging.WARNING, logger="pipeline.data"):
        fetch(cfg, progress=False, specs=tiny_spec(tiny.files))
    rejected = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejected) == 1
    assert NAMES[0] in rejected[0] and "checksum mismatch" in rejected[0]
    assert_round_trip(load_dataset(cfg), tiny)
    # the good copy (plain, from the second mirror) is what got cached
    assert (tmp_path / "cache" / "tiny" / NAMES[0]).read_bytes() == tiny.files[NAMES[0]]


def test_truncated_file_leaves_nothing_behind(tmp_path, tiny):
    mirror = write_mirror(tmp_path / "mirror", tiny.files, gz=True)
    last = mirror / f"{NAMES[3]}.gz"
    last.write_bytes(last.read_bytes()[:-10])
    cfg = config(tmp_path, mirror)
    with pytest.raises(DataError) as error:
        fetch(cfg, progress=False, specs=tiny_spec(tiny.files))
    message = str(error.value)
    assert NAMES[3] in message and f"mirror {mirror}" in message
    assert "data.mirrors" in message and "\n" not in message
    assert not (tmp_path / "raw" / "dataset.npz").exists()
    cached = {p.name for p in (tmp_path / "cache" / "tiny").iterdir()}
    assert not any(name.startswith(NAMES[3]) for name in cached)
    assert not leftovers(tmp_path)


def test_second_fetch_uses_the_cache(tmp_path, tiny, capsys):
    mirror = write_mirror(tmp_path / "mirror", tiny.files, gz=True)
    cfg = config(tmp_path, mirror)
    specs = tiny_spec(tiny.files)
    path = fetch(cfg, progress=False, specs=specs)
    first = path.read_bytes()
    for file in mirror.iterdir():
        file.unlink()
    mirror.rmdir()
    capsys.readouterr()
    fetch(cfg, progress=False, specs=specs)
    assert "from cache" in capsys.readouterr().out
    assert_round_trip(load_dataset(cfg), tiny)
    assert path.read_bytes() == first  # same data, same bytes: DVC sees no change


def test_corrupt_cache_entry_is_deleted_and_replaced(tmp_path, tiny):
    cache = tmp_path / "cache" / "tiny"
    cache.mkdir(parents=True)
    (cache / NAMES[1]).write_bytes(b"garbage")
    mirror = write_mirror(tmp_path / "mirror", tiny.files, gz=True)
    cfg = config(tmp_path, mirror)
    fetch(cfg, progress=False, specs=tiny_spec(tiny.files))
    assert not (cache / NAMES[1]).exists()
    assert gzip.decompress((cache / f"{NAMES[1]}.gz").read_bytes()) == tiny.files[NAMES[1]]


def test_file_url_download_is_verified_and_cached(tmp_path, tiny):
    """The download path, with file:// URLs standing in for the network."""
    served = write_mirror(tmp_path / "served", tiny.files, gz=True)
    specs = tiny_spec(tiny.files)
    spec = specs["tiny"]
    files = tuple(
        dataclasses.replace(
            f, urls=(f"file://{tmp_path}/missing/{f.name}.gz", f"{served.as_uri()}/{f.name}.gz")
        )
        for f in spec.files
    )
    specs = {"tiny": dataclasses.replace(spec, files=files)}
    cfg = config(tmp_path)
    fetch(cfg, progress=False, specs=specs)
    assert_round_trip(load_dataset(cfg), tiny)
    assert len(list((tmp_path / "cache" / "tiny").glob("*.gz"))) == 4
    assert not leftovers(tmp_path)


def test_md5_of_gz_rejects_plain_copy_with_a_hint(tmp_path, tiny):
    """MNIST's published MD5s are of the .gz files: a plain copy cannot be verified."""
    gz = {f"{name}.gz": gzip.compress(data, mtime=0) for name, data in tiny.files.items()}
    spec = DatasetSpec(
        "tiny",
        tuple(
            FileSpec(name, hashlib.md5(data).hexdigest(), "md5", "file")
            for name, data in gz.items()
        ),
        "idx",
        CLASSES,
    )
    plain = write_mirror(tmp_path / "plain", tiny.files, gz=False)
    cfg = config(tmp_path, plain)
    with pytest.raises(DataError, match=r"published md5 is of train-images-idx3-ubyte\.gz"):
        fetch(cfg, progress=False, specs={"tiny": spec})
    packed = tmp_path / "packed"
    packed.mkdir()
    for name, data in gz.items():
        (packed / name).write_bytes(data)
    fetch(config(tmp_path, plain, packed), progress=False, specs={"tiny": spec})
    assert_round_trip(load_dataset(cfg), tiny)


def fake_tool(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)


def with_debian(specs: dict[str, DatasetSpec], package: str) -> dict[str, DatasetSpec]:
    deb = DebianPackage(package, "usr/share/datasets/tiny")
    return {"tiny": dataclasses.replace(specs["tiny"], debian=deb)}


def test_debian_package_is_the_last_resort(tmp_path, tiny, monkeypatch):
    """apt-get download + dpkg-deb -x, faked on PATH so no package archive is touched."""
    payload = write_mirror(tmp_path / "payload" / "usr/share/datasets/tiny", tiny.files, gz=True)
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "apt-get", 'touch "$2_1.0_all.deb"\n')
    fake_tool(bin_dir, "dpkg-deb", f'mkdir -p "$3" && cp -r {tmp_path}/payload/. "$3"\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cfg = config(tmp_path)
    fetch(cfg, progress=False, specs=with_debian(tiny_spec(tiny.files), "tiny-data"))
    assert_round_trip(load_dataset(cfg), tiny)
    assert payload.is_dir() and not leftovers(tmp_path)


def test_failed_apt_get_is_reported(tmp_path, tiny, monkeypatch):
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "apt-get", 'echo "E: Unable to locate package $2" >&2\nexit 100\n')
    fake_tool(bin_dir, "dpkg-deb", "exit 1\n")  # present even where dpkg is not
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(DataError) as error:
        fetch(config(tmp_path), progress=False, specs=with_debian(tiny_spec(tiny.files), "tiny"))
    message = str(error.value)
    assert "apt-get download tiny` failed: E: Unable to locate package tiny" in message
    assert "apt-get update" in message and "sudo apt-get install tiny" in message


def test_image_size_resizes_builtin_datasets(tmp_path, tiny):
    mirror = write_mirror(tmp_path / "mirror", tiny.files, gz=True)
    cfg = config(tmp_path, mirror, image_size=32)
    fetch(cfg, progress=False, specs=tiny_spec(tiny.files))
    dataset = load_dataset(cfg)
    assert dataset.x_train.shape == (20, 32, 32, 1) and dataset.x_test.shape == (6, 32, 32, 1)
    with pytest.raises(DataError, match=r"image_size 32 but data\.\* asks for 'tiny' at native"):
        load_dataset(config(tmp_path, mirror))


def test_bad_idx_magic_number_is_a_data_error(tmp_path, tiny):
    files = dict(tiny.files)
    files[NAMES[0]] = b"\x00\x00\x08\x02" + files[NAMES[0]][4:]
    mirror = write_mirror(tmp_path / "mirror", files, gz=False)
    with pytest.raises(DataError, match=f"{NAMES[0]}: bad IDX magic number 0x00000802"):
        fetch(config(tmp_path, mirror), progress=False, specs=tiny_spec(files))
    assert not (tmp_path / "raw" / "dataset.npz").exists()


def test_idx_size_must_match_header():
    data = idx_bytes(np.zeros((2, 3, 3), np.uint8))
    assert parse_idx(data, "x", 3).shape == (2, 3, 3)
    with pytest.raises(DataError, match="holds 17"):
        parse_idx(data[:-1], "x", 3)


def test_interrupted_write_leaves_no_dataset(tmp_path, tiny, monkeypatch):
    mirror = write_mirror(tmp_path / "mirror", tiny.files, gz=True)

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", explode)
    with pytest.raises(KeyboardInterrupt):
        fetch(config(tmp_path, mirror), progress=False, specs=tiny_spec(tiny.files))
    assert list((tmp_path / "raw").iterdir()) == []


def cifar_archive(x_train, y_train, x_test, y_test, names) -> bytes:
    """A miniature cifar-10-python.tar.gz laid out like the official one."""

    def batch(x, y) -> bytes:
        rows = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # R plane, G plane, B plane
        return pickle.dumps({b"data": rows, b"labels": [int(v) for v in y]})

    members = {f"data_batch_{i + 1}": batch(x_train[i::5], y_train[i::5]) for i in range(5)}
    members["test_batch"] = batch(x_test, y_test)
    members["batches.meta"] = pickle.dumps({b"label_names": [n.encode() for n in names]})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_cifar10_archive_is_parsed(tmp_path):
    rng = np.random.default_rng(1)
    x_train = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    y_train = rng.integers(0, 3, 10)
    x_test = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    y_test = rng.integers(0, 3, 4)
    data = cifar_archive(x_train, y_train, x_test, y_test, ["cat", "dog", "ship"])
    name = "cifar-10-python.tar.gz"
    spec = DatasetSpec(
        "tiny", (FileSpec(name, hashlib.md5(data).hexdigest(), "md5", "file"),), "cifar10"
    )
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / name).write_bytes(data)
    cfg = config(tmp_path, mirror)
    fetch(cfg, progress=False, specs={"tiny": spec})
    dataset = load_dataset(cfg)
    order = np.concatenate([np.arange(10)[i::5] for i in range(5)])  # batch 1, then 2, ...
    np.testing.assert_array_equal(dataset.x_train, x_train[order])
    np.testing.assert_array_equal(dataset.y_train, y_train[order])
    np.testing.assert_array_equal(dataset.x_test, x_test)
    assert dataset.class_names == ("cat", "dog", "ship") and dataset.image_shape == (32, 32, 3)


def test_empty_cache_dir_means_home_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_root(DataConfig()) == tmp_path / ".cache" / "gan-zoo"
    assert cache_root(DataConfig(cache_dir="~/elsewhere")) == tmp_path / "elsewhere"


# --- load_dataset errors ---------------------------------------------------------------------


def test_load_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"dataset\.npz not found; run `python -m pipeline fetch`"):
        load_dataset(config(tmp_path))


def test_load_corrupt_file(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "dataset.npz").write_bytes(os.urandom(1000))
    with pytest.raises(
        DataError, match=r"corrupt or unreadable.*re-run `python -m pipeline fetch`"
    ):
        load_dataset(config(tmp_path))


def test_load_truncated_file(tmp_path, tiny):
    mirror = write_mirror(tmp_path / "mirror", tiny.files, gz=True)
    cfg = config(tmp_path, mirror)
    path = fetch(cfg, progress=False, specs=tiny_spec(tiny.files))
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match="corrupt or unreadable"):
        load_dataset(cfg)


def test_load_other_dataset(tmp_path, tiny):
    mirror = write_mirror(tmp_path / "mirror", tiny.files, gz=True)
    fetch(config(tmp_path, mirror), progress=False, specs=tiny_spec(tiny.files))
    with pytest.raises(DataError) as error:
        load_dataset(config(tmp_path, dataset="mnist"))
    assert "holds 'tiny' at native size but data.* asks for 'mnist'" in str(error.value)
    assert "re-run `python -m pipeline fetch`" in str(error.value)


# --- registry ------------------------------------------------------------------------------


def test_unknown_dataset_lists_valid_names(tmp_path):
    expected = "data.dataset must be one of fashion_mnist, mnist, cifar10, folder:<path>; got 'foo'"
    with pytest.raises(ConfigError, match=expected):
        fetch(config(tmp_path, dataset="foo"), progress=False)
    with pytest.raises(ConfigError, match="needs a path"):
        resolve("folder:")


def test_builtin_registry_is_well_formed():
    assert set(BUILTIN_SPECS) == {"fashion_mnist", "mnist", "cifar10"}
    fashion = BUILTIN_SPECS["fashion_mnist"]
    assert [f.name for f in fashion.files] == list(NAMES)
    assert all(len(f.digest) == 64 and f.checksum_of == "content" for f in fashion.files)
    assert fashion.class_names[7:9] == ("Sneaker", "Bag")  # official label order
    assert all(len(f.digest) == 32 and f.urls for f in BUILTIN_SPECS["mnist"].files)
    assert BUILTIN_SPECS["cifar10"].files[0].digest == "c58f30108f718f92721af3b95e74349a"


# --- folder datasets -----------------------------------------------------------------------


def save_image(path: Path, size: tuple[int, int], mode: str, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 255 - value, 7)
    Image.new(mode, size, color).save(path)


def test_folder_images_are_resized(tmp_path, capsys):
    images = tmp_path / "images"
    save_image(images / "a.png", (40, 30), "RGB", 10)
    save_image(images / "sub" / "b.jpg", (64, 64), "RGB", 200)
    save_image(images / "c.bmp", (17, 50), "L", 90)
    (images / "notes.txt").write_text("not an image")
    cfg = config(tmp_path, dataset=f"folder:{images}", image_size=16)
    fetch(cfg, progress=False)
    dataset = load_dataset(cfg)
    assert dataset.x_train.shape == (3, 16, 16, 3) and dataset.x_test.shape == (0, 16, 16, 3)
    assert dataset.num_classes == 0 and (dataset.y_train == -1).all()
    np.testing.assert_array_equal(dataset.x_train[0, 8, 8], [10, 245, 7])
    np.testing.assert_array_equal(dataset.x_train[1], 90)  # gray -> RGB: same value everywhere
    assert f"from folder {images}" in capsys.readouterr().out


def test_folder_grayscale_class_folders_and_test_split(tmp_path):
    images = tmp_path / "images"
    for i in range(12):
        save_image(images / ("cats" if i < 6 else "dogs") / f"{i:02}.png", (20, 20), "L", i)
    cfg = config(tmp_path, dataset=f"folder:{images}")  # image_size null: 64
    fetch(cfg, progress=False)
    dataset = load_dataset(cfg)
    assert dataset.image_shape == (64, 64, 1)
    assert dataset.class_names == ("cats", "dogs")
    assert len(dataset.x_train) == 11 and len(dataset.x_test) == 1
    assert dataset.y_train.tolist() == [0] * 6 + [1] * 5 and dataset.y_test.tolist() == [1]


def test_folder_unreadable_image_names_the_file(tmp_path):
    images = tmp_path / "images"
    save_image(images / "good.png", (8, 8), "RGB", 1)
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"broken\.jpg"):
        fetch(config(tmp_path, dataset=f"folder:{images}"), progress=False)
    assert not (tmp_path / "raw" / "dataset.npz").exists()


def test_folder_empty_or_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        fetch(config(tmp_path, dataset=f"folder:{tmp_path / 'empty'}"), progress=False)
    with pytest.raises(DataError, match="does not exist"):
        fetch(config(tmp_path, dataset=f"folder:{tmp_path / 'nope'}"), progress=False)


# --- the real thing --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(
    not REAL_FASHION.is_dir(),
    reason="needs the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)",
)
def test_real_fashion_mnist_from_debian_mirror(tmp_path):
    cfg = config(tmp_path, REAL_FASHION, dataset="fashion_mnist")
    fetch(
        cfg,
        progress=False,
        specs={
            "fashion_mnist": dataclasses.replace(
                BUILTIN_SPECS["fashion_mnist"],
                debian=None,
                files=tuple(
                    dataclasses.replace(f, urls=()) for f in BUILTIN_SPECS["fashion_mnist"].files
                ),
            )
        },
    )
    dataset = load_dataset(cfg)
    assert dataset.x_train.shape == (60000, 28, 28, 1)
    assert dataset.x_test.shape == (10000, 28, 28, 1)
    assert dataset.num_classes == 10 and dataset.class_names == FASHION_MNIST_CLASSES
    assert np.bincount(dataset.y_train).tolist() == [6000] * 10
