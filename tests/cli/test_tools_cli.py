"""`llmdeck tools list / enable / disable` in-process with MCP servers in config.toml (the dependency-free stdio
server of testing/): the servers' table and --json, a failing server as one warning, a server turned off and on,
an unknown one refused in one line with exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.core.settings import McpServer, update_settings

LITE = str(Path(__file__).resolve().parents[2] / "testing" / "mcp_lite_server.py")
SECRET = "cli-secret-value-7"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def configure() -> None:
    servers = {
        "lite": McpServer(command=sys.executable, args=[LITE], env={"TOKEN": SECRET}),
        "bad": McpServer(command=sys.executable, args=[LITE, "--fail"]),
    }
    update_settings(mcp_servers={name: s.model_dump(exclude_none=True) for name, s in servers.items()})


def test_tools_list_shows_each_server_and_its_tools():
    configure()
    result = invoke("tools", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.split()[:3] == ["add", "yes", "mcp:lite"] for line in lines)
    header = lines.index(next(line for line in lines if line.startswith("MCP SERVER")))
    assert lines[header].split() == ["MCP", "SERVER", "TRANSPORT", "ENABLED", "TOOLS", "STATUS"]
    assert lines[header + 1].split() == ["lite", "stdio", "yes", "add,", "slow,", "echo", "connected"]
    assert lines[header + 2].split()[:4] == ["bad", "stdio", "yes", "failed:"]
    assert result.stderr.count("warning: mcp server bad: ") == 1
    assert SECRET not in result.output
    document = json.loads(invoke("tools", "list", "--json").stdout)
    servers = {server["name"]: server for server in document["mcp_servers"]}
    assert servers["lite"]["settings"]["env"] == {"TOKEN": "***"} and servers["bad"]["status"] == "failed"
    add = next(tool for tool in document["tools"] if tool["name"] == "add")
    assert add["parameters"]["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}


def test_disable_and_enable_a_server():
    configure()
    result = invoke("tools", "disable", "lite")
    assert result.exit_code == 0 and result.stderr.startswith("mcp server lite: disabled in config.toml")
    document = json.loads(invoke("tools", "list", "--json").stdout)
    assert "add" not in [tool["name"] for tool in document["tools"]]
    assert [s["status"] for s in document["mcp_servers"] if s["name"] == "lite"] == ["disabled"]
    enabled = json.loads(invoke("tools", "enable", "lite", "--json").stdout)
    assert (enabled["name"], enabled["enabled"], enabled["settings"]["env"]) == ("lite", True, {"TOKEN": "***"})
    assert "add" in [tool["name"] for tool in json.loads(invoke("tools", "list", "--json").stdout)["tools"]]


def test_an_unknown_server_is_one_line_and_exit_2():
    configure()
    result = CliRunner().invoke(cli, ["tools", "enable", "nope"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: mcp server 'nope' is not in config.toml (configured: bad, lite)"
    ]
