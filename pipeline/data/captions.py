"""Captions for text-to-image generation (stackgan): the hand-written phrasings of
pipeline/data/captions.yaml, their words and the token ids a generator reads.

    captions = load_captions("fashion_mnist")   # its own block; another dataset: the
                                                 # `default` templates with its class names
    captions.encode("a pair of sneakers")       # [3, 41, 27, 35]: token ids, 0 is padding
    captions.encode("a pair of sneekers")       # ConfigError naming the nearest words
    captions.tokens                              # int32 [P, L]: every phrasing, padded
    captions.caption_class                       # int32 [P]: the class of each phrasing

A word is a run of lowercase letters, digits and apostrophes (`tokenize`); the vocabulary
is every word of the dataset's captions, sorted, with ids 1..V (0 pads a sentence). The
phrasings of all classes are numbered in file order (class 0's first), so phrasing j of
class k is caption `first[k] + j`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from pipeline.errors import ConfigError, DataError

CAPTIONS_FILE = Path(__file__).with_name("captions.yaml")
DEFAULT = "default"  # the templates for a labelled dataset without captions of its own
PADDING = 0  # the token id of no word (a shorter sentence is padded with it)
WORD = re.compile(r"[a-z0-9']+")


def tokenize(sentence: str) -> list[str]:
    """Lowercase words: 'A short-sleeved T-shirt' -> [a, short, sleeved, t, shirt]."""
    return WORD.findall(sentence.lower())


@dataclass(frozen=True, eq=False)
class Captions:
    """One dataset's captions, their vocabulary and the padded token table."""

    dataset: str
    class_names: tuple[str, ...]
    phrasings: tuple[tuple[str, ...], ...]  # per class, its captions

    @property
    def vocabulary(self) -> tuple[str, ...]:
        return _vocabulary(self.phrasings)

    @property
    def num_classes(self) -> int:
        return len(self.phrasings)

    @property
    def counts(self) -> np.ndarray:
        """int32 [K]: how many phrasings each class has."""
        return np.array([len(p) for p in self.phrasings], np.int32)

    @property
    def first(self) -> np.ndarray:
        """int32 [K]: the caption number of each class's first phrasing."""
        return (np.cumsum(self.counts) - self.counts).astype(np.int32)

    @property
    def sentences(self) -> tuple[str, ...]:
        """Every phrasing, class 0's first: caption number -> its text."""
        return tuple(s for phrasings in self.phrasings for s in phrasings)

    @property
    def caption_class(self) -> np.ndarray:
        """int32 [P]: the class of every caption."""
        return np.repeat(np.arange(self.num_classes, dtype=np.int32), self.counts)

    @property
    def tokens(self) -> np.ndarray:
        """int32 [P, L]: every caption's token ids, padded with 0 to the longest (L)."""
        return pad([self.encode(s) for s in self.sentences])

    def word_ids(self) -> dict[str, int]:
        return {word: i for i, word in enumerate(self.vocabulary, start=1)}

    def encode(self, sentence: str, key: str = "--text") -> list[int]:
        """The token ids of `sentence`; an empty sentence or an unknown word is a
        one-line ConfigError (the unknown words with the vocabulary's nearest ones)."""
        words = tokenize(sentence)
        if not words:
            raise ConfigError(
                f"{key} {sentence!r} has no words; give a sentence such as {self.sentences[0]!r}"
            )
        ids = self.word_ids()
        unknown = list(dict.fromkeys(w for w in words if w not in ids))
        if unknown:
            hints = "; ".join(f"{w!r}: {self._nearest(w)}" for w in unknown)
            raise ConfigError(
                f"{key} {sentence!r}: {len(unknown)} unknown word(s) for the {self.dataset} "
                f"captions (nearest known words: {hints}); use words of {CAPTIONS_FILE.name} "
                f"({len(ids)} words), e.g. {self.sentences[0]!r}"
            )
        return [ids[w] for w in words]

    def _nearest(self, word: str) -> str:
        close = difflib.get_close_matches(word, self.vocabulary, n=3, cutoff=0.5)
        return ", ".join(close) if close else "none close"

    def check_classes(self, class_names: tuple[str, ...]) -> None:
        """The dataset's classes must be the captions' (same count, same names in order)."""
        if tuple(class_names) != self.class_names:
            raise DataError(
                f"{CAPTIONS_FILE} captions {self.dataset}'s classes {list(self.class_names)}, "
                f"but the dataset has {list(class_names)}; fix the file's `class` entries"
            )


def pad(sequences: list[list[int]], length: int | None = None) -> np.ndarray:
    """int32 [N, L] of token id lists padded with PADDING (L: the longest, or `length`)."""
    width = max([len(s) for s in sequences] + [length or 0])
    out = np.full((len(sequences), width), PADDING, np.int32)
    for row, ids in enumerate(sequences):
        out[row, : len(ids)] = ids
    return out


@cache
def _vocabulary(phrasings: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    return tuple(sorted({w for group in phrasings for s in group for w in tokenize(s)}))


def has_own_captions(dataset: str, path: Path = CAPTIONS_FILE) -> bool:
    """Whether `path` has a block of captions written for `dataset`."""
    return dataset != DEFAULT and dataset in _read(path)


def load_captions(
    dataset: str, class_names: tuple[str, ...] | None = None, path: Path = CAPTIONS_FILE
) -> Captions:
    """The captions of `dataset` from `path`: its own block when it has one, else its
    `class_names` put into the file's `default` templates ("a {class}", ...). A dataset
    with neither is a one-line ConfigError naming the file to add captions to."""
    entries = _read(path)
    if dataset in entries and dataset != DEFAULT:
        return _written(entries[dataset], dataset, path)
    if not class_names:
        have = ", ".join(sorted(set(entries) - {DEFAULT})) or "none"
        raise ConfigError(
            f"stackgan needs captions for data.dataset {dataset!r}, but {path} has them only "
            f"for: {have} (and the dataset has no class names for its `{DEFAULT}` templates); "
            f"add a block of captions per class for {dataset} there"
        )
    templates = entries.get(DEFAULT)
    if not isinstance(templates, list) or not all(
        isinstance(t, str) and "{class}" in t for t in templates
    ):
        raise DataError(f"{path}: `{DEFAULT}` must list templates holding {{class}}")
    phrasings = tuple(
        tuple(t.replace("{class}", " ".join(tokenize(name)) or name) for t in templates)
        for name in class_names
    )
    return Captions(dataset, tuple(class_names), phrasings)


def _written(classes, dataset: str, path: Path) -> Captions:
    """A dataset's own block: a list of {class: name, captions: [...]}, in label order."""
    if not isinstance(classes, list) or not classes:
        raise DataError(
            f"{path}: {dataset} must list its classes, each with `class` and `captions`"
        )
    names, phrasings = [], []
    for number, entry in enumerate(classes):
        captions = entry.get("captions") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or "class" not in entry or not captions:
            raise DataError(f"{path}: {dataset} class {number} needs `class` and `captions`")
        if not all(isinstance(c, str) and tokenize(c) for c in captions):
            raise DataError(f"{path}: {dataset} class {entry['class']!r} has an empty caption")
        names.append(str(entry["class"]))
        phrasings.append(tuple(captions))
    return Captions(dataset, tuple(names), tuple(phrasings))


@cache
def _read(path: Path) -> dict:
    import yaml

    try:
        entries = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise DataError(f"{path} is unreadable ({error}); restore it from git") from error
    if not isinstance(entries, dict):
        raise DataError(f"{path} must map each dataset name to its classes' captions")
    return entries
