"""Every message a dataset is refused with (BadInput) or a row is reported bad with, beyond a converter's own
field checks; one place so their wording stays consistent. Reading problems (files) are in `reading`."""

from __future__ import annotations

from typing import Any


def unknown_format(first_row: Any, formats: tuple[str, ...]) -> str:
    keys = sorted(first_row) if isinstance(first_row, dict) else type(first_row).__name__
    return f"cannot tell the data format (first row has {keys}); pass --format {'|'.join(formats)}"


def several_formats(ranked: list[tuple[str, int]]) -> str:
    seen = ", ".join(f"{name} ({n} rows)" for name, n in ranked)
    return f"rows look like several formats: {seen}; pass --format to choose one"


def no_such_format(fmt: str, formats: tuple[str, ...]) -> str:
    return f"unknown data format {fmt!r} (expected one of {', '.join(formats)})"


def no_rows(source: str, unparsed: list) -> str:
    return f"{source}: no rows" + (
        f" ({len(unparsed)} unparseable, first at {unparsed[0].location}: {unparsed[0].problem})" if unparsed else ""
    )


def no_usable_rows(report, shapes: dict[str, str]) -> str:
    shown = "; ".join(f"{bad.location}: {bad.problem}" for bad in report.bad_rows[:3])
    hint = (
        f"; the rows look like {report.looks_like} (pass --format {report.looks_like} or auto)"
        if report.looks_like
        else ""
    )
    return (
        f"{report.source}: no usable {report.format} rows ({report.bad_count} bad); expected "
        f"{shapes.get(report.format, report.format)} per row{hint}; first bad rows: {shown}"
    )


def bad_rows(report) -> str:
    first = report.bad_rows[0]
    return (
        f"{report.source}: {report.bad_count} bad row(s), first at {first.location}: {first.problem} "
        "(see `llmdeck data check`, or pass --skip-bad)"
    )


def wrong_format_for_method(
    source: str, method: str, fmt: str, expected: tuple[str, ...], users: list[str], shapes: dict[str, str]
) -> str:
    return (
        f"{source}: method {method} needs {', '.join(expected)} data, found {fmt} rows "
        f"(which train with {' or '.join(users)}; --format {expected[0]} rows look like {shapes[expected[0]]})"
    )


def needs_preference(method: str, fmt: str) -> str | None:
    """A preference method's refusal of other data."""
    return (
        f"method {method} needs preference data (prompt/chosen/rejected), found {fmt}" if fmt != "preference" else None
    )


def unpaired_row(method: str) -> str:
    return f"label: a labelled (unpaired) row trains with method kto; {method} needs chosen and rejected"


def no_chat_template(source: str, fmt: str, template_choices: str) -> str:
    return (
        f"{source}: the model has no chat template to render {fmt} conversations; "
        f"pass --chat-template {template_choices}"
    )
