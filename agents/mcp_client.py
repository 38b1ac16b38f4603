"""Tools from MCP servers (`[mcp_servers.NAME]` in config.toml) as LangChain tools, next to the built-ins.

Each enabled server is reached over stdio (`command`, `args`, `env`) or streamable HTTP (`url`, `headers`) through
the `mcp` SDK's own `Client`. The sessions live on one background event-loop thread (never the app's UI thread):
a server is connected once, its session kept for every later listing and call, and reconnected after a failure.
A server that fails to start, does not answer in `timeout_s`, or returns a malformed result is one line (a
warning when listing, the tool's error observation when calling) and the agent goes on. The values of `env` and
`headers` never appear in a message: every line is redacted.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from llmdeck.core.settings import McpServer

REDACTED = "***"
REQUEST_TIMEOUT = -32001  # the SDK's MCPError code for a request past read_timeout_seconds (mcp_types.REQUEST_TIMEOUT)
MAX_RESULT_CHARS = 1500


@dataclass
class McpTool:
    """One tool a server lists: its name, description and JSON schema of the arguments."""

    server: str
    name: str
    description: str
    parameters: dict


@dataclass
class ServerListing:
    """What listing a server found: its tools, or the one line saying why there are none."""

    name: str
    transport: str  # "stdio" or "http"
    enabled: bool
    tools: list[McpTool] = field(default_factory=list)
    problem: str | None = None

    @property
    def status(self) -> str:
        """disabled, failed (the reason is `problem`) or connected."""
        if not self.enabled:
            return "disabled"
        return "failed" if self.problem else "connected"


def redact(text: str, server: McpServer) -> str:
    """`text` with every secret of `server` (env and header values) replaced by ***."""
    for secret in sorted([*server.env.values(), *server.headers.values()], key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, REDACTED)
    return text


def describe(server: McpServer) -> dict:
    """The server's settings for display and --json: env and header values redacted."""
    shown: dict[str, Any] = {"transport": server.transport, "enabled": server.enabled, "timeout_s": server.timeout_s}
    if server.command:
        shown.update(command=server.command, args=list(server.args))
    if server.url:
        shown["url"] = redact(server.url, server)
    if server.env:
        shown["env"] = {key: REDACTED for key in server.env}
    if server.headers:
        shown["headers"] = {key: REDACTED for key in server.headers}
    return shown


class _Loop:
    """The background event loop every MCP session runs on (a daemon thread, started on first use)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lock = threading.Lock()

    def get(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.loop is None or not self.loop.is_running():
                loop = asyncio.new_event_loop()
                started = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(started.set)
                    loop.run_forever()

                threading.Thread(target=run, name="llmdeck-mcp", daemon=True).start()
                started.wait()
                self.loop = loop
            return self.loop

    def run(self, coro, timeout_s: float):
        future = asyncio.run_coroutine_threadsafe(coro, self.get())
        try:
            return future.result(timeout_s)
        except FutureTimeout:
            future.cancel()
            raise


_LOOP = _Loop()


class _Connection:
    """One server's session, held open by a task on the background loop that serves requests from a queue (the
    SDK's context managers are entered and left in that one task)."""

    def __init__(self, name: str, server: McpServer):
        self.name, self.server = name, server
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        self.ready: asyncio.Future | None = None
        self.http_error: int | None = None  # the last HTTP error status the server answered (401: the key)

    def _transport(self):
        if self.server.url:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            async def note_status(response) -> None:
                if response.status_code >= 400:
                    self.http_error = response.status_code

            http = httpx2.AsyncClient(
                headers=dict(self.server.headers),
                timeout=self.server.timeout_s,
                event_hooks={"response": [note_status]},
            )
            return streamable_http_client(self.server.url, http_client=http), http
        from mcp.client.stdio import StdioServerParameters, stdio_client

        assert self.server.command is not None  # the settings require a command or a url
        params = StdioServerParameters(
            command=self.server.command, args=list(self.server.args), env=dict(self.server.env)
        )
        return stdio_client(params, errlog=_devnull()), None

    async def _serve(self) -> None:
        from mcp import Client

        assert self.queue is not None and self.ready is not None
        try:
            transport, http = self._transport()
            try:
                async with Client(transport, read_timeout_seconds=self.server.timeout_s) as client:
                    if not self.ready.done():
                        self.ready.set_result(None)
                    while True:
                        request = await self.queue.get()
                        if request is None:
                            return
                        job, reply = request
                        try:
                            result = await job(client)
                        except BaseException as exc:  # the caller gets the error; a broken session ends here
                            if not reply.done():
                                reply.set_exception(exc)
                            if not isinstance(exc, Exception) or isinstance(exc, (OSError, EOFError)):
                                raise
                        else:
                            if not reply.done():
                                reply.set_result(result)
            finally:
                if http is not None:
                    await http.aclose()
        except BaseException as exc:
            if not self.ready.done():
                self.ready.set_exception(exc if isinstance(exc, Exception) else ConnectionError(str(exc)))
            raise
        finally:
            self.task = None

    async def request(self, job: Callable[[Any], Any]):
        if self.task is None or self.task.done():
            self.queue = asyncio.Queue()
            self.ready = asyncio.get_running_loop().create_future()
            self.task = asyncio.create_task(self._serve())
            self.task.add_done_callback(lambda task: task.cancelled() or task.exception())
        assert self.queue is not None and self.ready is not None
        await self.ready
        reply = asyncio.get_running_loop().create_future()
        await self.queue.put((job, reply))
        return await reply

    async def close(self) -> None:
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except BaseException:  # noqa: S110 - closing: its error was reported when it happened
                pass


_CONNECTIONS: dict[tuple[str, str], _Connection] = {}
_CONNECTIONS_LOCK = threading.Lock()


def _devnull():
    return open(os.devnull, "w")  # noqa: SIM115 - a server's stderr, for the life of its process


def _connection(name: str, server: McpServer) -> _Connection:
    key = (name, server.model_dump_json())
    with _CONNECTIONS_LOCK:
        if key not in _CONNECTIONS:
            _CONNECTIONS[key] = _Connection(name, server)
        return _CONNECTIONS[key]


def _drop(name: str, server: McpServer) -> None:
    """Forget a server's session (after a timeout or a failure): the next use reconnects."""
    with _CONNECTIONS_LOCK:
        connection = _CONNECTIONS.pop((name, server.model_dump_json()), None)
    if connection is not None and _LOOP.loop is not None:
        _closing(connection)


_CLOSING: set = set()  # concurrent futures of sessions being closed (a stdio server gets ~2 s to exit, then a kill)


def _closing(connection: _Connection) -> None:
    """Close `connection` on the background loop; close_all waits for it, so no server outlives this process."""
    assert _LOOP.loop is not None  # callers check: a connection exists only once the loop runs
    future = asyncio.run_coroutine_threadsafe(connection.close(), _LOOP.loop)
    _CLOSING.add(future)
    future.add_done_callback(_CLOSING.discard)


def _problem(exc: BaseException, server: McpServer, connection: _Connection | None = None) -> str:
    """The one line for a failure; an HTTP server's error status is named (the SDK's message does not say it)."""
    line = _exception_line(exc, server)
    if connection is not None and connection.http_error is not None and "no answer in" not in line:
        line += f" (HTTP {connection.http_error}{', check its headers' if connection.http_error in (401, 403) else ''})"
    return line


def _exception_line(exc: BaseException, server: McpServer) -> str:
    if isinstance(exc, (FutureTimeout, TimeoutError)) or getattr(exc, "code", None) == REQUEST_TIMEOUT:
        return f"no answer in {server.timeout_s:g} s"
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _exception_line(exc.exceptions[0], server)
    errors = getattr(exc, "errors", None)
    if type(exc).__name__ == "ValidationError" and callable(errors) and errors():
        first = errors()[0]  # pydantic's: the answer does not fit the protocol's schema
        where = ".".join(str(part) for part in first.get("loc", ())) or "result"
        return redact(f"malformed answer ({where}: {first.get('msg', 'invalid')})"[:300], server)
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(f"{type(exc).__name__}: {text}"[:300], server)


def list_server(name: str, server: McpServer) -> ServerListing:
    """The tools `server` lists (connecting it when needed), or the one line why not."""
    listing = ServerListing(name, server.transport, server.enabled)
    if not server.enabled:
        return listing

    async def job(client):
        return (await client.list_tools()).tools

    connection = _connection(name, server)
    try:
        tools = _LOOP.run(connection.request(job), server.timeout_s + 1)
    except BaseException as exc:
        if not isinstance(exc, Exception):
            raise
        _drop(name, server)
        listing.problem = _problem(exc, server, connection)
        return listing
    for tool in tools:
        schema = tool.input_schema if isinstance(tool.input_schema, dict) else {"type": "object", "properties": {}}
        listing.tools.append(McpTool(name, tool.name, (tool.description or tool.name).strip(), schema))
    return listing


def list_servers(servers: dict[str, McpServer]) -> list[ServerListing]:
    """Every server's listing, the servers asked at once: a hanging one costs its own timeout, not the sum."""
    from concurrent.futures import ThreadPoolExecutor

    if not servers:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(servers)), thread_name_prefix="llmdeck-mcp-list") as pool:
        return list(pool.map(lambda item: list_server(*item), servers.items()))


def forget(name: str) -> None:
    """End every session of the server called `name` (disabled: its stdio process exits)."""
    with _CONNECTIONS_LOCK:
        keys = [key for key in _CONNECTIONS if key[0] == name]
        connections = [_CONNECTIONS.pop(key) for key in keys]
    if connections and _LOOP.loop is not None and _LOOP.loop.is_running():
        for connection in connections:
            _closing(connection)


def call_tool(name: str, server: McpServer, tool: str, arguments: dict) -> str:
    """Call `tool` on the server; its text content, clipped. Raises ToolFailed (one line) when the server fails,
    hangs past its timeout, answers malformed, or the tool reports an error."""

    async def job(client):
        return await client.call_tool(tool, arguments)

    connection = _connection(name, server)
    try:
        result = _LOOP.run(connection.request(job), server.timeout_s + 1)
    except BaseException as exc:
        if not isinstance(exc, Exception):
            raise
        _drop(name, server)
        raise ToolFailed(f"mcp server {name}, tool {tool}: {_problem(exc, server, connection)}") from None
    try:
        text = _result_text(result)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ToolFailed(f"mcp server {name}, tool {tool}: malformed result ({_problem(exc, server)})") from None
    text = redact(text, server)
    if getattr(result, "is_error", False):
        raise ToolFailed(f"mcp server {name}, tool {tool}: {' '.join(text.split())[:300]}")
    return text if len(text) <= MAX_RESULT_CHARS else text[:MAX_RESULT_CHARS] + "\n..."


def _result_text(result) -> str:
    import json

    parts = []
    for block in result.content:
        if getattr(block, "type", None) == "text":
            parts.append(block.text)
        else:
            parts.append(f"({getattr(block, 'type', type(block).__name__)} content)")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts) if parts else "(no output)"


class ToolFailed(Exception):
    """An MCP tool call that did not give a result: the agent sees this one line as the tool's error."""


def langchain_tool(tool: McpTool, server: McpServer, name: str | None = None):
    """A LangChain tool calling `tool` on its server: the schema is the server's own (the grammar decodes it).
    `name`: what agents call it, when the server's name for it is taken (`SERVER_TOOL`)."""
    from langchain_core.tools import StructuredTool, ToolException

    def run(**arguments: Any) -> str:
        try:
            return call_tool(tool.server, server, tool.name, arguments)
        except ToolFailed as exc:
            raise ToolException(str(exc)) from None

    return StructuredTool(
        name=name or tool.name,
        description=tool.description,
        args_schema=tool.parameters,
        func=run,
        handle_tool_error=True,
        metadata={"mcp_server": tool.server, "mcp_tool": tool.name},
    )


def close_all() -> None:
    """End every session (the stdio servers exit); called at exit."""
    with _CONNECTIONS_LOCK:
        connections = list(_CONNECTIONS.values())
        _CONNECTIONS.clear()
    if _LOOP.loop is None or not _LOOP.loop.is_running():
        return
    pending = list(_CLOSING)  # sessions dropped after a failure or a disable, still closing

    async def close() -> None:
        await asyncio.gather(*(connection.close() for connection in connections), return_exceptions=True)
        await asyncio.gather(*(asyncio.wrap_future(future) for future in pending), return_exceptions=True)

    if not connections and not pending:
        return
    try:
        _LOOP.run(close(), 8)  # the SDK gives a stdio server 2 s after stdin closes, then terminates, then kills
    except Exception:  # noqa: S110 - exiting anyway
        pass


atexit.register(close_all)
