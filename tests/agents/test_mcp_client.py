"""MCP tools through our client against a real MCP server written for the tests (testing/mcp_test_server.py):
stdio and streamable HTTP, a failing and a hanging server, a tool past its timeout, secrets redacted."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmdeck.agents.mcp_client import ToolFailed, call_tool, describe, list_server
from llmdeck.agents.tools import ToolCatalog
from llmdeck.core.settings import McpServer

SERVER = str(Path(__file__).resolve().parents[2] / "testing" / "mcp_test_server.py")
LITE = str(Path(__file__).resolve().parents[2] / "testing" / "mcp_lite_server.py")
SECRET = "s3cret-value-42"


def stdio(*flags: str, timeout_s: float = 20.0) -> McpServer:
    return McpServer(
        command=sys.executable, args=[SERVER, *flags], env={"MCP_TEST_SECRET": SECRET}, timeout_s=timeout_s
    )


@pytest.mark.slow  # a real server process (~2 s)
def test_listing_and_calling_over_stdio():
    server = stdio()
    listing = list_server("t", server)
    assert listing.problem is None, listing.problem
    tools = {tool.name: tool for tool in listing.tools}
    assert {"add", "secret_seen", "slow"} <= set(tools)
    assert tools["add"].parameters["required"] == ["a", "b"]
    assert call_tool("t", server, "add", {"a": 2, "b": 40}) == "42"
    assert call_tool("t", server, "secret_seen", {}) == "secret set"
    assert SECRET not in call_tool("t", server, "echo_secret", {})  # redacted
    assert SECRET not in str(describe(server))


def test_the_catalog_offers_mcp_tools_by_default():
    catalog = ToolCatalog(mcp_servers={"t": McpServer(command=sys.executable, args=[LITE])})  # starts in ms
    assert "add" in catalog.default_names()
    tool = catalog.build(["add"])[0]
    assert tool.invoke({"a": 1, "b": 2}) == "3"
    info = {row.name: row for row in catalog.info()}
    assert info["add"].source == "mcp:t" and info["add"].default


@pytest.mark.slow  # a real server process (~2 s)
def test_failing_and_hanging_servers_are_one_warning():
    catalog = ToolCatalog(mcp_servers={"bad": stdio("--fail"), "stuck": stdio("--hang", timeout_s=1.0)})
    assert len(catalog.warnings) == 2, catalog.warnings
    assert any(w.startswith("mcp server stuck: no answer in 1 s") for w in catalog.warnings)
    assert all("\n" not in w and SECRET not in w for w in catalog.warnings)
    assert "add" not in catalog.names()


def test_a_tool_past_the_timeout_is_one_line_and_the_session_recovers():
    # the dependency-free server: a new process answers within the timeout (the SDK's imports for seconds first)
    server = McpServer(command=sys.executable, args=[LITE], timeout_s=0.5)
    with pytest.raises(ToolFailed, match=r"no answer in 0.5 s"):
        call_tool("slow", server, "slow", {"seconds": 5})
    assert call_tool("slow", server, "add", {"a": 1, "b": 1}) == "2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # a real server process (~2 s)
def test_streamable_http_with_a_secret_header():
    port = free_port()
    process = subprocess.Popen([sys.executable, SERVER, "--http", str(port)], stderr=subprocess.DEVNULL)
    try:
        server = McpServer(url=f"http://127.0.0.1:{port}/mcp", headers={"Authorization": f"Bearer {SECRET}"})
        for _ in range(100):
            listing = list_server("web", server)
            if listing.problem is None:
                break
            time.sleep(0.1)
        assert listing.problem is None, listing.problem
        assert call_tool("web", server, "add", {"a": 5, "b": 6}) == "11"
        assert SECRET not in str(describe(server))
    finally:
        process.terminate()
        process.wait(10)


def test_settings_refuse_a_server_without_a_transport():
    with pytest.raises(ValueError, match="either command"):
        McpServer()


def test_a_malformed_answer_is_one_line_for_the_agent():
    server = McpServer(command=sys.executable, args=[LITE, "--malformed"])
    with pytest.raises(ToolFailed) as failed:
        call_tool("m", server, "add", {"a": 1, "b": 2})
    assert str(failed.value) == "mcp server m, tool add: malformed answer (content: Input should be a valid list)"
    tool = ToolCatalog(mcp_servers={"m": server}).build(["add"])[0]
    assert tool.invoke({"a": 1, "b": 2}).startswith("mcp server m, tool add: malformed answer")  # its observation
