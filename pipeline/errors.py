"""Errors a user can act on.

Each carries one line that names the problem and the fix. The CLI prints it and exits
non-zero without a traceback (unless `--debug`); anything else is a bug and keeps its
traceback.
"""


class PipelineError(Exception):
    """Base of every error the CLI reports as a single line."""

    exit_code = 2


class ConfigError(PipelineError):
    """A param in params.yaml (or a CLI option) has the wrong type, range or name."""


class DataError(PipelineError):
    """A dataset is missing, corrupt, or cannot be fetched from any source."""

    exit_code = 3


class TrainingError(PipelineError):
    """Training cannot go on (e.g. the losses diverged)."""

    exit_code = 4


class ReproError(PipelineError):
    """`dvc repro` failed while retraining (its own output says which stage and why)."""

    exit_code = 5


class RetrainBusy(PipelineError):
    """Another `retrain` holds the lock. EX_TEMPFAIL (75): a timer can tell "busy, try
    later" from "failed"."""

    exit_code = 75


class StorageError(PipelineError):
    """An output cannot be written (disk full, read-only, no permission). What was there
    before is kept; nothing is left half-written under a final name."""

    exit_code = 6


class TrackingError(PipelineError):
    """The MLflow store cannot be reached, read or written (server down, database locked
    for too long, a folder without permission)."""

    exit_code = 7
