"""docs/params.md's key table says what params.yaml holds.

Every row whose default cell gives one backticked value per key is checked against the
value each GAN actually trains or scores with (params.yaml resolved through the config
layer: a family's own default where params.yaml leaves a key out, a model's train.*
override where it has one). A parenthesis naming GANs in a default cell lists their
overrides, `(`progan`: `16`)` or `(`cgan`, `sgan`: `0.5`, `1`)`, and is checked too. Rows
the parser cannot read as values (`Debian's folder`, `see [pix2pix]`) are skipped, and
the test asserts that most rows were read, so the table cannot drift out of the check.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

from pipeline import config
from pipeline.gans import families

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "params.md"
TICKED = re.compile(r"`([^`]*)`")
PARSERS = {
    "data": config.parse_data,
    "edges": config.parse_edges,
    "lowres": config.parse_lowres,
    "evaluator": config.parse_evaluator,
    "evaluate": config.parse_evaluate,
    "tune": config.parse_tune,
}


def _cells(line: str) -> list[str]:
    """A markdown table row's cells (an escaped \\| stays inside its cell)."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _keys(cell: str) -> list[str]:
    """`a.b.c`, `.d` -> [a.b.c, a.b.d]; a key after the first may be full or `.suffix`."""
    names = TICKED.findall(cell)
    prefix = names[0].rsplit(".", 1)[0]
    return [names[0], *(prefix + n if n.startswith(".") else n for n in names[1:])]


def _top_level(cell: str) -> list[str]:
    """Split at commas outside parentheses and backticks."""
    parts, depth, ticked, start = [], 0, False, 0
    for i, char in enumerate(cell):
        if char == "`":
            ticked = not ticked
        elif not ticked and char in "()":
            depth += 1 if char == "(" else -1
        elif not ticked and depth == 0 and char == ",":
            parts.append(cell[start:i].strip())
            start = i + 1
    return [*parts, cell[start:].strip()]


def _overrides(text: str, gans: set[str]) -> list[tuple[list[str], list[str]]]:
    """`(`a`: `1`, `b`, `c`: `2`)` -> [([a], [1]), ([b, c], [2])]: runs of GAN names, each
    ended by a colon and followed by its values, up to the next GAN name or semicolon.
    Backticked text before any GAN name (a former default, `5000`, `3000` until ...) is
    history, not an override."""
    groups: list[tuple[list[str], list[str]]] = []
    for piece in text.split(";"):
        names: list[str] = []
        values: list[str] | None = None  # the open group's, once its colon is passed
        for match in re.finditer(r"`([^`]*)`(:?)", piece):
            token, colon = match.groups()
            if token in gans:
                names.append(token)
                values = None
                if colon:
                    values = []
                    groups.append((names, values))
                    names = []
            elif values is not None:
                values.append(token)
    return groups


def _value(text: str):
    """A backticked default as a Python value, numbers as floats (YAML 1.1 reads 1e-5 as a
    string)."""
    value = yaml.safe_load(text)
    if isinstance(value, list):
        return [_value(str(v)) for v in value]
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def _same(documented, actual) -> bool:
    if isinstance(actual, dict):  # train.models: the names
        actual = list(actual)
    if isinstance(actual, tuple):
        actual = list(actual)
    if isinstance(actual, list):
        return (
            isinstance(documented, list)
            and len(documented) == len(actual)
            and all(_same(d, a) for d, a in zip(documented, actual, strict=True))
        )
    if isinstance(documented, float) and isinstance(actual, (int, float)):
        return not isinstance(actual, bool) and math.isclose(documented, actual)
    return documented == actual


@pytest.fixture(scope="module")
def params() -> dict:
    return config.load_params(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def actual(params):
    runs: dict = {}

    def lookup(key: str, gan: str | None = None):
        section, _, rest = key.partition(".")
        if section == "models":
            gan, _, name = rest.partition(".")
            run = runs.setdefault(gan, families.resolve_run(params, gan))
            return run.flat_params()[f"models.{gan}.{name}"]
        if section == "train":
            if key == "train.models":
                return params["train"]["models"]
            if gan is None:
                return getattr(config.parse_train(params), rest)
            run = runs.setdefault(gan, families.resolve_run(params, gan))
            return getattr(run.train, rest)
        assert gan is None, f"{key}: a per-GAN override of a key outside train.*"
        return getattr(PARSERS[section](params), rest)

    return lookup


def _rows() -> list[tuple[int, list[str], str]]:
    rows = []
    for number, line in enumerate(DOC.read_text().splitlines(), 1):
        cells = _cells(line) if line.startswith("| `") else []
        if len(cells) == 3 and "*" not in cells[0] and "<" not in cells[0]:
            rows.append((number, _keys(cells[0]), cells[1]))
    return rows


def _check(number: int, key: str, text: str, value, wrong: list[str], gan: str = "") -> None:
    if not _same(_value(text), value):
        where = f"{key} for {gan}" if gan else key
        wrong.append(f"docs/params.md:{number}: {where} is {value!r}, not {text}")


def test_every_documented_default_is_what_params_yaml_gives(params, actual):
    gans = set(params["train"]["models"])
    wrong, read = [], 0
    for number, keys, cell in _rows():
        segments = _top_level(cell)
        mains = [TICKED.match(segment) for segment in segments]
        if not all(mains):
            continue  # prose, not values
        read += 1
        if len(keys) == 1 and len(segments) > 1:  # a list default: `a`, `b`, `c`
            documented = "[" + ", ".join(m.group(1) for m in mains) + "]"
            _check(number, keys[0], documented, actual(keys[0]), wrong)
            continue
        assert len(segments) == len(keys), f"docs/params.md:{number}: a value per key"
        for key, segment, main in zip(keys, segments, mains, strict=True):
            _check(number, key, main.group(1), actual(key), wrong)
            for names, values in _overrides(segment[main.end() :], gans):
                # a GAN's values for every key of the row, or for this segment's key
                targets = keys if len(values) == len(keys) > 1 else [key]
                for gan in names:
                    for target, text in zip(targets, values, strict=False):
                        if target.startswith("models."):  # models.dcgan.x -> models.cgan.x
                            per_gan = ".".join(["models", gan, target.split(".", 2)[2]])
                            _check(number, per_gan, text, actual(per_gan), wrong)
                        else:
                            _check(number, target, text, actual(target, gan), wrong, gan)
    assert not wrong, "\n".join(wrong)
    assert read >= 50, f"only {read} rows of docs/params.md were read: has its format changed?"
