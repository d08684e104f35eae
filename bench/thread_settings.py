"""TensorFlow's threads and kernels on this machine: images/s of one GAN per setting, interleaved.

Each setting is a set of environment variables TensorFlow reads when it starts
(TF_NUM_INTEROP_THREADS: ops run at once; TF_NUM_INTRAOP_THREADS: threads inside one op,
which oneDNN's primitives share; TF_ENABLE_ONEDNN_OPTS: oneDNN's kernels, 1, or
TensorFlow's Eigen kernels, 0); "-" leaves a thread variable unset (TensorFlow's default:
one per core) and the kernels as params.yaml's train.onednn says. For `--reps`
repetitions it runs bench/train_throughput.py once per setting, in a fresh process each,
in turn, so every setting sees the same machine load; then prints each setting's median
and range over the repetitions. The project sets
TF_NUM_INTEROP_THREADS from train.inter_op_threads (1 by default), TF_ENABLE_ONEDNN_OPTS
from train.onednn (1 by default) and leaves the intra-op pool to TensorFlow.

    .venv/bin/python bench/thread_settings.py --model dcgan [--batch-size 32] [--reps 3] \
        [--steps 20] [--setting 1,- --setting 1,1 --setting 2,- --setting 2,1 --setting 1,-,0]

A setting is INTER,INTRA[,ONEDNN]. Output starts with the CPU and its AVX-512 flags and
ends with one line per setting: `inter=I intra=J onednn=K median M (min A, max B) images/s`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loss_table import cpu_flags, cpu_name

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SETTINGS = ("1,-", "1,1", "2,-", "2,1", "1,-,0")


def parse_setting(setting: str) -> tuple[str, str, str]:
    inter, intra, onednn = [*setting.split(","), "-", "-"][:3]
    return inter, intra, onednn


def environment(setting: str) -> dict[str, str]:
    inter, intra, onednn = parse_setting(setting)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_NUM_", "TF_ENABLE_ONEDNN"))}
    # train_throughput.py sets train.inter_op_threads unless the variable is set; 0 is
    # TensorFlow's own default
    env["TF_NUM_INTEROP_THREADS"] = "0" if inter == "-" else inter
    if intra != "-":
        env["TF_NUM_INTRAOP_THREADS"] = intra
    if onednn != "-":  # otherwise train_throughput.py sets it from train.onednn
        env["TF_ENABLE_ONEDNN_OPTS"] = onednn
    return env | {"TF_CPP_MIN_LOG_LEVEL": "2"}


def one_rate(setting: str, args) -> float:
    command = [
        sys.executable,
        "bench/train_throughput.py",
        "--model",
        args.model,
        "--steps",
        str(args.steps),
        "--rounds",
        "1",
        "--warmup",
        "3",
    ]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    done = subprocess.run(
        command, cwd=REPO, env=environment(setting), capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1].split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, help="default: train_throughput.py's (128)")
    parser.add_argument("--setting", action="append", help="INTER,INTRA[,ONEDNN] ('-': unset)")
    args = parser.parse_args()
    print(f"{cpu_name()}, {os.cpu_count()} logical CPUs; AVX-512 flags: {cpu_flags()}")
    settings = args.setting or list(DEFAULT_SETTINGS)
    rates: dict[str, list[float]] = {s: [] for s in settings}
    for rep in range(1, args.reps + 1):
        for setting in settings:
            rates[setting].append(one_rate(setting, args))
            print(f"rep {rep} {setting}: {rates[setting][-1]:.1f} images/s", flush=True)
    for setting, values in rates.items():
        inter, intra, onednn = parse_setting(setting)
        print(
            f"inter={inter} intra={intra} onednn={onednn} median {statistics.median(values):.1f} "
            f"(min {min(values):.1f}, max {max(values):.1f}) images/s"
        )


if __name__ == "__main__":
    main()
