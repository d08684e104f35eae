"""The DVC experiments, read straight from git: `git for-each-ref refs/exps` lists them,
and `git cat-file --batch` reads each one's params.yaml and models/NAME/metrics.json.

Why not `dvc exp show`: the report is a stage, and while `dvc repro` runs a stage it holds
the repository's lock, so a `dvc exp show` from inside the stage waits for a lock that is
only released when the stage ends. Git needs no lock, and the refs are where DVC keeps
experiments (refs/exps/<baseline sha[:2]>/<baseline sha[2:]>/<name>, each a commit).

An experiment commit holds a file only if git tracks it. Where models/NAME/metrics.json is
git-ignored, the commit has no scores, and the scores come from MLflow instead: the runs
tagged with the experiment's name (`dvc_experiment`, pipeline.tracking.runs.run_tags).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

GIT_TIMEOUT = 30.0  # seconds per git call
MAX_EXPERIMENTS = 30  # the newest ones; older ones are in `dvc exp show`


@dataclass(frozen=True)
class Experiment:
    name: str
    commit: str
    baseline: str  # the commit it was run from
    created: str  # ISO date of its commit
    changed: tuple[tuple[str, Any, Any], ...] = ()  # (key, workspace value, its value)
    scores: dict[str, float] = field(default_factory=dict)  # model -> fid
    source: str = ""  # where the scores come from: "git", "MLflow" or ""


@dataclass(frozen=True)
class Experiments:
    experiments: tuple[Experiment, ...] = ()
    note: str = ""  # why there are none, or how many were left out


def _git(*args: str, stdin: bytes | None = None) -> bytes | None:
    """git's stdout, or None when git is missing, fails or this is not a repository."""
    try:
        result = subprocess.run(
            ["git", *args], input=stdin, capture_output=True, timeout=GIT_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def list_refs() -> list[tuple[str, str, str, str]] | None:
    """(name, commit, baseline, created) of every experiment ref, newest first; None
    outside a git repository."""
    out = _git(
        "for-each-ref",
        "--sort=-creatordate",
        "--format=%(objectname) %(creatordate:iso-strict) %(refname)",
        "refs/exps",
    )
    if out is None:
        return None
    found = []
    for line in out.decode().splitlines():
        commit, created, ref = line.split(" ", 2)
        parts = ref.split("/")
        # refs/exps/ab/cdef.../name; not refs/exps/exec/* nor refs/exps/celery/* (DVC's own)
        if len(parts) == 5 and len(parts[2]) == 2 and len(parts[3]) == 38:
            found.append((parts[4], commit, parts[2] + parts[3], created))
    return found


def read_blobs(specs: list[str]) -> dict[str, bytes | None]:
    """The contents of `<commit>:<path>` specs in one `git cat-file --batch` (None where
    the commit has no such file)."""
    if not specs:
        return {}
    out = _git("cat-file", "--batch", stdin="".join(f"{s}\n" for s in specs).encode())
    if out is None:
        return dict.fromkeys(specs)
    blobs: dict[str, bytes | None] = {}
    at = 0
    for spec in specs:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        at = end + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            blobs[spec] = out[at : at + size]
            at += size + 1  # the contents, then a newline
        else:  # "<spec> missing"
            blobs[spec] = None
    return blobs


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested params as {"train.lr": 0.0002, ...} (lists are values)."""
    if not isinstance(tree, Mapping):
        return {prefix: tree} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return flat


def changed_params(workspace: Mapping, other: Mapping) -> tuple[tuple[str, Any, Any], ...]:
    """(key, workspace value, other value) of every key whose value differs."""
    a, b = flatten(workspace), flatten(other)
    return tuple(
        (k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)
    )


def collect_experiments(params: Mapping, models: list[str]) -> Experiments:
    """Every experiment's changed params (against `params`, the workspace's) and the fid
    of each of `models` its commit holds."""
    refs = list_refs()
    if refs is None:
        return Experiments(note="not a git repository (or git is missing): no experiments")
    if not refs:
        return Experiments(note="no DVC experiment yet (`dvc exp run -S KEY=VALUE` makes one)")
    shown = refs[:MAX_EXPERIMENTS]
    specs = []
    for _, commit, _, _ in shown:
        specs.append(f"{commit}:params.yaml")
        specs += [f"{commit}:models/{m}/metrics.json" for m in models]
    blobs = read_blobs(specs)
    found = []
    for name, commit, baseline, created in shown:
        theirs = _yaml(blobs.get(f"{commit}:params.yaml"))
        scores = {}
        for model in models:
            fid = _json(blobs.get(f"{commit}:models/{model}/metrics.json")).get("fid")
            if isinstance(fid, int | float):
                scores[model] = float(fid)
        found.append(
            Experiment(
                name=name,
                commit=commit,
                baseline=baseline,
                created=created,
                changed=changed_params(params, theirs) if theirs is not None else (),
                scores=scores,
                source="git" if scores else "",
            )
        )
    left = len(refs) - len(shown)
    note = f"the {len(shown)} newest of {len(refs)} experiments" if left else ""
    return Experiments(tuple(found), note)


def _yaml(blob: bytes | None) -> dict | None:
    if blob is None:
        return None
    try:
        loaded = yaml.safe_load(blob)
    except yaml.YAMLError:
        return None
    return loaded if isinstance(loaded, dict) else None


def _json(blob: bytes | None) -> dict:
    if blob is None:
        return {}
    try:
        loaded = json.loads(blob)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}
