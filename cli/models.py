"""`llmdeck models`: the GGUF model store (list, show, import, rm, default)."""

from __future__ import annotations

from pathlib import Path

import click

from llmdeck.cli.output import emit_json, info, table
from llmdeck.core.units import human_count, human_size


def _store():
    from llmdeck.core.store import ModelStore

    return ModelStore()


@click.group("models")
def command() -> None:
    """Manage the GGUF model store."""


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def list_models(as_json: bool) -> None:
    """List registered models (the default is marked with *)."""
    entries = _store().list()
    if as_json:
        emit_json([entry.to_dict() for entry in entries])
        return
    rows = [
        {
            "": "*" if e.is_default else "",
            "name": e.name,
            "arch": e.architecture,
            "params": human_count(e.parameter_count),
            "quant": e.file_type,
            "ctx": e.context_length,
            "size": human_size(e.size_bytes),
            "source": "embedded" if e.embedded else ("copied" if e.copied else "reference"),
        }
        for e in entries
    ]
    click.echo(table(rows, ["", "name", "arch", "params", "quant", "ctx", "size", "source"]))


@command.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def show_model(name: str, as_json: bool) -> None:
    """Show one model's metadata and lineage."""
    entry = _store().get(name)
    if as_json:
        emit_json(entry.to_dict())
        return
    for key, value in entry.to_dict().items():
        if key == "size_bytes":
            value = f"{human_size(value)} ({value} bytes)"
        click.echo(f"{key:18} {value if value is not None else '-'}")


@command.command("import")
@click.argument("path")
@click.option("--name", help="Store name (default: derived from the file name).")
@click.option("--copy", is_flag=True, help="Copy the file into the store instead of referencing it.")
@click.option("--json", "as_json", is_flag=True, help="Print the new entry as JSON on stdout.")
def import_model(path: str, name: str | None, copy: bool, as_json: bool) -> None:
    """Register a local GGUF file (validated before anything is written), or download one into the store:
    owner/repo (its one .gguf), owner/repo:FILE.gguf, or an http(s) URL (progress on stderr, resumable).
    """
    from llmdeck.core.store import parse_remote

    remote = parse_remote(path)
    store = _store()
    entry = store.pull(remote, name=name) if remote else store.register(Path(path), name=name, copy=copy)
    if as_json:
        emit_json(entry.to_dict())
    else:
        info(f"imported {entry.name} ({entry.architecture}, {human_count(entry.parameter_count)} params, {entry.file_type})")


@command.command("rm")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the removed entry as JSON on stdout.")
def remove_model(name: str, as_json: bool) -> None:
    """Unregister a model (a copied file is deleted; a referenced file stays where it is)."""
    entry = _store().remove(name)
    if as_json:
        emit_json(entry.to_dict())
    else:
        info(f"removed {entry.name}")


@command.command("default")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the new default entry as JSON on stdout.")
def default_model(name: str, as_json: bool) -> None:
    """Make NAME the default model for chat, RAG and agents."""
    entry = _store().set_default(name)
    if as_json:
        emit_json(entry.to_dict())
    else:
        info(f"default model: {entry.name}")
