"""Errors that front ends turn into one clear line and an exit code (2 bad input, 1 failed)."""


class LlmdeckError(Exception):
    """Something failed; the message is one line a person can act on."""

    exit_code = 1


class BadInput(LlmdeckError):
    """The user gave a path, name or value we cannot use; the message names it and what was expected."""

    exit_code = 2


class NotFound(BadInput):
    """A named thing (model, run, collection, session) does not exist."""


class OfflineError(LlmdeckError):
    """The operation needs the network (a hub id or URL) and none is reachable."""


RANGE_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number")


def accepted_range(model, item) -> str:
    """` (accepted: low..high)` for a pydantic range error on a field of `model` with bounds, else ""."""
    from llmdeck.core.validate import field_range

    if model is None or item["type"] not in RANGE_ERRORS or len(item["loc"]) != 1:
        return ""
    bounds = field_range(model, str(item["loc"][0]))
    return f" (accepted: {bounds})" if bounds else ""


def validation_message(source: str, error, model=None) -> str:
    """A pydantic `ValidationError` as one line: `source: field: what was expected; field2: ...` (every problem;
    a number out of range also names the field's range when `model` is given)."""
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ") + accepted_range(model, item)
        problems.append(f"{field}: {message}" if field else message)
    return f"{source}: " + "; ".join(problems)


def validated(config_type, source: str, values: dict):
    """`config_type(**values)` (a pydantic model); invalid values are one BadInput naming every problem."""
    from pydantic import ValidationError

    try:
        return config_type(**values)
    except ValidationError as exc:
        raise BadInput(validation_message(source, exc, config_type)) from None


class DiskFull(LlmdeckError):
    """A write failed for want of space (ENOSPC, SQLite's "database or disk is full"); the message names the
    path, the free space there and, where known, how much the write needed."""
