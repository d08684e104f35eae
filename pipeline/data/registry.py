"""The datasets `data.dataset` may name, and what proves a downloaded file is the right one.

A built-in dataset is a `DatasetSpec`: the files it is made of, each with a published
checksum, the official URLs, and how to turn the verified files into arrays. Everything a
fetch needs is in the spec, so tests (and users with private mirrors) substitute a spec
instead of patching module state: `fetch(cfg, specs={...})`.

Where each checksum comes from is noted next to it; none is computed from a copy we made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pipeline.errors import ConfigError

# What a checksum covers: "content" is the decompressed bytes (so `<name>` and a gzipped
# `<name>.gz`, however it was compressed, both verify); "file" is the exact bytes of `name`.
ChecksumOf = Literal["content", "file"]


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset and the checksum that proves a copy of it is genuine."""

    name: str
    digest: str
    algorithm: Literal["sha256", "md5"] = "sha256"
    checksum_of: ChecksumOf = "content"
    urls: tuple[str, ...] = ()  # official download URLs, tried in order

    def candidate_names(self) -> tuple[str, ...]:
        """File names in a folder that can be verified against this checksum."""
        if self.checksum_of == "content":
            return (self.name, self.name + ".gz")
        return (self.name,)


@dataclass(frozen=True)
class DebianPackage:
    """A Debian package that ships the dataset files (fetched with `apt-get download`)."""

    package: str
    folder: str  # where the files sit inside the package, e.g. usr/share/datasets/x


@dataclass(frozen=True)
class DatasetSpec:
    """A built-in dataset: its files, how to parse them, and where else to find them.

    `layout` "idx" expects four files in the order train images, train labels, test images,
    test labels; "cifar10" expects the one python-pickle archive.
    """

    name: str
    files: tuple[FileSpec, ...]
    layout: Literal["idx", "cifar10"]
    class_names: tuple[str, ...] = ()  # "idx" only; cifar10 reads batches.meta
    debian: DebianPackage | None = None


@dataclass(frozen=True)
class FolderSpec:
    """`folder:<path>`: a user's own images, read with PIL (no checksum)."""

    name: str  # the full `folder:<path>` string, as configured
    path: str


FOLDER_PREFIX = "folder:"
DEFAULT_FOLDER_IMAGE_SIZE = 64  # folder images have no native size to keep

_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_MNIST_URLS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_IDX_ORDER = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# SHA-256 of the decompressed IDX files, from DESIGN.md ("Data"); checked against the
# files of the Debian package dataset-fashion-mnist (whose .gz differ from Zalando's).
_FASHION_SHA256 = (
    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
)

# MD5 of the official .gz files, as published in torchvision (torchvision/datasets/mnist.py,
# MNIST.resources) and used unchanged by many libraries. No checksum of the decompressed
# bytes is published there, so only the .gz files verify.
_MNIST_GZ_MD5 = (
    "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "d53e105ee54ea40749a09fcbcd1e9432",
    "9fb629c4189551a2d022fa330f9573f3",
    "ec29112dd5afa0611ce80d1b7f02629c",
)

# Label order from the Fashion-MNIST README (zalandoresearch/fashion-mnist, "Labels"),
# also shipped in /usr/share/doc/dataset-fashion-mnist/README.md.gz: 7 is Sneaker, 8 is Bag.
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

FASHION_MNIST = DatasetSpec(
    name="fashion_mnist",
    files=tuple(
        FileSpec(name, digest, urls=(f"{_FASHION_URL}{name}.gz",))
        for name, digest in zip(_IDX_ORDER, _FASHION_SHA256, strict=True)
    ),
    layout="idx",
    class_names=FASHION_MNIST_CLASSES,
    debian=DebianPackage("dataset-fashion-mnist", "usr/share/datasets/fashion-mnist"),
)

MNIST = DatasetSpec(
    name="mnist",
    files=tuple(
        FileSpec(
            f"{name}.gz",
            digest,
            algorithm="md5",
            checksum_of="file",
            urls=tuple(f"{base}{name}.gz" for base in _MNIST_URLS),
        )
        for name, digest in zip(_IDX_ORDER, _MNIST_GZ_MD5, strict=True)
    ),
    layout="idx",
    class_names=tuple(str(digit) for digit in range(10)),
)

# MD5 of the archive as published on https://www.cs.toronto.edu/~kriz/cifar.html (and in
# torchvision's CIFAR10.tgz_md5).
CIFAR10 = DatasetSpec(
    name="cifar10",
    files=(
        FileSpec(
            "cifar-10-python.tar.gz",
            "c58f30108f718f92721af3b95e74349a",
            algorithm="md5",
            checksum_of="file",
            urls=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
        ),
    ),
    layout="cifar10",
)

BUILTIN_SPECS: Mapping[str, DatasetSpec] = {s.name: s for s in (FASHION_MNIST, MNIST, CIFAR10)}


def valid_names(specs: Mapping[str, DatasetSpec] = BUILTIN_SPECS) -> str:
    """The names `data.dataset` accepts, for error messages."""
    return ", ".join([*specs, f"{FOLDER_PREFIX}<path>"])


def resolve(
    dataset: str, specs: Mapping[str, DatasetSpec] | None = None
) -> DatasetSpec | FolderSpec:
    """The spec `data.dataset` names; an unknown name is a ConfigError listing valid ones."""
    specs = BUILTIN_SPECS if specs is None else specs
    if dataset.startswith(FOLDER_PREFIX):
        path = dataset[len(FOLDER_PREFIX) :].strip()
        if not path:
            raise ConfigError("data.dataset folder:<path> needs a path, e.g. folder:data/my_images")
        return FolderSpec(name=dataset, path=path)
    if dataset in specs:
        return specs[dataset]
    raise ConfigError(f"data.dataset must be one of {valid_names(specs)}; got {dataset!r}")
