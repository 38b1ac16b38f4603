"""`llmdeck tools`: the agent's tools (built-in and custom) with their argument schemas."""

from __future__ import annotations

import json

import click

from llmdeck.cli.options import UserPath
from llmdeck.cli.output import emit_json, emit_result, info, table


@click.group("tools")
def command() -> None:
    """Agent tools: built-ins, --tools-file files, $LLMDECK_HOME/tools/*.py, `llmdeck.tools` entry points and the
    MCP servers of config.toml ([mcp_servers.NAME]; `enable`/`disable` turn one on or off).

    Example: llmdeck tools list
    """


@command.command("list")
@click.option(
    "--tools-file",
    multiple=True,
    type=UserPath(dir_okay=False),
    help="Also load LangChain @tool functions from this Python file (repeatable).",
)
@click.option("--schemas", is_flag=True, help="Print every tool's whole JSON schema (indented) after the tables.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON document: tools (name, description, source, default, parameters) and mcp_servers (name,"
    " transport, enabled, status, problem, settings with secrets as ***, tools).",
)
def list_command(tools_file, schemas, as_json):
    """Every tool with its description and argument schema, then each MCP server of config.toml with its status
    (connected, failed with the reason, disabled); broken custom tools and failed servers are also warnings.

    Example: llmdeck tools list --tools-file my_tools.py --json
    """
    from llmdeck.services.tools import list_tools

    listing = list_tools(tuple(tools_file))
    for warning in listing.warnings:
        info(f"warning: {warning}")
    if as_json:
        emit_json(listing.to_dict())
        return
    rows = [tool.to_dict() for tool in listing.tools]
    for row in rows:
        row["default"] = "yes" if row["default"] else ""
        description = " ".join(row["description"].split())  # an MCP server's may run over several lines
        row["description"] = description if len(description) <= 100 else description[:97] + "..."
        properties = row["parameters"].get("properties", {})
        row["arguments"] = json.dumps({name: argument_type(spec) for name, spec in properties.items()})
    click.echo(table(rows, ["name", "default", "source", "description", "arguments"]))
    if listing.servers:
        servers = [
            {
                "mcp server": server.name,
                "transport": server.transport,
                "enabled": "yes" if server.enabled else "no",
                "status": f"failed: {server.problem}" if server.problem else server.status,
                "tools": ", ".join(server.tools),
            }
            for server in listing.servers
        ]
        click.echo("")
        click.echo(table(servers, ["mcp server", "transport", "enabled", "tools", "status"]))
    if schemas:
        for tool in listing.tools:
            click.echo(f"\n{tool.name} ({tool.source}):\n{json.dumps(tool.parameters, indent=2)}")


def argument_type(spec: dict):
    """An argument's enum or type, for the table (`string|null` for an optional one: anyOf)."""
    if "enum" in spec or "type" in spec:
        return spec.get("enum", spec.get("type"))
    return "|".join(str(choice.get("type", "?")) for choice in spec.get("anyOf", [])) or "any"


def _toggle(name: str, enabled: bool, as_json: bool) -> None:
    from llmdeck.services.tools import set_mcp_server_enabled

    server = set_mcp_server_enabled(name, enabled)
    emit_result(
        as_json,
        server.to_dict(),
        f"mcp server {name}: {server.status} in config.toml"
        + ("; its tools are offered to agents again" if enabled else "; its tools are left out of agent runs"),
    )


@command.command("enable")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The server's saved settings as one JSON document.")
def enable_command(name, as_json):
    """Turn the MCP server NAME ([mcp_servers.NAME] in config.toml) on: agents get its tools again.

    Example: llmdeck tools enable docs
    """
    _toggle(name, True, as_json)


@command.command("disable")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The server's saved settings as one JSON document.")
def disable_command(name, as_json):
    """Turn the MCP server NAME off (saved in config.toml; no restart needed): agents no longer get its tools.

    Example: llmdeck tools disable docs
    """
    _toggle(name, False, as_json)
