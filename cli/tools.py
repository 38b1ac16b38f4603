"""`llmdeck tools`: the agent's tools (built-in and custom) with their argument schemas."""

from __future__ import annotations

import json

import click

from llmdeck.cli.options import UserPath
from llmdeck.cli.output import emit_json, info, table


@click.group("tools")
def command() -> None:
    """Agent tools: built-ins, --tools-file files, $LLMDECK_HOME/tools/*.py and `llmdeck.tools` entry points."""


@command.command("list")
@click.option(
    "--tools-file",
    multiple=True,
    type=UserPath(dir_okay=False),
    help="Also load LangChain @tool functions from this Python file (repeatable).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON document: name, description, source, default, parameters."
)
def list_command(tools_file, as_json):
    """Every tool with its description and argument schema; broken custom tools are reported as warnings.

    Example: llmdeck tools list --tools-file my_tools.py --json
    """
    from llmdeck.agents.tools import ToolCatalog

    catalog = ToolCatalog(tuple(tools_file))
    for warning in catalog.warnings:
        info(f"warning: {warning}")
    rows = [tool.to_dict() for tool in catalog.info()]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        row["default"] = "yes" if row["default"] else ""
        properties = row["parameters"].get("properties", {})
        row["arguments"] = json.dumps({name: spec.get("enum", spec.get("type")) for name, spec in properties.items()})
    click.echo(table(rows, ["name", "default", "source", "description", "arguments"]))
