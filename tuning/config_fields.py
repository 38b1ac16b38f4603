"""The training config as a form: one field spec per `TrainConfig` field (kind, choices, help), form text
parsed back into values, every problem mapped to its field, and the equivalent `llmdeck train` command.

Built from the config type itself, so a new field appears in every front end without touching them: the app's
new-run form is made of these specs, and so are the CLI's flags (`cli.options.config_options`, for any config
type: `llmdeck train` and `llmdeck loop`).
"""

from __future__ import annotations

import shlex
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from llmdeck.core.atomic import atomic_write_text
from llmdeck.core.errors import BadInput
from llmdeck.tuning.config import TrainConfig, consistency_problems


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # bool | choice | int | float | list | map | text
    choices: tuple[str, ...]  # for choice: the allowed values ("" = None when optional)
    optional: bool  # None is allowed (an empty entry means None)
    default: Any
    description: str


def field_specs(config_type: type[BaseModel] = TrainConfig) -> list[FieldSpec]:
    return [_spec(name, info) for name, info in config_type.model_fields.items()]


def _spec(name: str, info) -> FieldSpec:
    annotation = info.annotation
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    members = [a for a in typing.get_args(annotation)] if union else [annotation]
    optional = type(None) in members
    members = [m for m in members if m is not type(None)]
    first = members[0] if members else str
    kind = "text"
    choices: tuple[str, ...] = ()
    if any(typing.get_origin(m) is list for m in members):
        kind = "list"
    elif any(typing.get_origin(m) is dict for m in members):
        kind = "map"  # NAME=VALUE, NAME=VALUE
    elif first is bool:
        kind, choices = ("choice", ("", "true", "false")) if optional else ("bool", ())
    elif typing.get_origin(first) is typing.Literal:
        kind, choices = "choice", tuple(str(v) for v in typing.get_args(first))
        choices = (("",) if optional else ()) + choices
    elif first in (int, float):
        kind = first.__name__
    default = info.get_default(call_default_factory=True)  # `variables` has a factory, not a default
    return FieldSpec(name, kind, choices, optional, default, info.description or "")


def display(value: Any) -> str:
    """A value as form text (lists comma-separated, None empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def parse_form(texts: dict[str, Any], config_type: type[BaseModel] = TrainConfig) -> dict[str, Any]:
    """Form entries -> config values: empty means None (optional) or the default (not optional); lists are
    comma-separated; other text is left for pydantic to convert and check."""
    specs = {s.name: s for s in field_specs(config_type)}
    values: dict[str, Any] = {}
    for name, raw in texts.items():
        spec = specs.get(name)
        if spec is None:
            continue
        if isinstance(raw, str):
            raw = raw.strip()
            if raw == "":
                if spec.optional:
                    values[name] = None
                continue
            if spec.kind == "list" and raw not in spec.choices and "all-linear" != raw:
                raw = [part.strip() for part in raw.split(",") if part.strip()]
            elif spec.kind == "map":
                raw = _pairs(raw)
        values[name] = raw
    return values


def _pairs(raw: str) -> dict[str, str] | str:
    """ "a=1, b=two" -> {"a": "1", "b": "two"}; text that is not NAME=VALUE pairs is left for pydantic to refuse."""
    pairs = {}
    for part in (p.strip() for p in raw.split(",")):
        key, sep, value = part.partition("=")
        if not part:
            continue
        if not sep or not key.strip():
            return raw
        pairs[key.strip()] = value.strip()
    return pairs


def check_form(texts: dict[str, Any]) -> tuple[TrainConfig | None, dict[str, str]]:
    """(config, {}) when the form is valid, else (None, {field: what is expected}) with every problem."""
    values = parse_form(texts)
    try:
        return TrainConfig(**values), {}
    except ValidationError as exc:
        problems: dict[str, str] = {}
        kinds = {s.name: s.kind for s in field_specs()}
        for item in exc.errors():
            if item["loc"]:
                name = str(item["loc"][0])
                problems.setdefault(
                    name, "expected NAME=VALUE pairs, comma-separated" if kinds.get(name) == "map" else str(item["msg"])
                )
        bad = set(problems)
        for line in consistency_problems(_coerced({k: v for k, v in values.items() if k not in bad})):
            name, _, message = line.partition(": ")
            problems.setdefault(name, message)
        return None, problems


def _coerced(values: dict[str, Any]) -> dict[str, Any]:
    """Form text converted the way pydantic would (numbers, on/off), for the checks between fields."""
    specs = {s.name: s for s in field_specs()}
    out = {}
    for name, value in values.items():
        kind = specs[name].kind
        try:
            if isinstance(value, str) and kind in ("int", "float"):
                value = int(value) if kind == "int" else float(value)
            elif isinstance(value, str) and specs[name].choices == ("", "true", "false"):
                value = {"true": True, "false": False}.get(value.lower())
        except ValueError:
            continue
        out[name] = value
    return out


def as_command(config: TrainConfig) -> str:
    """The `llmdeck train` command line that launches `config` (only fields that differ from the defaults)."""
    parts = ["llmdeck", "train"]
    for spec in field_specs(type(config)):
        value = getattr(config, spec.name)
        if value == spec.default:
            continue
        flag = "--" + spec.name.replace("_", "-")
        if isinstance(value, dict):  # `variables`: one --var NAME=VALUE each
            parts += [item for key, val in value.items() for item in ("--var", f"{key}={val}")]
        elif spec.kind == "bool" or (isinstance(value, bool) and spec.kind == "choice"):
            parts.append(flag if value else f"--no-{flag[2:]}")
        else:
            parts += [flag, ",".join(value) if isinstance(value, list) else display(value)]
    return " ".join(shlex.quote(p) for p in parts)


def save_config(config: TrainConfig, path: Path) -> Path:
    """Write `config` as a YAML file `llmdeck train --config` reads (temp file, then rename)."""
    path = Path(path).expanduser()
    if path.suffix not in (".yaml", ".yml"):
        raise BadInput(f"{path}: expected a .yaml or .yml file name")
    if not path.parent.is_dir():
        raise BadInput(f"{path.parent}: no such directory")
    atomic_write_text(path, config.to_yaml())
    return path
