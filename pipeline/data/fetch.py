"""`python -m pipeline fetch`: get the dataset `data.dataset` names into `data/raw/dataset.npz`.

Built-in datasets come from the first source holding a copy that matches the published
checksum (cache, `data.mirrors`, official URLs, the Debian package: see `sources.py`);
`folder:<path>` datasets are read from the user's images. The result is written atomically,
so an interrupted or failed fetch leaves the previous file (or none), never a partial one.
The file is rewritten on every fetch rather than trusted: with the cache warm this takes
seconds, and the bytes come out identical for identical data.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.config import DataConfig
from pipeline.data.folder import load_folder
from pipeline.data.formats import load_builtin, resize_dataset
from pipeline.data.registry import (
    DEFAULT_FOLDER_IMAGE_SIZE,
    DatasetSpec,
    FolderSpec,
    resolve,
)
from pipeline.data.sources import (
    DebianSource,
    Downloader,
    FolderSource,
    Obtained,
    Source,
    UrlSource,
    obtain,
)
from pipeline.data.store import Dataset, dataset_path, save_dataset

log = logging.getLogger(__name__)


def cache_root(cfg: DataConfig) -> Path:
    """`data.cache_dir`, or ~/.cache/gan-zoo when it is empty."""
    return Path(cfg.cache_dir).expanduser() if cfg.cache_dir else Path.home() / ".cache/gan-zoo"


def fix_hint(spec: DatasetSpec) -> str:
    """What a user can do when no source has a good copy."""
    mirrors = "add a folder holding the file (or its .gz) to data.mirrors in params.yaml"
    if spec.debian is None:
        return mirrors[0].upper() + mirrors[1:]
    return f"Run `sudo apt-get install {spec.debian.package}` or {mirrors}"


@contextmanager
def _workdir(cache: Path) -> Iterator[Path]:
    """A private scratch folder, next to the cache when possible so finished downloads move
    into the cache with a rename; removed, with anything partial in it, when done."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.TemporaryDirectory(prefix=".fetch-", dir=cache)
    except OSError:
        scratch = tempfile.TemporaryDirectory(prefix="gan-zoo-fetch-")
    with scratch as name:
        yield Path(name)


def _sources(
    cfg: DataConfig, spec: DatasetSpec, cache: Path, workdir: Path, progress: bool
) -> dict[str, list[Source]]:
    """For each file of `spec`, the places to try, in order."""
    downloader = Downloader(workdir, cfg.download_timeout, progress)
    shared: list[Source] = [FolderSource(cache, f"cache {cache}", is_cache=True)]
    shared += [FolderSource(Path(m).expanduser(), f"mirror {m}") for m in cfg.mirrors]
    debian = [DebianSource(spec.debian, workdir, cfg.download_timeout)] if spec.debian else []
    return {
        file.name: [*shared, *(UrlSource(url, downloader) for url in file.urls), *debian]
        for file in spec.files
    }


def obtain_files(
    cfg: DataConfig, spec: DatasetSpec, *, progress: bool = True
) -> tuple[Dataset, list[Obtained]]:
    """Find, verify and parse every file of a built-in dataset."""
    cache = cache_root(cfg) / spec.name
    with _workdir(cache.parent) as workdir:
        sources = _sources(cfg, spec, cache, workdir, progress)
        obtained = [obtain(f, sources[f.name], cache, fix_hint(spec)) for f in spec.files]
        # Parse inside the block: a file the cache could not take still lives in workdir.
        dataset = load_builtin(spec, [o.path for o in obtained])
    return dataset, obtained


def _summary(dataset: Dataset, origin: str, path: Path) -> str:
    classes = f"{dataset.num_classes} classes" if dataset.num_classes else "unlabelled"
    return (
        f"fetched {dataset.name}: train {dataset.x_train.shape}, test {dataset.x_test.shape}, "
        f"{classes}\n  from {origin}\n  wrote {path}"
    )


def _origin(spec: DatasetSpec, obtained: list[Obtained]) -> str:
    """Which source gave which files, e.g. "cache ~/.cache/gan-zoo/mnist (4 files)"."""
    by_source: dict[str, list[str]] = {}
    for file, got in zip(spec.files, obtained, strict=True):
        by_source.setdefault(got.source, []).append(file.name)
    parts = [
        f"{source} ({len(names)} files)" if len(names) > 1 else f"{source} ({names[0]})"
        for source, names in by_source.items()
    ]
    return "; ".join(parts)


def fetch(
    cfg: DataConfig,
    *,
    progress: bool = True,
    specs: Mapping[str, DatasetSpec] | None = None,
) -> Path:
    """Obtain the dataset `cfg.dataset` names and write `<cfg.raw_dir>/dataset.npz`.

    `specs` replaces the built-in registry (tests use it to point at tiny files with their
    own checksums and no URLs). Returns the path written.
    """
    spec = resolve(cfg.dataset, specs)
    meta: dict[str, Any] = {"dataset": cfg.dataset, "image_size": cfg.image_size}
    if isinstance(spec, FolderSpec):
        size = cfg.image_size or DEFAULT_FOLDER_IMAGE_SIZE
        dataset = load_folder(spec, size, progress=progress)
        origin = f"folder {spec.path}"
    else:
        dataset, obtained = obtain_files(cfg, spec, progress=progress)
        if cfg.image_size is not None:
            dataset = resize_dataset(dataset, cfg.image_size, progress=progress)
        origin = _origin(spec, obtained)
        meta["checksums"] = {f.name: f"{f.algorithm}:{f.digest}" for f in spec.files}
    path = dataset_path(cfg)
    save_dataset(dataset, path, meta)
    print(_summary(dataset, origin, path))
    return path
