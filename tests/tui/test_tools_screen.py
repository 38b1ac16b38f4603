"""The tools screen (ctrl+t on the agents screen) with the Pilot, against real MCP servers over stdio (the
dependency-free one of testing/, it starts in milliseconds): every tool with its schema, each server's status
(a failing one as its one line), a server turned off and on with `e` and saved in config.toml, and an agent in
the app answering with the MCP server's tool (the scripted fake model)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.app import App

from llmdeck.core.settings import McpServer, load_settings, update_settings
from llmdeck.tui.app import LlmdeckApp
from llmdeck.tui.screens.tools import ToolsScreen
from tests.tui.helpers import text_of, wait_for
from tests.tui.test_agents_screen import SIZE, ask, choose_tools, open_agents

LITE = str(Path(__file__).resolve().parents[2] / "testing" / "mcp_lite_server.py")
SECRET = "tui-secret-value-3"


def configure() -> None:
    servers = {
        "lite": McpServer(command=sys.executable, args=[LITE], env={"TOKEN": SECRET}),
        "bad": McpServer(command=sys.executable, args=[LITE, "--fail"]),
    }
    update_settings(mcp_servers={name: s.model_dump(exclude_none=True) for name, s in servers.items()})


def rows(screen) -> dict[str, tuple[str, ...]]:
    table = screen.query_one("#tools-table")
    return {str(key.value): tuple(str(c) for c in table.get_row(key)) for key in table.rows}


class Host(App):
    def on_mount(self) -> None:
        self.push_screen(ToolsScreen())


async def listed(pilot, screen, what: str = "the tools listing", until=lambda: True) -> None:
    await wait_for(pilot, lambda: not screen.busy and screen.rows and until(), what=what)


async def highlight(pilot, screen, key: str) -> None:
    table = screen.query_one("#tools-table")
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()


async def test_the_tools_screen_lists_servers_and_turns_one_off_and_on():
    configure()
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ToolsScreen))
        screen = app.screen
        assert isinstance(screen, ToolsScreen)  # pushed by Host.on_mount
        await listed(pilot, screen)
        shown = rows(screen)
        assert shown["server:lite"] == ("[mcp] lite", "mcp server (stdio)", "connected (3 tools)")
        assert shown["tool:add"] == ("  add", "mcp:lite", "ok") and shown["tool:calculator"][1] == "builtin"
        assert shown["server:bad"][2].startswith("failed: ") and "\n" not in shown["server:bad"][2]
        await highlight(pilot, screen, "tool:add")
        assert '"required": [\n    "a",\n    "b"\n  ]' in text_of(screen.query_one("#tools-detail"))
        await pilot.press("e")  # the highlighted tool's server: off
        await listed(pilot, screen, "lite turned off", lambda: "tool:add" not in screen.rows)
        assert rows(screen)["server:lite"][2] == "disabled"
        assert load_settings().mcp_servers["lite"].enabled is False
        assert "MCP server lite disabled (saved in config.toml)" in text_of(screen.query_one("#tools-status"))
        await highlight(pilot, screen, "server:lite")
        detail = text_of(screen.query_one("#tools-detail"))
        assert '"TOKEN": "***"' in detail and SECRET not in detail  # its settings, the env value hidden
        await pilot.press("e")
        await listed(pilot, screen, "lite turned on", lambda: "tool:add" in screen.rows)
        assert load_settings().mcp_servers["lite"].enabled is True
        await highlight(pilot, screen, "tool:calculator")
        await pilot.press("e")  # not an MCP server's row
        await wait_for(pilot, lambda: any("highlight an MCP server" in n.message for n in app._notifications))


@pytest.mark.slow  # end to end through the app: seconds
async def test_an_agent_in_the_app_answers_with_a_tool_of_an_mcp_server_turned_on_without_a_restart(fake_model):
    configure()
    fake_model.enqueue(" add\n", ' {"a": 19, "b": 23}', " final_answer\n", ' {"answer": "42"}')
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        agents = await open_agents(pilot)
        tools = agents.query_one("#agent-tools")
        assert "add" in tools.selected  # an MCP server's tools are on by default
        for enabled in (False, True):
            await pilot.press("ctrl+t")
            await wait_for(pilot, lambda: isinstance(app.screen, ToolsScreen))
            screen = app.screen
            await listed(pilot, screen)
            await highlight(pilot, screen, "server:lite")
            await pilot.press("e")
            await listed(pilot, screen, "the toggle", lambda e=enabled: ("tool:add" in screen.rows) == e)
            await pilot.press("escape")  # the agents screen lists its tools again
            await wait_for(
                pilot,
                lambda e=enabled: app.screen is agents and ("add" in tools.selected) == e,
                what=f"add {'offered' if enabled else 'gone'}",
            )
        choose_tools(agents, "add")
        await ask(pilot, agents, "What is 19 + 23?")
        assert agents.query_one("#agent-trace").blocks() == [
            ("question", "Q: What is 19 + 23?"),
            ("call", '[1] add({"a": 19, "b": 23})'),
            ("observation", "[1] result: 42"),
            ("final", "Answer: 42"),
        ]
