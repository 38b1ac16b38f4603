"""The tools screen (ctrl+t on the agents screen): every tool an agent can get, built-in, from a tools file or an
entry point, and each MCP server of config.toml with its status (connected, failed with the reason, disabled)
and its tools; the highlighted row's JSON schema (a server's settings, secrets as ***) beside the table.

`e` turns the highlighted MCP server (or the server of the highlighted tool) off or on: saved in config.toml by
`services.tools.set_mcp_server_enabled`, the same call as `llmdeck tools enable/disable`, so the next agent run
sees it without a restart. Listing (which starts the servers) and toggling run in a worker, never on the UI thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Header, Label, Static
from textual.worker import get_current_worker

from llmdeck.tui.screens.base import BaseScreen, late_footer
from llmdeck.tui.widgets.tables import fill

if TYPE_CHECKING:
    from llmdeck.services.tools import ServerInfo, ToolsListing


COLUMNS = ("tool / MCP server", "source", "status")


@dataclass
class Row:
    """One table row: a tool (with its schema) or an MCP server (with its settings)."""

    key: str  # tool:NAME or server:NAME
    cells: tuple[str, str, str]  # name, source, status
    detail: str
    server: str | None  # the MCP server this row belongs to, if any


def listing_rows(listing: ToolsListing) -> list[Row]:
    """The built-in and file tools, then each MCP server followed by its tools."""
    by_server: dict[str, list] = {}
    rows = []
    for tool in listing.tools:
        if tool.source.startswith("mcp:"):
            by_server.setdefault(tool.source.removeprefix("mcp:"), []).append(tool)
            continue
        rows.append(Row(f"tool:{tool.name}", (tool.name, tool.source, tool.status), tool_detail(tool), None))
    for server in listing.servers:
        rows.append(Row(f"server:{server.name}", server_cells(server), server_detail(server), server.name))
        for tool in by_server.get(server.name, []):
            rows.append(
                Row(f"tool:{tool.name}", (f"  {tool.name}", tool.source, tool.status), tool_detail(tool), server.name)
            )
    return rows


def server_cells(server: ServerInfo) -> tuple[str, str, str]:
    status = f"failed: {server.problem}" if server.problem else server.status
    if server.status == "connected":
        status = f"connected ({len(server.tools)} tools)"
    return (f"[mcp] {server.name}", f"mcp server ({server.transport})", status)


def tool_detail(tool) -> str:
    default = "on by default" if tool.default else "off unless chosen"
    return f"{tool.name} ({tool.source}, {default})\n{tool.description}\n\n{json.dumps(tool.parameters, indent=2)}"


def server_detail(server: ServerInfo) -> str:
    lines = [f"MCP server {server.name} ({server.transport}): {server.status}"]
    if server.problem:
        lines.append(f"reason: {server.problem}")
    lines += [f"tools: {', '.join(server.tools) or '(none)'}", "e turns it " + ("off" if server.enabled else "on")]
    return "\n".join(lines) + "\n\n" + json.dumps(server.settings, indent=2)


class ToolsScreen(BaseScreen):
    """The agents' tools and MCP servers, with their schemas and status; e turns an MCP server off or on."""

    CSS_PATH = "tools.tcss"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("e", "toggle_server", "MCP server on/off"),
        Binding("r", "reload", "Reload"),
    ]
    WIDGET_KEYS = [("e", "tools table: turn the highlighted MCP server (or its tool's server) off or on")]

    @dataclass
    class Listed(Message):
        listing: ToolsListing
        note: str  # what the status line says (after a toggle: what changed)

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, Row] = {}
        self.enabled: dict[str, bool] = {}  # MCP server -> enabled, as last listed
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("listing the tools and connecting the MCP servers...", id="tools-status", markup=False)
        with Horizontal(id="tools-body"):
            yield DataTable(id="tools-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="tools-side"):
                yield Label("Schema / settings", classes="pane-title")
                yield Static("", id="tools-detail", markup=False)
        yield late_footer()

    def on_mount(self) -> None:
        table = self.query_one("#tools-table", DataTable)
        table.add_columns(*COLUMNS)
        table.focus()
        self.busy = True
        self.load("")

    @work(thread=True, exclusive=True, exit_on_error=False, group="tools")
    def load(self, note: str) -> None:
        """List every tool (the MCP servers are asked at once, each within its timeout)."""
        from llmdeck.services.tools import list_tools

        listing = list_tools()
        if not get_current_worker().is_cancelled:
            self.post_message(self.Listed(listing, note))

    @work(thread=True, exclusive=True, exit_on_error=False, group="tools")
    def toggle(self, name: str, enabled: bool) -> None:
        """Save the server's `enabled` in config.toml, then list again."""
        from llmdeck.services.tools import list_tools, set_mcp_server_enabled

        saved = set_mcp_server_enabled(name, enabled)
        listing = list_tools()
        if not get_current_worker().is_cancelled:
            self.post_message(self.Listed(listing, f"MCP server {name} {saved.status} (saved in config.toml)"))

    @on(Listed)
    def show_listing(self, message: Listed) -> None:
        if self.closing:
            return
        self.busy = False
        table = self.query_one("#tools-table", DataTable)
        highlighted = self._highlighted_key()
        rows = listing_rows(message.listing)
        self.rows = {row.key: row for row in rows}
        self.enabled = {server.name: server.enabled for server in message.listing.servers}
        cells = [[Text(cell) for cell in row.cells] for row in rows]  # as written: "[mcp]" is no markup
        fill(table, COLUMNS, cells, keys=[row.key for row in rows])
        if highlighted in self.rows:
            table.move_cursor(row=table.get_row_index(highlighted))
        failed = sum(1 for server in message.listing.servers if server.status == "failed")
        summary = f"{len(message.listing.tools)} tools, {len(message.listing.servers)} MCP servers"
        summary += f" ({failed} failed)" if failed else ""
        self.query_one("#tools-status", Static).update(f"{message.note + ' - ' if message.note else ''}{summary}")
        self._show_detail()

    @on(DataTable.RowHighlighted, "#tools-table")
    def _row_highlighted(self) -> None:
        self._show_detail()

    def _highlighted_key(self) -> str | None:
        table = self.query_one("#tools-table", DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _show_detail(self) -> None:
        row = self.rows.get(self._highlighted_key() or "")
        self.query_one("#tools-detail", Static).update(row.detail if row else "")

    def action_toggle_server(self) -> None:
        row = self.rows.get(self._highlighted_key() or "")
        if row is None or row.server is None:
            self.notify("highlight an MCP server or one of its tools", severity="warning")
            return
        if self.busy:
            self.notify("still listing the tools: wait a moment", severity="warning")
            return
        enabled = not self.enabled.get(row.server, True)
        self.busy = True
        self.query_one("#tools-status", Static).update(
            f"turning MCP server {row.server} {'on: connecting' if enabled else 'off'}..."
        )
        self.toggle(row.server, enabled)

    def action_reload(self) -> None:
        self.busy = True
        self.query_one("#tools-status", Static).update("listing the tools and connecting the MCP servers...")
        self.load("")

    def work_failed(self, action: str, error: BaseException | None) -> None:
        self.busy = False
        self.query_one("#tools-status", Static).update(f"{action} failed: {error}")
