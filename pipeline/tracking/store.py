"""The MLflow store under many processes and failures: created once, waited for within
a bound, and a failure told in one line.

Several processes share the store (`dvc queue start -j 2` runs two trainings at once), and
a store can fail (a server down, a lock held for long). Hence:
- a new SQLite store is created by one process at a time, under a file lock, in a temp file
  renamed into place: MLflow's own creation races (two processes both migrate the schema,
  and one fails or leaves the database half-migrated), and a kill mid-migration would leave
  a broken store under the final name;
- every store call waits at most GAN_ZOO_TRACKING_TIMEOUT seconds (default 120) for a lock
  or an unreachable server, then fails with one line naming the fix (`StoreUnavailable`,
  exit 7), not an MLflow traceback after minutes of MLflow's own retries.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pipeline.errors import ConfigError, PipelineError, TrackingError

if TYPE_CHECKING:
    from mlflow import MlflowClient

TRACKING_ENV = "MLFLOW_TRACKING_URI"
TIMEOUT_ENV = "GAN_ZOO_TRACKING_TIMEOUT"
DEFAULT_TIMEOUT = 120.0  # seconds a store call may wait for a lock or a server
T = TypeVar("T")


def artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite store sit beside it (mlruns/artifacts); servers choose their own."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
    return None


# --- a store that is slow, locked or gone: bounded waits, one line -------------------------


AGAIN = "{again}"  # where a fix says how to go on: "then run again" unless told otherwise


class StoreUnavailable(TrackingError):
    """A store call failed for a reason outside the pipeline: one line, `cause; fix`."""

    def __init__(self, cause: str, fix: str, again: str = "then run again"):
        super().__init__(f"{cause}; {fix.replace(AGAIN, again)}")
        self.cause, self.fix = cause, fix

    def after(self, done: str, again: str) -> StoreUnavailable:
        """The same failure told after `done`, with `again` as the way to go on (train's
        outputs are written, and running it again only logs)."""
        return StoreUnavailable(f"{done}: {self.cause}", self.fix, again)


def tracking_timeout() -> float:
    """GAN_ZOO_TRACKING_TIMEOUT: seconds a store call may wait (a lock, a server)."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{TIMEOUT_ENV} must be a number of seconds > 0, got {raw!r}")
    return seconds


def call_store(call: Callable[[], T], uri: str, timeout: float) -> T:
    """`call()`, retried while the store is locked or unreachable, for up to `timeout`
    seconds; a store failure becomes StoreUnavailable. Any other error is a bug and
    keeps its traceback."""
    started = time.monotonic()
    delay = 0.1
    while True:
        try:
            return call()
        except StoreUnavailable:
            raise
        except Exception as error:
            problem = diagnose(error)
            if problem is None:
                raise
            waited = time.monotonic() - started
            if not problem.transient or waited + delay > timeout:
                raise problem.unavailable(uri, timeout) from error
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


@dataclass(frozen=True)
class _Problem:
    kind: str  # locked | unreachable | schema | artifacts | store
    detail: str  # the underlying error, one short line

    @property
    def transient(self) -> bool:
        return self.kind in ("locked", "unreachable")

    def unavailable(self, uri: str, timeout: float) -> StoreUnavailable:
        store, again = _shown(uri), AGAIN
        if self.kind == "locked":
            return StoreUnavailable(
                f"the MLflow store {store} stayed locked by another process for {timeout:g} s",
                f"let that process finish (or stop it), {again}; {TIMEOUT_ENV}=SECONDS waits "
                "longer",
            )
        if self.kind == "unreachable":
            return StoreUnavailable(
                f"cannot reach the MLflow server {store} ({self.detail})",
                f"start it (or unset {TRACKING_ENV} to log to the repository's "
                f"mlruns/mlflow.db), {again}",
            )
        if self.kind == "schema":
            return StoreUnavailable(
                f"the MLflow store {store} has an older schema than MLflow "
                f"{_mlflow_version()} reads",
                f"back it up and upgrade it (`mlflow db upgrade {uri}`), {again}",
            )
        if self.kind == "artifacts":
            return StoreUnavailable(
                f"cannot write the MLflow artifacts of {store} ({self.detail})",
                f"free disk space or fix the folder's permissions, {again}",
            )
        elsewhere = f"point {TRACKING_ENV} at a writable sqlite:////path/mlflow.db, {again}"
        if uri.startswith("sqlite:///") and self.about_the_folder:
            fix = f"make {Path(store).parent} a writable folder or {elsewhere}"
        else:  # a damaged database, a server's own failure
            fix = f"restore the store from a backup or {elsewhere}"
        return StoreUnavailable(f"cannot use the MLflow store {store} ({self.detail})", fix)

    @property
    def about_the_folder(self) -> bool:
        """Whether SQLite could not open or write the file (a folder or permission problem)."""
        signs = ("unable to open", "readonly", "read-only", "permission", "directory", "no such")
        return any(sign in self.detail.lower() for sign in signs)


_LOCKED = ("database is locked", "database table is locked")
_UNREACHABLE = (
    "Connection refused",
    "Failed to establish a new connection",
    "Max retries exceeded",
    "Name or service not known",
    "NameResolutionError",
    "Read timed out",
    "Connection aborted",
)


def diagnose(error: BaseException) -> _Problem | None:
    """What is wrong with the store, from an error MLflow (or SQLite, or requests) raised;
    None when the error is not about the store (a bug: it keeps its traceback), or is one
    of the pipeline's own (already one line)."""
    if isinstance(error, PipelineError):
        return None
    chain = _chain(error)
    text = " | ".join(str(e) for e in chain)
    if any(sign in text for sign in _LOCKED):
        return _Problem("locked", "database is locked")
    if any(sign in text for sign in _UNREACHABLE):
        found = re.search(r"\[Errno -?\d+\] [^'\")\]]+", text)
        return _Problem("unreachable", found.group(0).strip() if found else "no answer")
    if "out-of-date database schema" in text:
        return _Problem("schema", "")
    for link in chain:
        if isinstance(link, sqlite3.Error) or type(link).__name__ == "OperationalError":
            return _Problem("store", _first_line(getattr(link, "orig", None) or link))
    for link in chain:
        if type(link).__module__.startswith(("requests", "urllib3")):  # before OSError: a
            return _Problem("unreachable", _first_line(link))  # RequestException is one
    for link in chain:
        if isinstance(link, OSError):
            detail = link.strerror or type(link).__name__
            where = f": {link.filename}" if link.filename else ""
            return _Problem("artifacts", f"{detail}{where}")
    return None


def _chain(error: BaseException) -> list[BaseException]:
    """`error` and what caused it (an explicit cause, or the error being handled when it
    was raised, unless `from None` hid that)."""
    seen: list[BaseException] = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return seen


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:200]


def _shown(uri: str) -> str:
    """The store as a user knows it: the database path, or the server's URL."""
    return uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else uri


def _mlflow_version() -> str:
    import mlflow

    return mlflow.__version__


# --- opening a store ---------------------------------------------------------------------


def open_client(uri: str, timeout: float | None = None) -> MlflowClient:
    """An MlflowClient on a store that is there: a new SQLite store created once, a server
    that answers. Store failures are StoreUnavailable, after at most `timeout` seconds."""
    from mlflow import MlflowClient

    timeout = tracking_timeout() if timeout is None else timeout
    _bound_waits(uri, timeout)
    if uri.startswith("sqlite:///"):
        create_sqlite_store(Path(uri.removeprefix("sqlite:///")), timeout)
    elif uri.startswith(("http://", "https://")):
        check_server(uri, timeout)
    return MlflowClient(uri)


def create_sqlite_store(db: Path, timeout: float) -> None:
    """Create the SQLite store `db` unless it exists: schema and default experiment in a temp
    file beside it, renamed into place, under an flock on `<db>.lock`.

    MLflow creates a missing database in place without a lock
    (mlflow/store/tracking/sqlalchemy_store.py, SqlAlchemyStore.__init__: `_all_tables_exist`,
    then `_initialize_tables`), so two processes starting on a new store both run the
    migrations and one fails ("table ... already exists", "duplicate column"), sometimes
    leaving the database half-migrated for good. The file lock lets one process create it;
    the rename means a store under the final name is always a complete one."""
    if db.exists():
        return
    uri = f"sqlite:///{db}"
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(db.with_name(db.name + ".lock"), uri, timeout):
            if db.exists():  # created while this process waited for the lock
                return
            for stale in db.parent.glob(f".{db.name}.*.tmp*"):  # left by a killed creator
                stale.unlink(missing_ok=True)
            temp = db.with_name(f".{db.name}.{os.getpid()}.tmp")
            try:
                call_store(lambda: _initialise(temp, artifact_location(uri)), uri, timeout)
                os.replace(temp, db)
            finally:
                temp.unlink(missing_ok=True)
    except OSError as error:
        raise _Problem("store", f"{error.strerror or type(error).__name__}").unavailable(
            uri, 0
        ) from error


def _initialise(db: Path, artifact_root: str | None) -> None:
    """MLflow's tables, migrations and Default experiment, in the (new) database `db`."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{db}", artifact_root)
    store.engine.dispose()  # no pooled connection keeps the file open under its temp name


@contextmanager
def _exclusive(lock_file: Path, uri: str, timeout: float) -> Iterator[None]:
    """An flock on `lock_file`, waited for up to `timeout` seconds. The kernel drops it when
    its holder dies, so a killed process never blocks the next."""
    deadline = time.monotonic() + timeout
    with open(lock_file, "a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise _Problem("locked", "").unavailable(uri, timeout) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def check_server(uri: str, timeout: float) -> None:
    """An MLflow server's /health answers within `timeout` seconds; otherwise
    StoreUnavailable, before anything is trained."""
    import requests

    def probe() -> None:
        requests.get(f"{uri.rstrip('/')}/health", timeout=max(1.0, min(timeout, 10.0)))

    call_store(probe, uri, timeout)


# How long MLflow itself may wait. Its SQLite sessions set `PRAGMA busy_timeout = 20000`
# (mlflow/store/db/utils.py, _get_managed_session_maker) and connect through sqlite3's 5 s
# default elsewhere (creating the store); its HTTP client retries 7 times with backoff
# factor 2 (environment_variables.py: MLFLOW_HTTP_REQUEST_MAX_RETRIES), about 4 minutes.
# Neither is a setting of MlflowClient, so the SQLite waits are set where SQLAlchemy runs
# the statements, and the HTTP retries through MLflow's environment variables (unless set).
_busy_timeout_ms = int(DEFAULT_TIMEOUT * 1000)
_listening = False


def _bound_waits(uri: str, timeout: float) -> None:
    global _busy_timeout_ms, _listening
    _busy_timeout_ms = max(1, int(timeout * 1000))
    if not _listening:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool

        event.listen(Engine, "before_cursor_execute", _our_busy_timeout, retval=True)
        event.listen(Pool, "connect", _busy_timeout_on_connect)
        _listening = True
    if uri.startswith(("http://", "https://")):
        # urllib3 sleeps 0, 2, 4, ... s between retries (factor 1): 2**n - 2 s for n retries
        retries = max(1, int(math.log2(timeout + 2)))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(retries))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    # MLflow logs every failed statement with its traceback, and failed async batches; the
    # error that reaches the user is the one line above (its traceback with --debug).
    for name in ("mlflow.store.db.utils", "mlflow.utils.async_logging.async_logging_queue"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _our_busy_timeout(conn, cursor, statement: str, parameters, context, executemany):
    """MLflow's per-session `PRAGMA busy_timeout = 20000` with our timeout instead."""
    if statement.lstrip().upper().startswith("PRAGMA BUSY_TIMEOUT") and (
        conn.dialect.name == "sqlite"
    ):
        statement = f"PRAGMA busy_timeout = {_busy_timeout_ms};"
    return statement, parameters


def _busy_timeout_on_connect(dbapi_connection, connection_record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute(f"PRAGMA busy_timeout = {_busy_timeout_ms}")
