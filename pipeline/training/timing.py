"""Where a training run's wall time goes: seconds per part, summed over the run.

The loop and the train stage wrap each kind of work in `timings.part(NAME)`; train.json
keeps the sums as `seconds_by_part` and bench/profile_train.py prints them per family.
Parts do not nest: each second of the run is counted once, in the innermost open part
being the only open one (a part opened inside another is a programming error).

PARTS, in the order tables show them:
    setup       data, evaluator, networks built, a checkpoint read, the MLflow run opened
                with its params and data input (everything before step 1), a phase's growth
    input       waiting for the next batch of the tf.data pipeline, and building each epoch's
    trace       the first step of a process or a phase: tracing the tf.function
    step        the train steps themselves (the step's values read back: it has finished)
    tracking    MLflow during training: metrics every train.log_every steps, FIDs, pictures
    preview     drawing the per-epoch pictures MLflow keeps
    checkpoint  every train.checkpoint_every steps and at each epoch's end
    fid_probe   the in-training FID every train.fid_every epochs
    baseline    sgan's supervised-only baseline (a classifier family's extra model)
    outputs     generator.keras, samples.png, loss curves, CSVs, the generator logged to MLflow
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

PARTS = (
    "setup",
    "input",
    "trace",
    "step",
    "tracking",
    "preview",
    "checkpoint",
    "fid_probe",
    "baseline",
    "outputs",
)


class Timings:
    """Seconds per part of PARTS, and how many times each part ran."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PARTS, 0.0)
        self.counts = dict.fromkeys(PARTS, 0)
        self._open: str | None = None

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        if name not in self.seconds:
            raise ValueError(f"unknown timing part {name!r}; known: {', '.join(PARTS)}")
        if self._open is not None:
            raise RuntimeError(f"timing part {name!r} opened inside {self._open!r}")
        self._open = name
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started
            self.counts[name] += 1
            self._open = None

    def add(self, name: str, seconds: float) -> None:
        """Count `seconds` measured elsewhere (a step timed by the loop) under `name`."""
        if name not in self.seconds:
            raise ValueError(f"unknown timing part {name!r}; known: {', '.join(PARTS)}")
        self.seconds[name] += seconds
        self.counts[name] += 1

    def rounded(self) -> dict[str, float]:
        """train.json's `seconds_by_part`: every part that ran, to 0.01 s."""
        return {name: round(s, 2) for name, s in self.seconds.items() if self.counts[name]}
