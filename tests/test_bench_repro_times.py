"""bench/repro_times.py: stage times from DVC's own output, grouped as the README's table."""

from __future__ import annotations

import json
import os
import stat

from tests.helpers import load_bench


def test_each_stage_runs_until_the_next_one_starts():
    times = load_bench("repro_times")
    events = [(0.0, "fetch", False), (1.0, "train@gan", True), (4.0, "evaluate@gan", True)]
    events += [(6.5, "report-inputs@gan", True), (7.0, "report", True), (7.5, "lowres", True)]
    records = times.stage_seconds(events, end=8.0)
    assert [(r["stage"], r["ran"], r["seconds"]) for r in records] == [
        ("fetch", False, 1.0),
        ("train@gan", True, 3.0),
        ("evaluate@gan", True, 2.5),
        ("report-inputs@gan", True, 0.5),
        ("report", True, 0.5),
        ("lowres", True, 0.5),
    ]
    # an unchanged stage counts in no group; the total is the whole command's
    assert times.summary(records, 8.5) == {
        "total_seconds": 8.5,
        "groups": {"train": 3.0, "evaluate": 2.5, "report": 1.0, "prep": 0.5},
    }


def test_dvc_lines_are_read_as_ran_or_skipped(tmp_path, monkeypatch):
    """A fake `dvc` prints what DVC 3 prints; the exit code passes through and the record
    lands in --out (appended to what is there)."""
    times = load_bench("repro_times")
    fake = tmp_path / "dvc"
    fake.write_text(
        "#!/bin/sh\n"
        "echo \"Stage 'fetch' didn't change, skipping\"\n"
        "echo \"Running stage 'evaluator':\"\n"
        "echo '> python -m pipeline evaluator'\n"
        "echo \"Running stage 'train@dcgan':\"\n"
        "exit 3\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "times.json"
    out.write_text("[]\n")

    assert times.main(["--out", str(out), "--", "train@dcgan"]) == 3

    (record,) = json.loads(out.read_text())
    assert record["command"] == "dvc repro train@dcgan" and record["exit_code"] == 3
    assert [(r["stage"], r["ran"]) for r in record["stages"]] == [
        ("fetch", False),
        ("evaluator", True),
        ("train@dcgan", True),
    ]
    assert set(record["groups"]) == {"prep", "train"}
