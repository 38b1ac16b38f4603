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


def validation_message(source: str, error) -> str:
    """A pydantic `ValidationError` as one line: `source: field: what was expected; field2: ...` (every problem)."""
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{field}: {message}" if field else message)
    return f"{source}: " + "; ".join(problems)


def validated(config_type, source: str, values: dict):
    """`config_type(**values)` (a pydantic model); invalid values are one BadInput naming every problem."""
    from pydantic import ValidationError

    try:
        return config_type(**values)
    except ValidationError as exc:
        raise BadInput(validation_message(source, exc)) from None


class DiskFull(LlmdeckError):
    """A write failed for want of space (ENOSPC, SQLite's "database or disk is full"); the message names the
    path, the free space there and, where known, how much the write needed."""
