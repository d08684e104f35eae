"""Hide the native (C++) log lines TensorFlow, XLA and CUDA write straight to stderr.

Importing TensorFlow 2.21 on a machine without a GPU prints "Could not find cuda drivers",
oneDNN's notice and absl's "All log messages before absl::InitializeLog()" banner, and
training adds Grappler's "remapper failed" lines. They come from C++ (absl logging), so
neither TF_CPP_MIN_LOG_LEVEL (ignored for these since TF 2.19, tensorflow issue 100442)
nor Python's logging reaches them. `python -m pipeline` therefore points file descriptor
2 at a pipe and copies every line that is not such a log line to the real stderr; Python's
own writes (errors, warnings, tqdm's bars) go to the real stderr directly, unbuffered
by the pipe. `--debug` leaves stderr alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

# absl's format (I0000 00:00:1796140473.546430   13371 port.cc:153] ...), TensorFlow's older
# one (2025-09-17 14:44:05.157831: I external/.../cudart_stub.cc:32] ...) and absl's banner.
NATIVE_LOG_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./-]+:\d+\]"
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] [\w./-]+:\d+\]"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)


def is_native_log(line: bytes) -> bool:
    return NATIVE_LOG_LINE.match(line) is not None


@contextlib.contextmanager
def native_logs_hidden() -> Iterator[None]:
    """Within the block, native log lines written to fd 2 are dropped; everything else
    written there (by C code, or by a child process that inherits it) passes through."""
    sys.stderr.flush()
    real = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    saved_stderr = sys.stderr
    sys.stderr = open(  # noqa: SIM115 (closed below)
        os.dup(real), "w", buffering=1, encoding=saved_stderr.encoding, errors="backslashreplace"
    )

    def pump() -> None:
        with os.fdopen(read, "rb") as pipe:
            for line in pipe:
                if not is_native_log(line):
                    os.write(real, line)

    thread = threading.Thread(target=pump, name="native-log-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # drops the pipe's last write end here: the pump reads to EOF
        thread.join(timeout=5)  # a child still holding the pipe must not hang the exit
        sys.stderr.close()
        sys.stderr = saved_stderr
        os.close(real)
