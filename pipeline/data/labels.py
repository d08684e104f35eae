"""Class labels for the label-aware GANs (cgan, sgan, catgan): which ones training sees.

A family says what it needs with a `LabelPlan` (its `label_plan(run)`):
    every label           cgan: each real image comes with its class
    a labelled subset     sgan, catgan semi-supervised: `per_class` images of each class
                          keep their label, the rest are hidden (-1); `per_batch` of each
                          minibatch's slots are filled from that subset, so the few labels
                          reach every step (100 labels in 60000 images would otherwise turn
                          up once in five minibatches)
    no label              catgan unsupervised: every label hidden
The subset is drawn with train.seed, balanced per class, so the same params give the same
subset; its indices are logged to MLflow (`labelled_subset.json`) so a run can be repeated
or checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.errors import ConfigError, DataError

HIDDEN = -1  # the label of an image whose class training must not see


@dataclass(frozen=True)
class LabelPlan:
    """What a family's training sees of the labels."""

    per_class: int | None  # labelled images per class; None: all of them; 0: none
    per_batch: int = 0  # minibatch slots filled from the labelled subset


@dataclass(frozen=True, eq=False)
class TrainingLabels:
    """The labels one training run sees."""

    labels: np.ndarray  # int32 [N], each training image's class, HIDDEN where not seen
    labelled: np.ndarray  # int64 [L], sorted indices of the images whose label is seen
    class_names: tuple[str, ...]
    per_batch: int = 0  # slots of each minibatch drawn from `labelled`

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def labelled_subset(labels: np.ndarray, per_class: int, num_classes: int, seed: int) -> np.ndarray:
    """`per_class` indices of each class, drawn with `seed`: sorted int64 [per_class * K]."""
    rng = np.random.default_rng([seed, 0x1ABE1])
    chosen = []
    for label in range(num_classes):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            raise DataError(
                f"class {label} has {len(members)} training images, fewer than the "
                f"{per_class} labels per class asked for; lower labels_per_class"
            )
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64) if chosen else np.zeros(0, np.int64)


def training_labels(
    plan: LabelPlan, labels: np.ndarray, class_names: tuple[str, ...], seed: int, model: str
) -> TrainingLabels:
    """The labels a family with `plan` trains on, from the dataset's `labels` [N]."""
    needs_labels = plan.per_class is None or plan.per_class > 0
    if not class_names or (needs_labels and (labels < 0).any()):
        raise DataError(
            f"{model} needs class labels (or at least the class count), but the dataset has "
            "none; use a labelled "
            "dataset (fashion_mnist, mnist, cifar10, or a folder of one sub-folder per class)"
        )
    if plan.per_class is None:
        return TrainingLabels(
            labels.astype(np.int32), np.arange(len(labels), dtype=np.int64), class_names
        )
    labelled = labelled_subset(labels, plan.per_class, len(class_names), seed)
    seen = np.full(len(labels), HIDDEN, dtype=np.int32)
    seen[labelled] = labels[labelled]
    return TrainingLabels(seen, labelled, class_names, plan.per_batch if len(labelled) else 0)


def _plain(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def class_index(label: str, class_names: tuple[str, ...]) -> int:
    """A class given by index or name, e.g. `7`, `sneaker`, `ankle-boot` or `t-shirt`: case,
    spaces and punctuation do not matter, and a unique prefix of a name is enough."""
    if not class_names:
        raise ConfigError("--label needs a labelled dataset; this one has no classes")
    text = label.strip()
    if text.isdigit() and int(text) < len(class_names):
        return int(text)
    plain = [_plain(name) for name in class_names]
    wanted = _plain(text)
    if wanted in plain:
        return plain.index(wanted)
    starts = [i for i, name in enumerate(plain) if wanted and name.startswith(wanted)]
    if len(starts) == 1:
        return starts[0]
    choices = ", ".join(f"{i}={name}" for i, name in enumerate(class_names))
    raise ConfigError(f"--label {label!r} is not one class; valid: {choices}")
