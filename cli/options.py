"""Click options built from a config type's fields (`tuning.config_fields.field_specs`, the same specs the
app's new-run form is built from): one flag per field, so a new field is a new flag without touching a command."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import click
from pydantic import BaseModel

from llmdeck.tuning.config_fields import FieldSpec, field_specs


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
                func.__click_params__.append(option_for(spec, aliases.get(spec.name)))
        return func

    return decorate


def option_for(spec: FieldSpec, alias: str | None = None) -> click.Option:
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
        return click.Option(decls, type=int if spec.kind == "int" else float, default=None, help=spec.description)
    if spec.kind == "list":
        return click.Option(decls, default=None, help=spec.description + " Comma-separated.", callback=split_list)
    return click.Option(decls, type=str, default=None, help=spec.description)


def split_list(ctx, param, value):
    """'a, b' -> ['a', 'b']; 'all-linear' (the one word a list field takes) stays as it is."""
    if value is None or value == "all-linear":
        return value
    return [part.strip() for part in value.split(",") if part.strip()]
