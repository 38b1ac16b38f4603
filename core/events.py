"""Typed events: what a service tells its front ends happened. Each event is a small frozen dataclass whose class
names the JSON form's "type"; `to_json()` is the dict the CLI's `--json` lines print (and the run records store),
"type" first, then the fields in the order they are declared. Front ends dispatch on the class (`match` /
`isinstance`), so a renamed field is a type error rather than a silent blank.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, ClassVar, Self


def omitted_when(value: Any) -> Any:
    """A field whose JSON form leaves it out while it holds `value` (also its default), e.g. a flag only ever
    written when it is False."""
    return dataclasses.field(default=value, metadata={"omitted_when": value})


@dataclasses.dataclass(frozen=True)
class Event:
    """The base of every service event; a subclass sets `type`, the JSON form's "type"."""

    type: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if "omitted_when" in spec.metadata and value == spec.metadata["omitted_when"]:
                continue
            data[spec.name] = value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """The event of a JSON form (a stored record's): keys it does not declare are ignored, missing ones take
        the field's default."""
        names = {spec.name for spec in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def decoder(classes: Iterable[type[Event]]):
    """A function turning a JSON form into the event of its "type", among `classes` (one class per type)."""
    classes = tuple(classes)
    by_type = {cls.type: cls for cls in classes}
    if len(by_type) != len(classes):
        raise ValueError("two event classes share a type")

    def decode(data: dict[str, Any]) -> Event:
        kind = data.get("type")
        cls = by_type.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise ValueError(f"unknown event type {data.get('type')!r} (expected one of {', '.join(by_type)})")
        return cls.from_json(data)

    return decode
