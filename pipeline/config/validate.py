"""Typed, checked values from params.yaml: a dataclass's fields say the type, and field
metadata (`check(rule, text)`) the range; a wrong value is a ConfigError naming its key."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args, get_origin

from pipeline.errors import ConfigError


def check(rule: Callable[[Any], bool], text: str) -> dict:
    """Field metadata: `rule(value)` must hold, else "<key> must be <text>"."""
    return {"check": (rule, text)}


POSITIVE = check(lambda v: v > 0, "> 0")
AT_LEAST_ONE = check(lambda v: v >= 1, ">= 1")
UNIT_INTERVAL_OPEN = check(lambda v: 0 <= v < 1, "in [0, 1)")
UNIT_INTERVAL = check(lambda v: 0 <= v <= 1, "in [0, 1]")


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Return `value` as type `tp`, or raise ConfigError naming `key`."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(key, value, option)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] + (" or null" if type(None) in options else ""))
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{key} must be {_type_name(tp)}, got {value!r}")
        return value
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        (item_type, _ellipsis) = get_args(tp)
        return tuple(_coerce(f"{key}[{i}]", v, item_type) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key}")


def did_you_mean(name: str, known) -> str:
    """' (did you mean `close`?)' for the known name closest to a typo, or ''."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def check_keys(prefix: str, values: Mapping[str, Any], known, what: str = "") -> None:
    """Every key of `values` is one of `known`, else a ConfigError naming the first
    unknown one, the closest known one and all of them (`what` describes them when the
    plain sorted list would not say enough)."""
    unknown = sorted(str(k) for k in set(values) - set(known))
    if unknown:
        listed = what or ", ".join(sorted(known))
        raise ConfigError(
            f"{prefix}.{unknown[0]} is not a known param{did_you_mean(unknown[0], known)}; "
            f"valid keys: {listed}"
        )


def check_mapping(prefix: str, values: Any) -> dict:
    """`values` (a params section: None for an empty one) as a dict, or a ConfigError."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{prefix} must be a mapping of keys to values, got {values!r}")
    return dict(values)


def build_dataclass(cls: type, values: Mapping[str, Any] | None, prefix: str) -> Any:
    """Instantiate dataclass `cls` from a params mapping, validating every field."""
    values = check_mapping(prefix, values)
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    check_keys(prefix, values, known)
    kwargs = {}
    for name, spec in known.items():
        if name not in values:
            continue
        key = f"{prefix}.{name}"
        value = _coerce(key, values[name], hints[name])
        rule = spec.metadata.get("check")
        if rule is not None and value is not None and not rule[0](value):
            raise ConfigError(f"{key} must be {rule[1]}, got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)
