"""Wall time of a params error: how long `python -m pipeline` takes to say what is wrong.

The CLI checks all of params.yaml before it imports a stage (and so TensorFlow): a
misspelt section, model or key, a wrong type or a YAML syntax error is one line on stderr
and exit 2. This bench writes one broken copy of params.yaml per case into a temp folder,
runs `python -m pipeline --params <copy> train --model dcgan` `--rounds` times for each,
checks that it exits 2 with one `error:` line, and prints the median, min and max wall
seconds; then, for scale, the same for `python -c "import tensorflow"`, the cost every
command paid before its first params check when the check came after the import.

    .venv/bin/python bench/params_errors.py [--rounds 5]

The goal (issue "Nothing lost, nothing silently ignored"): under a second on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (case, edit of params.yaml's text)
CASES = (
    ("misspelt section", lambda text: text.replace("\ntrain:", "\ntrian:", 1)),
    ("misspelt model block", lambda text: text + "  dgan:\n    epochs: 1\n"),
    ("misspelt train key", lambda text: text.replace("\n  lr: ", "\n  lrr: ", 1)),
    ("wrong type", lambda text: text.replace("\n  lr: 0.0002", "\n  lr: abc", 1)),
    ("YAML syntax", lambda text: text.replace("\n  lr: 0.0002", "\n  lr: [0.0002", 1)),
)


def timed(command: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - started, done


def summary(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):.2f} s (min {min(seconds):.2f}, max {max(seconds):.2f})"


def cpu_flags() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = sorted({w for w in text.split() if w.startswith("avx512")})
    return " ".join(flags) or "none (AVX2 or older)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs per case")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    print(f"AVX-512 flags: {cpu_flags()}", flush=True)
    text = (ROOT / "params.yaml").read_text()
    with tempfile.TemporaryDirectory(prefix="params-errors-") as folder:
        for case, edit in CASES:
            broken = Path(folder) / "params.yaml"
            broken.write_text(edit(text))
            command = [sys.executable, "-m", "pipeline", "--params", str(broken)]
            command += ["train", "--model", "dcgan"]
            seconds = []
            for _ in range(args.rounds):
                wall, done = timed(command, ROOT)
                lines = done.stderr.splitlines()
                if done.returncode != 2 or len(lines) != 1 or not lines[0].startswith("error:"):
                    sys.exit(f"{case}: expected exit 2 and one error line, got {done!r}")
                seconds.append(wall)
            print(f"{case:22s} {summary(seconds)}  {lines[0]}", flush=True)
    seconds = [timed([sys.executable, "-c", "import tensorflow"], ROOT)[0] for _ in range(3)]
    print(f"{'import tensorflow':22s} {summary(seconds)}  (for scale)", flush=True)


if __name__ == "__main__":
    main()
