"""Phases and schedules: what a family declares, and the trainer runs without knowing it.

A phase (pipeline.gans.phases.Phase) is a stretch of training (`epochs` of the run's step
plan, or a number of `steps`, which may end inside an epoch) that may change the networks
when it begins (`enter(gan)`: ProGAN adds a resolution, a second stage adds a generator)
and may ramp values over its steps (`schedules`: name -> f(progress in [0, 1]); ProGAN's
fade-in alpha). A schedule's value lives in a non-trainable variable `gan.schedule[name]`,
is set before every step, is logged to MLflow and is held in checkpoints; a layer that
follows a schedule (pipeline.gans.blocks.progressive.FadeIn) gets the value in its own
weight too. A family without phases trains
in one phase of train.epochs.

When `enter` changes a network's variables, that network's optimizer starts afresh (new
Adam moments, as ProGAN resets Adam at each new resolution): the trainer rebuilds it.

Resume is exact across phases: the trainer enters every phase up to the checkpoint's step
before restoring the (named) variables, so the networks have the shape they were saved in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.gans.phases import Phase

__all__ = ["Phase", "PhasePlan", "phase_plan"]


@dataclass(frozen=True)
class PhasePlan:
    """The phases of one run, laid over its steps."""

    phases: tuple[Phase, ...]
    steps_per_epoch: int

    @property
    def total_steps(self) -> int:
        return sum(p.length(self.steps_per_epoch) for p in self.phases)

    def bounds(self, index: int) -> tuple[int, int]:
        """[first, end) global steps of phase `index`."""
        first = sum(p.length(self.steps_per_epoch) for p in self.phases[:index])
        return first, first + self.phases[index].length(self.steps_per_epoch)

    def index_at(self, step: int) -> int:
        """The phase the step after `step` completed steps belongs to."""
        for index in range(len(self.phases)):
            if step < self.bounds(index)[1]:
                return index
        return len(self.phases) - 1

    def values_at(self, step: int) -> dict[str, float]:
        """Every schedule's value for the step after `step` completed steps; a phase that
        does not ramp a value holds the one an earlier phase ended with (0 before any)."""
        index = self.index_at(step)
        values = dict.fromkeys(self.schedule_names(), 0.0)
        for earlier in self.phases[:index]:
            values |= {name: float(f(1.0)) for name, f in earlier.schedules.items()}
        first, end = self.bounds(index)
        progress = min(1.0, (step - first) / max(1, end - first))
        values |= {name: float(f(progress)) for name, f in self.phases[index].schedules.items()}
        return values

    def schedule_names(self) -> tuple[str, ...]:
        return tuple(sorted({n for p in self.phases for n in p.schedules}))


def phase_plan(family, run, steps_per_epoch: int, image_shape) -> PhasePlan:
    """The family's phases for images of `image_shape`, or one phase of train.epochs.

    When the train section caps its epochs (train.steps_per_epoch), a phase of fixed steps
    (ProGAN's, SRGAN's, StackGAN's) takes at most that run's whole length, train.epochs x
    train.steps_per_epoch (`run.phase_cap`): so `-S train.steps_per_epoch=5` is a smoke run
    of a few steps for them too (ProGAN: five phases of at most 25). A model's own
    steps_per_epoch (models.<name>.*, as tuning trials and bench/quality_per_minute.py set
    it) caps its epochs only."""
    phases = tuple(family.phases(run, tuple(image_shape))) if family.phases else ()
    if not phases:
        phases = (Phase("train", run.train.epochs),)
    cap = run.phase_cap
    if cap is not None:
        phases = tuple(replace(p, steps=min(p.steps, cap)) if p.steps else p for p in phases)
    return PhasePlan(phases, steps_per_epoch)
