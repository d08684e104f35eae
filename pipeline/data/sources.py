"""Where a dataset file can come from, and the loop that tries each place in turn.

Order (see DESIGN.md, "Data"): the local cache, each folder of `data.mirrors`, the official
URLs, and for Fashion-MNIST the Debian package. Each copy found is checked against the
published checksum before anything uses it; a copy that fails is never kept (a bad cache
entry is deleted), the failure is logged as one line, and the next place is tried. A good
copy from elsewhere is installed in the cache so the next run finds it first.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import BinaryIO, Protocol

from tqdm import tqdm

from pipeline.data.files import CHUNK, digest_of, install
from pipeline.data.registry import DebianPackage, FileSpec
from pipeline.errors import DataError

log = logging.getLogger(__name__)


class SourceError(Exception):
    """A source cannot provide a file; the message is one line saying why."""


@dataclass(frozen=True)
class Candidate:
    """A copy of a file, not yet verified."""

    path: Path
    name: str  # the name it gets in the cache (keeps .gz when compressed)
    temporary: bool = False  # a download of ours: move it rather than copy, delete if bad


class Source(Protocol):
    label: str

    def candidates(self, file: FileSpec) -> list[Candidate]:
        """Copies of `file` this source holds; raises SourceError when it cannot look."""
        ...


@dataclass(frozen=True)
class FolderSource:
    """A local folder (the cache or a mirror) holding `<name>` and/or `<name>.gz`."""

    folder: Path
    label: str
    is_cache: bool = False

    def candidates(self, file: FileSpec) -> list[Candidate]:
        found = [
            Candidate(self.folder / name, name)
            for name in file.candidate_names()
            if (self.folder / name).is_file()
        ]
        plain = file.name.removesuffix(".gz")
        if not found and plain != file.name and (self.folder / plain).is_file():
            raise SourceError(
                f"has {plain} but the published {file.algorithm} is of {file.name}; "
                f"put {file.name} there instead"
            )
        return found


@dataclass
class Downloader:
    """Downloads into a private folder; remembers unreachable hosts so as not to wait again."""

    workdir: Path
    timeout: float
    progress: bool = True
    dead_hosts: set[str] = field(default_factory=set)

    def get(self, url: str) -> Path:
        """Download `url` to a temporary file, or raise SourceError saying why not."""
        host = urllib.parse.urlsplit(url).netloc
        if host in self.dead_hosts:
            raise SourceError(f"skipped: {host} was unreachable a moment ago")
        fd, name = tempfile.mkstemp(suffix=".part", dir=self.workdir)
        target = Path(name)
        try:
            with open(fd, "wb") as handle:
                self._copy(url, handle)
        except urllib.error.HTTPError as error:
            target.unlink(missing_ok=True)
            raise SourceError(f"HTTP {error.code} {error.reason}") from None
        except (OSError, HTTPException) as error:
            target.unlink(missing_ok=True)
            # No connection or no answer in time: other files on that host would wait too.
            if host and isinstance(error, (urllib.error.URLError, TimeoutError)):
                self.dead_hosts.add(host)
            reason = getattr(error, "reason", None) or error
            raise SourceError(f"download failed: {reason}") from None
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target

    def _copy(self, url: str, handle: BinaryIO) -> None:
        request = urllib.request.Request(url, headers={"User-Agent": "gan-zoo-fetch"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            name = url.rsplit("/", 1)[-1]
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=name,
                disable=not self.progress,
                leave=False,
            ) as bar:
                while block := response.read(CHUNK):
                    handle.write(block)
                    bar.update(len(block))


@dataclass(frozen=True)
class UrlSource:
    """One official URL of one file."""

    url: str
    downloader: Downloader

    @property
    def label(self) -> str:
        return self.url

    def candidates(self, file: FileSpec) -> list[Candidate]:
        path = self.downloader.get(self.url)
        return [Candidate(path, self.url.rsplit("/", 1)[-1], temporary=True)]


@dataclass
class DebianSource:
    """The files inside a Debian package, fetched once with `apt-get download` (no root)."""

    package: DebianPackage
    workdir: Path
    timeout: float
    _folder: Path | None = None
    _error: str | None = None

    @property
    def label(self) -> str:
        return f"Debian package {self.package.package}"

    def candidates(self, file: FileSpec) -> list[Candidate]:
        folder = self._unpacked()
        return FolderSource(folder, self.label).candidates(file)

    def _unpacked(self) -> Path:
        """Download and unpack the package on first use; later files reuse it (or its error)."""
        if self._error is None and self._folder is None:
            try:
                self._folder = self._download_and_unpack()
            except SourceError as error:
                self._error = str(error)
        if self._error is not None:
            raise SourceError(self._error)
        assert self._folder is not None
        return self._folder

    def _download_and_unpack(self) -> Path:
        for tool in ("apt-get", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise SourceError(f"{tool} not found (not a Debian/Ubuntu system)")
        where = Path(tempfile.mkdtemp(prefix="deb-", dir=self.workdir))
        self._run(["apt-get", "download", self.package.package], where)
        debs = sorted(where.glob(f"{self.package.package}_*.deb"))
        if not debs:
            raise SourceError("apt-get download reported success but left no .deb file")
        self._run(["dpkg-deb", "-x", str(debs[-1]), "root"], where)
        return where / "root" / self.package.folder

    def _run(self, command: list[str], cwd: Path) -> None:
        log.info("running %s", " ".join(command))
        try:
            done = subprocess.run(
                command,
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=max(120.0, 20 * self.timeout),
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise SourceError(f"{command[0]} failed: {error}") from None
        if done.returncode != 0:
            lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
            reason = lines[-1] if lines else f"exit code {done.returncode}"
            hint = " (run `sudo apt-get update` first)" if "Unable to locate" in reason else ""
            raise SourceError(f"`{' '.join(command)}` failed: {reason}{hint}")


@dataclass(frozen=True)
class Obtained:
    """A verified file and where it came from."""

    path: Path
    source: str


def checksum_problem(path: Path, file: FileSpec) -> str | None:
    """None when `path` matches the published checksum, else one line saying what is wrong."""
    try:
        actual = digest_of(path, file.algorithm, decompress=file.checksum_of == "content")
    except ValueError as error:
        return f"checksum failed: {error}"
    except OSError as error:
        return f"unreadable: {error.strerror or error}"
    if actual != file.digest:
        what = "content " if file.checksum_of == "content" else ""
        return (
            f"{what}{file.algorithm} checksum mismatch "
            f"(expected {file.digest[:12]}..., got {actual[:12]}...)"
        )
    return None


def _is_cache(source: Source) -> bool:
    return isinstance(source, FolderSource) and source.is_cache


def _discard(candidate: Candidate, source: Source) -> None:
    """A copy that failed verification must not be found again as if it were good."""
    if candidate.temporary or _is_cache(source):
        try:
            candidate.path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("could not delete bad file %s: %s", candidate.path, error)


def _keep(candidate: Candidate, source: Source, cache: Path) -> Path:
    """Install a verified copy in the cache; if the cache is not writable, use it in place."""
    if _is_cache(source):
        return candidate.path
    dest = cache / candidate.name
    try:
        cache.mkdir(parents=True, exist_ok=True)
        install(candidate.path, dest, move=candidate.temporary)
    except OSError as error:
        log.warning(
            "could not cache %s in %s (%s); using it where it is", candidate.name, cache, error
        )
        return candidate.path
    return dest


def obtain(file: FileSpec, sources: list[Source], cache: Path, hint: str) -> Obtained:
    """The first copy of `file` that verifies, from the first source that has one.

    Raises DataError naming the file and every place tried when none does; `hint` is the
    fix to suggest.
    """
    tried: list[str] = []
    for source in sources:
        try:
            candidates = source.candidates(file)
        except SourceError as error:
            reason = (str(error).splitlines() or ["failed"])[0]
            tried.append(f"{source.label}: {reason}")
            log.warning("%s: %s: %s", file.name, source.label, reason)
            continue
        if not candidates:
            tried.append(f"{source.label}: not found")
            log.info("%s: not in %s", file.name, source.label)
            continue
        for candidate in candidates:
            problem = checksum_problem(candidate.path, file)
            if problem is None:
                return Obtained(_keep(candidate, source, cache), source.label)
            place = source.label if candidate.temporary else f"{source.label}/{candidate.name}"
            tried.append(f"{place}: {problem}")
            log.warning("rejected %s: %s", place, problem)
            _discard(candidate, source)
    raise DataError(f"could not obtain a valid {file.name}; tried {'; '.join(tried)}. {hint}")
