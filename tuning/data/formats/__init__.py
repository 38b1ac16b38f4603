"""The data formats: one module per format in this package, each defining `FORMAT` (its shape, how a row is
recognised and how it converts) beside its converter. Detection and conversion ask this registry.

A format module holds `FORMAT = DataFormat(...)` (with one example row), `matches(data, keys) -> int`
(how many of the format's shapes the row has: a row of two shapes is ambiguous) and `convert(data) -> dict`
(trl's conversational form, or {"text"}, {"tokens", "tags"}..., raising RowError with what is wrong).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, replace
from typing import Any

from llmdeck.core.errors import BadInput
from llmdeck.tuning.data import errors
from llmdeck.tuning.data.rows import Row, RowError, present_keys


@dataclass(frozen=True)
class DataFormat:
    """What llmdeck knows about one data format; its module defines it as `FORMAT`."""

    name: str  # the config's `dataset_format` value
    order: int  # place in every listing (`--format` choices, error messages)
    shape: str  # one row, as error messages show it
    example: dict  # one valid row (the registry test detects and converts it)
    decisive: int | None = None  # recognised before the other formats (lowest first): a match decides
    chat_template: bool = True  # its rows are conversations rendered through the base's chat template
    module: str = ""  # filled by the registry

    def matches(self, data: dict, keys: set[str]) -> int:
        return importlib.import_module(self.module).matches(data, keys)

    def convert(self, data: dict) -> dict:
        return importlib.import_module(self.module).convert(data)


def _discover() -> dict[str, DataFormat]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            module_name = f"{__name__}.{info.name}"
            found.append(replace(importlib.import_module(module_name).FORMAT, module=module_name))
    return {fmt.name: fmt for fmt in sorted(found, key=lambda fmt: fmt.order)}


def row_format(data: Any) -> str | None:
    """The format one row looks like, or None when it matches none or more than one."""
    if not isinstance(data, dict):
        return None
    keys = present_keys(data)
    for fmt in DECISIVE:
        if fmt.matches(data, keys):
            return fmt.name
    matched = [
        (fmt.name, count)
        for fmt in REGISTRY.values()
        if fmt.decisive is None
        for count in [fmt.matches(data, keys)]
        if count
    ]
    return matched[0][0] if len(matched) == 1 and matched[0][1] == 1 else None


def detect_format(rows: list[Row]) -> str:
    """The one format all rows share; BadInput asking for --format when it is not clear."""
    counts: dict[str, int] = {}
    for row in rows[:1000]:
        fmt = row_format(row.data)
        if fmt:
            counts[fmt] = counts.get(fmt, 0) + 1
    if not counts:
        raise BadInput(errors.unknown_format(rows[0].data if rows else None, FORMATS))
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    if len(ranked) > 1 and ranked[1][1] >= max(1, ranked[0][1] // 10):
        raise BadInput(errors.several_formats(ranked))
    return ranked[0][0]


def convert_row(data: Any, fmt: str) -> dict:
    """One row in `fmt` -> trl's conversational format (+ `tools` when the row has them).

    RowError says what is wrong."""
    if not isinstance(data, dict):
        raise RowError(f"expected an object, found {type(data).__name__}")
    if fmt not in REGISTRY:
        raise BadInput(errors.no_such_format(fmt, FORMATS))
    return REGISTRY[fmt].convert(data)


def get_format(name: str) -> DataFormat:
    return REGISTRY[name]


REGISTRY: dict[str, DataFormat] = _discover()
FORMATS: tuple[str, ...] = tuple(REGISTRY)
FORMAT_SHAPES: dict[str, str] = {fmt.name: fmt.shape for fmt in REGISTRY.values()}
DECISIVE: tuple[DataFormat, ...] = tuple(
    sorted((fmt for fmt in REGISTRY.values() if fmt.decisive is not None), key=lambda fmt: fmt.decisive or 0)
)
