"""The wall time of `dvc repro`, stage by stage, as the quality-per-minute goal counts it.

Runs `dvc repro [TARGETS...]` in this checkout, passes its output through, and notes
the clock each time DVC prints `Running stage 'NAME':` (or `Stage 'NAME' didn't change,
skipping`); a stage's time runs from its line to the next one (the last to the end of
the command), so DVC's own hashing and lock writing count with the stage they follow.
At the end it prints the CPU, its AVX-512 flags, one line per stage and the groups
the README's cost table uses (prep: fetch, evaluator, reference, edges, lowres; train@*;
evaluate@*; report with report-inputs@*), and writes the same as JSON to `--out` (default:
bench/results/repro_times.json, one record appended per call).

    .venv/bin/python bench/repro_times.py [--out FILE] [-- dvc repro arguments]

Run it with nothing else on the machine: the figures are wall-clock seconds. The exit
code is dvc's.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loss_table import cpu_flags, cpu_name

STAGE_LINE = re.compile(r"(?:Running stage|Stage) '([^']+)'")
SKIPPED = ("didn't change", "is cached")  # DVC ran nothing for the stage


def group_of(stage: str) -> str:
    """The README's groups: train@*, evaluate@*, report (with report-inputs@*), the rest prep."""
    head = stage.split("@", 1)[0]
    if head.startswith("report"):
        return "report"
    return head if head in ("train", "evaluate") else "prep"


def stage_seconds(events: list[tuple[float, str, bool]], end: float) -> list[dict]:
    """(clock, stage, ran) events in order -> one record per stage with its seconds."""
    records = []
    for i, (start, stage, ran) in enumerate(events):
        stop = events[i + 1][0] if i + 1 < len(events) else end
        records.append({"stage": stage, "ran": ran, "seconds": round(stop - start, 1)})
    return records


def summary(records: list[dict], total: float) -> dict:
    groups: dict[str, float] = {}
    for record in records:
        if record["ran"]:
            group = group_of(record["stage"])
            groups[group] = round(groups.get(group, 0.0) + record["seconds"], 1)
    return {"total_seconds": round(total, 1), "groups": groups}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/repro_times.json")
    parser.add_argument("dvc_args", nargs="*", help="after --: passed to `dvc repro`")
    args = parser.parse_args(argv)

    command = ["dvc", "repro", *args.dvc_args]
    started = time.monotonic()
    events: list[tuple[float, str, bool]] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        for line in process.stdout:
            sys.stdout.write(line)
            match = STAGE_LINE.search(line)
            if match:
                events.append(
                    (time.monotonic(), match.group(1), not any(mark in line for mark in SKIPPED))
                )
        code = process.wait()
    end = time.monotonic()

    records = stage_seconds(events, end)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu_name(),
        "cpu_flags": cpu_flags(),
        "command": " ".join(command),
        "exit_code": code,
        "stages": records,
        **summary(records, end - started),
    }
    print(f"\n{result['cpu']}; AVX-512: {result['cpu_flags']}; {result['command']} -> {code}")
    for record in records:
        mark = "" if record["ran"] else " (unchanged)"
        print(f"{record['seconds']:9.1f} s  {record['stage']}{mark}")
    for group, seconds in result["groups"].items():
        print(f"{seconds:9.1f} s  = {group} ({seconds / 60:.1f} min)")
    print(f"{result['total_seconds']:9.1f} s  total ({result['total_seconds'] / 60:.1f} min)")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(out.read_text()) if out.is_file() else []
    out.write_text(json.dumps([*history, result], indent=2) + "\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
