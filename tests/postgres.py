"""A real, throw-away PostgreSQL server for one test.

Optuna runs several workers on one study only through a storage they all reach at once.
SQLite is fine for one worker but locks the whole file on every write, so several
processes fail with "database is locked" or lose trials; a real server is what multi-worker
tuning (`tune.storage`) is meant to run on. This module starts one from the PostgreSQL
server binaries (Debian package `postgresql`, `make postgres`) in a temporary directory,
listening on 127.0.0.1 only, with trust authentication and fsync off (nothing here must
survive a crash), and stops it afterwards, checking that no process of it is left.

postgres refuses to run as root: as root the server runs as the `postgres` system user
(else `nobody`), and its directory lives under /tmp, which that user can reach
(pytest's tmp_path, /tmp/pytest-of-root, is private to root).

Use the `postgres_url` fixture; `start_postgres` / `stop_postgres` are the same for
callers that manage the life-time themselves.
"""

import contextlib
import glob
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.helpers import free_port

INSTALL_HINT = "apt-get install postgresql (or `make postgres` as root)"
SUPERUSER = "postgres"  # the database role; trust auth, so no password
SERVER_USERS = ("postgres", "nobody")  # who runs the server when we are root
START_SECONDS = 30.0
STOP_SECONDS = 20.0


@dataclass
class PostgresServer:
    """A running server: `url` is the SQLAlchemy URL of its database."""

    url: str
    port: int
    root: Path  # temporary directory: data/, the unix socket, postgres.log
    process: subprocess.Popen
    bindir: Path
    user: str | None  # the OS user the server runs as (None: the current user)
    startup_seconds: float
    _popen_user: dict = field(default_factory=dict, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"


def find_bindir() -> Path | None:
    """The directory of initdb, postgres and pg_ctl: the highest /usr/lib/postgresql/*/bin,
    else wherever `postgres` on PATH resolves to; None when there are none."""

    def complete(bindir: Path) -> bool:
        return all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "postgres", "pg_ctl"))

    def major(bindir: str) -> tuple[int, ...]:
        version = Path(bindir).parent.name
        return tuple(int(part) for part in version.split(".") if part.isdigit())

    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True):
        if complete(Path(bindir)):
            return Path(bindir)
    on_path = shutil.which("postgres")
    if on_path and complete(Path(on_path).resolve().parent):
        return Path(on_path).resolve().parent
    return None


def _server_user() -> str | None:
    """None when not root (run as ourselves); else the first of SERVER_USERS that exists."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    pytest.skip(f"running as root and none of the users {SERVER_USERS} exists to run postgres")


def _reachable(directory: Path, uid: int) -> bool:
    """Whether every ancestor of `directory` lets `uid` (not root) through."""
    for parent in [directory, *directory.parents]:
        info = parent.stat()
        if not info.st_mode & (stat.S_IXUSR if info.st_uid == uid else stat.S_IXOTH):
            return False
    return True


def _clean_env() -> dict[str, str]:
    """Our environment without PG* variables (PGHOST, PGDATA... would redirect the tools)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _run(command: list, popen_user: dict, cwd: Path, timeout: float = 60) -> None:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen_user,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{Path(str(command[0])).name} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )


def _wait_ready(bindir: Path, port: int, server: subprocess.Popen, root: Path) -> bool:
    """True once the server accepts connections; False if it exited (e.g. port taken)."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        ready = subprocess.run(
            [bindir / "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "1"],
            env=_clean_env(),
            cwd=root,
        )
        if ready.returncode == 0:
            return True
        time.sleep(0.05)
    raise RuntimeError(f"postgres not ready after {START_SECONDS} s; see {root / 'postgres.log'}")


def start_postgres(database: str = "optuna", attempts: int = 3) -> PostgresServer:
    """initdb a fresh cluster in a new temporary directory, start it on a free port of
    127.0.0.1 and create `database`. Skips the calling test when the binaries are missing."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(
            f"PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): {INSTALL_HINT}"
        )
    user = _server_user()
    popen_user: dict = {}
    base = Path(tempfile.gettempdir())
    if user is not None:
        account = pwd.getpwnam(user)
        popen_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        if not _reachable(base, account.pw_uid):
            base = Path("/tmp")  # world-traversable, unlike a private TMPDIR
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="pytest-postgres-", dir=base))
    try:
        if user is not None:
            os.chown(root, popen_user["user"], popen_user["group"])
        data = root / "data"
        initdb = [bindir / "initdb", "-D", data, "-U", SUPERUSER, "-A", "trust"]
        _run([*initdb, "-E", "UTF8", "--locale=C", "--no-sync"], popen_user, root)
        for _ in range(attempts):
            port = free_port()
            with open(root / "postgres.log", "ab") as log:
                process = subprocess.Popen(
                    [
                        *(str(bindir / "postgres"), "-D", str(data), "-p", str(port)),
                        *("-c", "listen_addresses=127.0.0.1"),
                        *("-c", f"unix_socket_directories={root}"),
                        *("-c", "fsync=off", "-c", "synchronous_commit=off"),
                        *("-c", "full_page_writes=off"),
                    ],
                    cwd=root,
                    env=_clean_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: the backends follow it
                    **popen_user,
                )
            if _wait_ready(bindir, port, process, root):
                break
            process.wait()  # exited: most likely another process took the port; retry
        else:
            raise RuntimeError(f"postgres did not start; see {root / 'postgres.log'}")
        server = PostgresServer(
            url=f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{port}/{database}",
            port=port,
            root=root,
            process=process,
            bindir=bindir,
            user=user,
            startup_seconds=0.0,
            _popen_user=popen_user,
        )
        try:
            createdb = [bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", SUPERUSER]
            _run([*createdb, database], {}, root)
        except BaseException:
            stop_postgres(server)
            raise
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    server.startup_seconds = time.monotonic() - started
    return server


def _processes_of(server: PostgresServer) -> list[psutil.Process]:
    """The postmaster, its children, its process group, anything naming its data dir."""
    found: dict[int, psutil.Process] = {}
    with contextlib.suppress(psutil.NoSuchProcess):
        postmaster = psutil.Process(server.process.pid)
        for process in [postmaster, *postmaster.children(recursive=True)]:
            found[process.pid] = process
    data = str(server.data_dir)
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            in_group = os.getpgid(process.pid) == server.process.pid
            if data in " ".join(process.info["cmdline"] or ()) or (
                in_group and process.name() == "postgres"
            ):
                found[process.pid] = process
    return [p for p in found.values() if p.pid != os.getpid()]


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return alive


def stop_postgres(server: PostgresServer) -> list[psutil.Process]:
    """`pg_ctl stop -m fast`, SIGKILL whatever is left, remove the temporary directory.
    Returns the processes of the server still running afterwards (should be none)."""
    family = _processes_of(server)
    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
        stop = [server.bindir / "pg_ctl", "stop", "-D", server.data_dir, "-m", "fast", "-w"]
        _run([*stop, "-t", int(STOP_SECONDS)], server._popen_user, server.root, STOP_SECONDS + 5)
    try:
        server.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
    left = _alive(family + _processes_of(server))
    for process in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(left, timeout=10)
    shutil.rmtree(server.root, ignore_errors=True)
    return _alive(left)


@contextlib.contextmanager
def running_postgres(database: str = "optuna") -> Iterator[PostgresServer]:
    server = start_postgres(database)
    try:
        yield server
    finally:
        survivors = stop_postgres(server)
    assert not survivors, f"postgres left processes running: {survivors}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh database on a throw-away PostgreSQL server (one per test):
    postgresql+psycopg2://postgres@127.0.0.1:PORT/optuna. Skips without the binaries."""
    with running_postgres() as server:
        yield server.url
