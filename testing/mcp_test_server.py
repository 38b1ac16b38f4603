"""A small MCP server for the tests and bench/mcp.py (a real one, on the `mcp` SDK): stdio by default,
`--http PORT` for streamable HTTP on 127.0.0.1; `--hang` never answers the handshake, `--fail` exits at once.

Tools: add(a, b), secret_seen() (whether MCP_TEST_SECRET reached it, never its value), echo_secret() (its value:
the client must redact it), slow(seconds).
"""

from __future__ import annotations

import os
import sys
import time


def build():
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("llmdeck-test-tools", log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> str:
        """Add two integers."""
        return str(a + b)

    @server.tool()
    def secret_seen() -> str:
        """Whether the server got its secret."""
        return "secret set" if os.environ.get("MCP_TEST_SECRET") else "no secret"

    @server.tool()
    def echo_secret() -> str:
        """Returns the secret (the client must redact it)."""
        return f"the secret is {os.environ.get('MCP_TEST_SECRET', '')}"

    @server.tool()
    def slow(seconds: float) -> str:
        """Sleep, then answer."""
        time.sleep(seconds)
        return "done"

    return server


def main(argv: list[str]) -> None:
    if "--fail" in argv:
        sys.exit(3)
    if "--hang" in argv:
        time.sleep(3600)
    server = build()
    if "--http" in argv:
        server.run("streamable-http", host="127.0.0.1", port=int(argv[argv.index("--http") + 1]))
    else:
        server.run("stdio")


if __name__ == "__main__":
    main(sys.argv[1:])
