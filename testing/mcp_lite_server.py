"""A dependency-free MCP server over stdio (JSON-RPC 2.0, one message a line) for the fast tests and the bench:
it starts in tens of milliseconds where the SDK's server (testing/mcp_test_server.py) first imports for seconds.
It answers the handshake (`initialize`, echoing the client's protocol version), `ping`, `tools/list` and
`tools/call`; any other request is JSON-RPC's "method not found", as the spec says.

Tools: add(a, b), slow(seconds), echo(text). `--fail` exits at once; `--malformed` answers every call with a
broken result; `--hang` reads and never answers (it exits when stdin closes). `--http PORT [--key KEY]` serves
streamable HTTP instead (JSON responses), refusing a request without the bearer KEY with a 401.
"""

from __future__ import annotations

import json
import sys
import time

TOOLS = [
    {
        "name": "add",
        "description": "Add two integers.",
        "inputSchema": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
    {
        "name": "slow",
        "description": "Sleep, then answer.",
        "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}, "required": ["seconds"]},
    },
    {
        "name": "echo",
        "description": "Repeat a text.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    },
]


def call(name: str, arguments: dict) -> dict:
    if name == "add":
        text, error = str(int(arguments["a"]) + int(arguments["b"])), False
    elif name == "slow":
        time.sleep(float(arguments["seconds"]))
        text, error = "done", False
    elif name == "echo":
        text, error = str(arguments["text"]), False
    else:
        text, error = f"unknown tool {name}", True
    return {"content": [{"type": "text", "text": text}], "isError": error}


def answer(request: dict) -> dict | None:
    method, params = request.get("method"), request.get("params") or {}
    if "id" not in request:
        return None  # a notification (notifications/initialized, cancelled): nothing to answer
    if method == "initialize":
        result: dict = {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "llmdeck-lite-tools", "version": "1"},
        }
    elif method == "ping":
        result = {}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call" and MALFORMED:
        result = {"content": 42}  # not a list of content blocks
    elif method == "tools/call":
        try:
            result = call(params["name"], params.get("arguments") or {})
        except (KeyError, TypeError, ValueError) as exc:
            result = {"content": [{"type": "text", "text": f"bad arguments: {exc}"}], "isError": True}
    else:
        return {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": f"no method {method}"}}
    return {"jsonrpc": "2.0", "id": request["id"], "result": result}


MALFORMED = "--malformed" in sys.argv  # every tools/call result breaks the schema


def serve_http(port: int, key: str | None) -> None:
    """Streamable HTTP on 127.0.0.1:PORT/mcp, answering each POST with one JSON response (the spec's JSON mode);
    with `key`, a request without `Authorization: Bearer KEY` is a 401."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _status(self, code: int) -> None:
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # no server-to-client stream
            self._status(405)

        def do_DELETE(self) -> None:  # the client ending its session
            self._status(200)

        def do_POST(self) -> None:
            if self.path != "/mcp":
                return self._status(404)
            if key is not None and self.headers.get("Authorization") != f"Bearer {key}":
                return self._status(401)
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            reply = answer(request)
            if reply is None:
                return self._status(202)
            body = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main(argv: list[str]) -> None:
    if "--fail" in argv:
        sys.exit(3)
    if "--http" in argv:
        key = argv[argv.index("--key") + 1] if "--key" in argv else None
        return serve_http(int(argv[argv.index("--http") + 1]), key)
    for line in sys.stdin:  # ends when the client closes stdin
        if "--hang" in argv or not line.strip():
            continue
        reply = answer(json.loads(line))
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
