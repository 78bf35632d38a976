"""Strict construction of frozen dataclasses from plain data (YAML): unknown keys, wrong types and missing
required fields are refused with a :class:`~rlfn.errors.ConfigError` that names the key. Shared by the
training config and the real-world degradation config, so both read YAML by the same rules."""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Callable, Literal, Mapping

from .errors import ConfigError

# a type that needs its own reading (a string shorthand, say): its reader takes (value, key)
Readers = Mapping[Any, Callable[[Any, str], Any]]


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {type_name(typing.get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, key: str, readers: Readers | None = None) -> Any:
    """``value`` as type ``tp``: ints are floats where a float is wanted, booleans are never numbers."""
    readers = readers or {}
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"{key}: {value!r} is not one of {type_name(tp)}")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(value, a, key, readers)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: expected {type_name(tp)}, got {value!r}")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected {type_name(tp)}, got {value!r}")
        (item,) = typing.get_args(tp)
        return [coerce(v, item, f"{key}[{i}]", readers) for i, v in enumerate(value)]
    if tp in readers:
        return readers[tp](value, key)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key, readers)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"{key}: expected {type_name(tp)}, got {value!r}")


def build(cls: type, data: Any, prefix: str, readers: Readers | None = None, internal: tuple[str, ...] = ()) -> Any:
    """An instance of dataclass ``cls`` from a mapping; fields named in ``internal`` cannot be given."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name not in internal}
    unknown = [k for k in data if k not in names]
    if unknown:
        where = f"{prefix}.{unknown[0]}" if prefix else str(unknown[0])
        raise ConfigError(f"{where}: unknown key (known here: {', '.join(sorted(names))})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        if f.name in data:
            kwargs[f.name] = coerce(data[f.name], hints[f.name], key, readers)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key}: required")
    return cls(**kwargs)
