"""The agents' tools as `llmdeck tools` and the app's tools screen show them: the built-ins, the tool files and
entry points, and each MCP server of config.toml with its status and tools; and turning an MCP server on or off.

`set_mcp_server_enabled` writes `enabled` into config.toml's `[mcp_servers.NAME]` table (atomically: a temp file,
then a rename; the file's comments and layout are kept where the table has its own header), so the change outlives
the process and every later tool catalog (the next agent run, in the app or on the command line) sees it without a
restart; a disabled server's session is closed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmdeck.agents.tools import ToolCatalog, ToolInfo
from llmdeck.core.errors import BadInput


@dataclass
class ServerInfo:
    """One `[mcp_servers.NAME]` as listed: its transport, whether it is on, and what listing it found."""

    name: str
    transport: str  # stdio | http
    enabled: bool
    status: str  # connected | failed | disabled (set_mcp_server_enabled's answer: enabled | disabled)
    problem: str | None  # the one-line reason of a failed server (secrets redacted)
    settings: dict  # agents.mcp_client.describe: command/args or url; env and header values as ***
    tools: list[str] = field(default_factory=list)  # its tools' names (their rows are in ToolsListing.tools)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ToolsListing:
    """Every tool (MCP tools have source `mcp:NAME`), every MCP server, and the load warnings."""

    tools: list[ToolInfo]
    servers: list[ServerInfo]
    warnings: list[str]

    def to_dict(self) -> dict:
        return {"tools": [t.to_dict() for t in self.tools], "mcp_servers": [s.to_dict() for s in self.servers]}


def list_tools(tool_files: tuple[str | Path, ...] = (), mcp_servers: dict | None = None) -> ToolsListing:
    """The tools of `tool_files`, `$LLMDECK_HOME/tools`, the entry points and the MCP servers (None: config.toml's;
    the servers are asked at once, each within its own timeout_s)."""
    from llmdeck.agents.mcp_client import describe
    from llmdeck.core.settings import load_settings

    if mcp_servers is None:
        mcp_servers = load_settings().mcp_servers
    catalog = ToolCatalog(tuple(tool_files), mcp_servers=mcp_servers)
    tools = catalog.info()
    servers = [
        ServerInfo(
            listing.name,
            listing.transport,
            listing.enabled,
            listing.status,
            listing.problem,
            describe(mcp_servers[listing.name]),
            [tool for tool, (_, source) in catalog.custom.items() if source == f"mcp:{listing.name}"],
        )
        for listing in catalog.servers
    ]
    return ToolsListing(tools, servers, catalog.warnings)


def set_mcp_server_enabled(name: str, enabled: bool) -> ServerInfo:
    """Turn the MCP server `name` on or off in config.toml; its settings as they are now saved (not connected:
    the next listing or agent run connects an enabled one). Unknown name: BadInput naming the configured ones."""
    from llmdeck.agents.mcp_client import describe, forget
    from llmdeck.core.settings import load_settings

    servers = load_settings().mcp_servers  # a broken config.toml is BadInput here, before anything is written
    if name not in servers:
        known = ", ".join(sorted(servers)) or "none; add an [mcp_servers.NAME] table to config.toml"
        raise BadInput(f"mcp server {name!r} is not in config.toml (configured: {known})")
    _write_enabled(name, enabled)
    server = load_settings().mcp_servers[name]
    if not enabled:
        forget(name)
    return ServerInfo(name, server.transport, enabled, "enabled" if enabled else "disabled", None, describe(server))


def _write_enabled(name: str, enabled: bool) -> None:
    """Set `enabled` in the server's table, atomically. The file's own text is edited where its table is a plain
    `[mcp_servers.NAME]` header (comments and layout kept); otherwise it is written again from its parsed values
    (the same values, without comments)."""
    import tomllib

    import tomli_w

    from llmdeck.core import paths
    from llmdeck.core.atomic import atomic_write_text
    from llmdeck.core.errors import validated
    from llmdeck.core.settings import Settings

    config = paths.config_path()
    text = config.read_text(encoding="utf-8-sig")
    wanted = tomllib.loads(text)
    wanted["mcp_servers"][name]["enabled"] = enabled
    validated(Settings, str(config), wanted)
    edited = _edited(text, name, enabled)
    try:
        matches = edited is not None and tomllib.loads(edited) == wanted
    except tomllib.TOMLDecodeError:
        matches = False
    atomic_write_text(config, edited if matches and edited is not None else tomli_w.dumps(wanted))


def _edited(text: str, name: str, enabled: bool) -> str | None:
    """`text` with `enabled = ...` set under its one `[mcp_servers.NAME]` header, or None when there is no such
    header (an inline or dotted table)."""
    import re

    lines = text.splitlines(keepends=True)
    header = re.compile(rf"^\s*\[\s*mcp_servers\s*\.\s*(\"?){re.escape(name)}\1\s*\]\s*(#.*)?$")
    found = [i for i, line in enumerate(lines) if header.match(line.rstrip("\r\n"))]
    if len(found) != 1:
        return None
    value = f"enabled = {'true' if enabled else 'false'}\n"
    end = next((i for i in range(found[0] + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    for i in range(found[0] + 1, end):
        if re.match(r"^\s*enabled\s*=", lines[i]):
            lines[i] = value
            return "".join(lines)
    if not lines[found[0]].endswith("\n"):
        lines[found[0]] += "\n"
    lines.insert(found[0] + 1, value)
    return "".join(lines)
