"""Headless Chromium: the rendered DOM of a page and a screenshot of it.

Used by the report (`python -m pipeline report --screenshot FILE.png`) and by the tests
that check a page as a browser shows it (after its JavaScript ran). No TensorFlow here: it
must import in a second.

Chromium runs as a child in its own process group with a throw-away profile folder
(removed afterwards), `--no-sandbox` (the pipeline often runs as root in containers, where
Chromium refuses to start sandboxed) and `--headless=new`. On a timeout the whole group is
killed: Chromium forks renderer and GPU helpers that would otherwise outlive it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from pipeline.errors import PipelineError

# Names the browser goes by (Debian: chromium; Ubuntu's older package: chromium-browser;
# Google's build: google-chrome), looked up on PATH, then in /usr/bin.
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

_INSTALL = (
    "install it with `apt-get install chromium` (Debian; `chromium-browser` on Ubuntu), "
    "or run `make test` as root, which installs it"
)


class BrowserMissing(PipelineError):
    """No Chromium on this machine: the message says how to install it."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or f"Chromium not found on PATH or in /usr/bin; {_INSTALL}")


class BrowserFailed(PipelineError):
    """Chromium started but did not render the page (crashed, timed out, wrote nothing)."""


def find_chromium() -> str | None:
    """The path of a Chromium-like browser, or None."""
    for name in _NAMES:
        found = shutil.which(name) or shutil.which(name, path="/usr/bin")
        if found:
            return found
    return None


def _flags(profile: str, wait_ms: int) -> list[str]:
    """The flags every run uses: headless, no sandbox (root), a throw-away profile."""
    return [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",  # /dev/shm is tiny in containers
        "--hide-scrollbars",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--mute-audio",
        f"--user-data-dir={profile}",
        # Virtual time: the page's timers and loads run as fast as they can, and Chromium
        # stops after this much page time, so a page with JS is dumped after it ran.
        f"--virtual-time-budget={int(wait_ms)}",
    ]


def _run(extra: list[str], url: str, wait_ms: int, timeout: float) -> subprocess.CompletedProcess:
    """Run Chromium with the common flags plus `extra` on `url` in a fresh profile; kill
    its process group on timeout (and after it exits, for any helper left behind)."""
    exe = find_chromium()
    if exe is None:
        raise BrowserMissing()
    profile = tempfile.mkdtemp(prefix="gan-zoo-chromium-")
    try:
        cmd = [exe, *_flags(profile, wait_ms), *extra, url]
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: a kill reaches its helpers
            env={**os.environ, "HOME": profile},  # caches, crash pads: thrown away too
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise BrowserFailed(
                f"Chromium did not finish rendering {url} within {timeout:g} s; "
                "retry, or raise the timeout"
            ) from None
        finally:
            _kill_group(proc)  # renderer helpers left behind after a normal exit, if any
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # group already gone
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None and not stream.closed:
            stream.close()


def _last_line(stderr: bytes) -> str:
    lines = [ln for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip()[:200] if lines else "no output"


def dump_dom(url: str, *, wait_ms: int = 5000, timeout: float = 120) -> str:
    """The page's DOM as HTML after its scripts ran (`--dump-dom`)."""
    result = _run(["--dump-dom"], url, wait_ms, timeout)
    html = result.stdout.decode("utf-8", errors="replace")
    if result.returncode != 0 or not html.strip():
        raise BrowserFailed(
            f"Chromium could not render {url} (exit {result.returncode}: "
            f"{_last_line(result.stderr)})"
        )
    return html


def screenshot(
    url: str,
    out: Path,
    *,
    width: int = 1280,
    height: int = 2000,
    wait_ms: int = 5000,
    timeout: float = 120,
) -> Path:
    """Save a PNG of the page's first `width` x `height` pixels to `out`; returns `out`.

    Chromium writes to a temporary name next to `out`, renamed when complete, so a failed
    or killed run leaves no half-written PNG under the final name.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part.png", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()  # Chromium must create it: an empty file left there means it did not
        extra = [f"--window-size={int(width)},{int(height)}", f"--screenshot={tmp}"]
        result = _run(extra, url, wait_ms, timeout)
        if result.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            raise BrowserFailed(
                f"Chromium could not take a screenshot of {url} (exit {result.returncode}: "
                f"{_last_line(result.stderr)})"
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
