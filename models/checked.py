"""Values from the authors' YAML checked against a dataclass's defaults: a wrong type or range is one
ValueError naming the key (``generator_params.block_expansion: needs a whole number...``)."""

from __future__ import annotations

import dataclasses
import math


def checked(where: str, value, default, zero_ok: bool = False):
    """``value`` if it has ``default``'s kind: true/false, a whole number (a count is at least 1; one whose
    default is 0 may be 0), a number (above 0, or at least 0 when ``zero_ok``), a list of numbers."""
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or not all(_is_number(v) for v in value):
            raise ValueError(f"{where}: needs a list of numbers, not {value!r}")
        return tuple(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{where}: needs true or false, not {value!r}")
        return value
    if isinstance(default, int):
        least = min(default, 1)
        if not _is_number(value) or not float(value).is_integer() or value < least:
            raise ValueError(f"{where}: needs a whole number of at least {least}, not {value!r}")
        return int(value)
    if isinstance(default, float):
        if not _is_number(value) or (value < 0 if zero_ok else value <= 0):
            raise ValueError(f"{where}: needs a number {'of at least 0' if zero_ok else 'above 0'}, not {value!r}")
        return float(value)
    return value


def section(parent: dict, key: str, where: str) -> dict:
    """``parent[key]`` as a mapping (absent or empty: ``{}``); anything else is a ValueError naming ``where``,
    the key's path (``dataset_params.augmentation_params``): ``.get`` on a list would be a traceback."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where}: needs a mapping of keys, not {value!r}")
    return value


def build(cls, values: dict, where: str, zero_ok: bool = False, **fixed):
    """``cls`` from ``values`` (the keys a YAML section gave, each checked) and ``fixed`` (built elsewhere)."""
    if not isinstance(values, dict):
        raise ValueError(f"{where}: needs a mapping of keys, not {values!r}")
    known = {f.name for f in dataclasses.fields(cls)} - set(fixed)
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    defaults = cls()
    return cls(**{key: checked(f"{where}.{key}", value, getattr(defaults, key), zero_ok)
                  for key, value in values.items()}, **fixed)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
