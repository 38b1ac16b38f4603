"""`services.tools` against real MCP servers over stdio (testing/mcp_lite_server.py starts in milliseconds):
every server listed with its status, a failing and a hanging one as one line while the listing goes on, and an
MCP server turned off and on again in config.toml, which the next listing and tool catalog see."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

from llmdeck.agents.mcp_client import close_all
from llmdeck.agents.tools import ToolCatalog
from llmdeck.core.errors import BadInput
from llmdeck.core.settings import McpServer, load_settings, update_settings
from llmdeck.services.tools import list_tools, set_mcp_server_enabled

LITE = str(Path(__file__).resolve().parents[2] / "testing" / "mcp_lite_server.py")
SECRET = "lite-secret-value-9"


def lite(*flags: str, timeout_s: float = 10.0, enabled: bool = True) -> McpServer:
    return McpServer(
        command=sys.executable, args=[LITE, *flags], env={"TOKEN": SECRET}, timeout_s=timeout_s, enabled=enabled
    )


def test_every_server_is_listed_with_its_status_and_a_broken_one_is_one_line():
    listing = list_tools(
        mcp_servers={
            "lite": lite(),
            "bad": lite("--fail"),
            "stuck": lite("--hang", timeout_s=0.5),
            "off": lite(enabled=False),
        }
    )
    servers = {server.name: server for server in listing.servers}
    assert [s.name for s in listing.servers] == ["lite", "bad", "stuck", "off"]
    assert (servers["lite"].status, servers["lite"].tools, servers["lite"].problem) == (
        "connected",
        ["add", "slow", "echo"],
        None,
    )
    assert servers["bad"].status == "failed" and servers["bad"].problem
    assert (servers["stuck"].status, servers["stuck"].problem) == ("failed", "no answer in 0.5 s")
    assert (servers["off"].status, servers["off"].tools) == ("disabled", [])
    assert servers["lite"].settings["env"] == {"TOKEN": "***"} and SECRET not in str(listing.to_dict())
    tools = {tool.name: tool for tool in listing.tools}
    assert tools["add"].source == "mcp:lite" and tools["add"].parameters["required"] == ["a", "b"]
    assert "calculator" in tools and "echo" in tools  # the built-ins next to the server's tools
    assert len(listing.warnings) == 2 and all("\n" not in w for w in listing.warnings)
    close_all()  # what exit runs: the hanging server, dropped after its timeout, is ended too
    assert not [p.cmdline() for p in psutil.Process().children(recursive=True) if "--hang" in p.cmdline()]


def test_a_server_turned_off_and_on_in_config_toml():
    update_settings(mcp_servers={"lite": lite().model_dump(exclude_none=True)})
    assert "add" in ToolCatalog().default_names()
    off = set_mcp_server_enabled("lite", False)
    assert (off.status, off.enabled) == ("disabled", False)
    assert load_settings().mcp_servers["lite"].enabled is False
    assert load_settings().mcp_servers["lite"].env == {"TOKEN": SECRET}  # the rest of the table is kept
    catalog = ToolCatalog()
    assert "add" not in catalog.names() and [s.status for s in catalog.servers] == ["disabled"]
    set_mcp_server_enabled("lite", True)
    assert ToolCatalog().build(["add"])[0].invoke({"a": 20, "b": 22}) == "42"


def test_an_unknown_server_is_refused_naming_the_configured_ones():
    with pytest.raises(BadInput, match=r"'nope' is not in config.toml \(configured: none"):
        set_mcp_server_enabled("nope", True)
    update_settings(mcp_servers={"lite": lite().model_dump(exclude_none=True)})
    with pytest.raises(BadInput, match=r"configured: lite\)"):
        set_mcp_server_enabled("nope", False)


def test_the_toggle_keeps_the_files_comments_and_an_inline_table_is_written_again(llmdeck_home):
    config = llmdeck_home / "config.toml"
    llmdeck_home.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "# my servers\n"
        "[mcp_servers.lite]  # the quick one\n"
        f'command = "{sys.executable}"\n'
        f'args = ["{LITE}"]  # no flags\n'
        "\n[mcp_servers.other]\n"
        f'command = "{sys.executable}"\n'
        "enabled = true\n",
        encoding="utf-8",
    )
    set_mcp_server_enabled("lite", False)
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# my servers\n[mcp_servers.lite]  # the quick one\nenabled = false\n")
    assert "# no flags" in text
    set_mcp_server_enabled("other", False)
    assert config.read_text(encoding="utf-8").endswith(
        f'[mcp_servers.other]\ncommand = "{sys.executable}"\nenabled = false\n'
    )
    assert {name: s.enabled for name, s in load_settings().mcp_servers.items()} == {"lite": False, "other": False}

    config.write_text(f'mcp_servers = {{ lite = {{ command = "{sys.executable}", args = ["{LITE}"] }} }}\n')
    set_mcp_server_enabled("lite", False)
    assert load_settings().mcp_servers["lite"].enabled is False
    assert load_settings().mcp_servers["lite"].args == [LITE]


def test_a_taken_tool_name_gets_its_servers_prefix_and_still_calls_the_servers_own_tool():
    listing = list_tools(mcp_servers={"lite": lite(), "two": lite()})
    assert [s.tools for s in listing.servers] == [["add", "slow", "echo"], ["two_add", "two_slow", "two_echo"]]
    assert "mcp:two: tool 'add' is offered as 'two_add' (name taken)" in listing.warnings
    catalog = ToolCatalog(mcp_servers={"lite": lite(), "two": lite()})
    assert "two_add" in catalog.default_names()
    assert catalog.build(["two_add"])[0].invoke({"a": 1, "b": 2}) == "3"


def test_streamable_http_with_the_key_and_without_it():
    import socket
    import subprocess
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, LITE, "--http", str(port), "--key", SECRET])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the HTTP server did not start"
                time.sleep(0.02)
        url = f"http://127.0.0.1:{port}/mcp"
        listing = list_tools(
            mcp_servers={
                "web": McpServer(url=url, headers={"Authorization": f"Bearer {SECRET}"}),
                "nokey": McpServer(url=url, headers={"Authorization": "Bearer wrong-key"}),
            }
        )
        web, nokey = listing.servers
        assert (web.transport, web.status, web.tools) == ("http", "connected", ["add", "slow", "echo"])
        assert web.settings["headers"] == {"Authorization": "***"} and SECRET not in str(listing.to_dict())
        assert nokey.status == "failed" and nokey.problem.endswith("(HTTP 401, check its headers)")
    finally:
        process.terminate()
        process.wait(10)
