"""Click options built from a config type's fields (`tuning.config_fields.field_specs`, the same specs the
app's new-run form is built from): one flag per field, so a new field is a new flag without touching a command."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import click
from pydantic import BaseModel

from llmdeck.core.validate import bounded_int, field_range, finite_float
from llmdeck.tuning.config_fields import FieldSpec, field_specs


class Number(click.ParamType):
    """An int or a finite float flag, optionally within `low..high`: a 5,000-digit integer, nan or inf is one
    usage line naming the flag, never a traceback. A flag of a config field (`field=(Model, name)`) is checked
    against the field's range by its model; its range is named here too when the text is no number at all."""

    def __init__(
        self,
        kind: type[int] | type[float] = int,
        low: float | None = None,
        high: float | None = None,
        field: tuple[type, str] | None = None,
    ):
        self.kind, self.low, self.high, self.field = kind, low, high, field
        self.name = "integer" if kind is int else "number"

    def convert(self, value, param, ctx):
        if isinstance(value, self.kind) and not isinstance(value, bool):
            number = value
        else:
            text = str(value)
            try:
                number = bounded_int(text, "value") if self.kind is int else finite_float(text, "value")
            except ValueError as exc:
                message = str(exc).removeprefix("value: ")
                if "invalid literal" in message or "could not convert" in message:
                    message = f"{text[:40]!r} is not a valid {self.name}"
                accepted = self.range_text()
                self.fail(message + (f" (accepted: {accepted})" if accepted else ""), param, ctx)
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            self.fail(f"{number} is out of range (accepted: {self.range_text()})", param, ctx)
        return number

    def range_text(self) -> str | None:
        if self.field is not None:
            return field_range(*self.field)
        if self.low is None and self.high is None:
            return None
        return f"{'' if self.low is None else self.low}..{'' if self.high is None else self.high}"


INT = Number(int)
FLOAT = Number(float)


def setting(name: str) -> Number:
    """The flag type of a numeric field of the user settings (`--threads`: `setting("n_threads")`): parsed
    safely here, its range checked by `Settings`, as config.toml's value is."""
    from llmdeck.core.settings import Settings

    annotation = str(Settings.model_fields[name].annotation)
    return Number(float if "float" in annotation else int, field=(Settings, name))


class NonEmpty(click.ParamType):
    """A name or text flag that refuses an empty (or blank) value instead of silently falling back to the
    default: `--model ''` is a usage line, not the default model."""

    name = "text"

    def convert(self, value, param, ctx):
        if not isinstance(value, str) or value.strip():
            return value
        self.fail("empty value (give a name, or leave the flag out for the default)", param, ctx)


NAME = NonEmpty()


class UserPath(click.Path):
    """click's Path that refuses an empty value (`--out ''` would otherwise mean the current directory)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("empty value (give a path, or leave the flag out for the default)", param, ctx)
        return super().convert(value, param, ctx)


def config_options(
    config_type: type[BaseModel], *, aliases: Mapping[str, str] = {}, custom: Mapping[str, click.Option] = {}
) -> Callable:
    """A decorator adding one option per field of `config_type`, every default None so only the flags given
    override a config file. `aliases`: a second flag for a field; `custom`: a field's own option; map fields
    (NAME=VALUE pairs) are left to the command (`--var`)."""

    def decorate(func):
        func.__click_params__ = getattr(func, "__click_params__", [])
        for spec in reversed(field_specs(config_type)):
            if spec.name in custom:
                func.__click_params__.append(custom[spec.name])
            elif spec.kind != "map":
                func.__click_params__.append(option_for(spec, aliases.get(spec.name), config_type))
        return func

    return decorate


def option_for(spec: FieldSpec, alias: str | None = None, config_type: type | None = None) -> click.Option:
    """The click option of one field: a --flag/--no-flag pair, a choice, a number, a comma-separated list or text."""
    flag = "--" + spec.name.replace("_", "-")
    decls = [flag] + ([alias] if alias else []) + [spec.name]
    if spec.kind == "bool" or spec.choices == ("", "true", "false"):
        return click.Option([f"{flag}/--no-{flag[2:]}", spec.name], default=None, help=spec.description)
    if spec.kind == "choice":
        return click.Option(
            decls, type=click.Choice([c for c in spec.choices if c != ""]), default=None, help=spec.description
        )
    if spec.kind in ("int", "float"):
        number = Number(int if spec.kind == "int" else float, field=(config_type, spec.name) if config_type else None)
        return click.Option(decls, type=number, default=None, help=spec.description)
    if spec.kind == "list":
        return click.Option(decls, default=None, help=spec.description + " Comma-separated.", callback=split_list)
    return click.Option(decls, type=NAME, default=None, help=spec.description)


def split_list(ctx, param, value):
    """'a, b' -> ['a', 'b']; 'all-linear' (the one word a list field takes) stays as it is."""
    if value is None or value == "all-linear":
        return value
    return [part.strip() for part in value.split(",") if part.strip()]
