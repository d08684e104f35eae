"""A phase of training, as a family declares it (pipeline.training.phases runs them).

A family's `phases(run, image_shape)` returns the stretches its training goes through: each
may rebuild the networks when it begins (`enter(gan)`) and ramp values over its steps
(`schedules`); see pipeline.training.phases for how the trainer runs, logs and resumes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Phase:
    name: str
    epochs: int = 0
    enter: Callable | None = None  # gan -> None, called once as the phase begins
    schedules: Mapping[str, Callable[[float], float]] = field(default_factory=dict)
    steps: int = 0  # the phase's length in steps, when set (instead of epochs)

    def length(self, steps_per_epoch: int) -> int:
        return self.steps or self.epochs * steps_per_epoch
