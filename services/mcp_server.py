"""llmdeck as an MCP server: another host (an editor, oterm, Claude Desktop) uses a user's local models and
documents through the Model Context Protocol.

The tools call the same services as the CLI and the app: the RAG collections (`rag.query`: list, search with
numbered citations), the model store (`services.models`: list, show), a chat with a store model
(`services.chat.chat`, optionally from a collection) and the writer/executor verify pair
(`services.verify.verify`, recorded as a run like `llmdeck verify`). A bad argument or a failed call is the tool's
error result with llmdeck's one-line message; blocking work runs off the server's event loop.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from llmdeck.core.errors import LlmdeckError

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

SERVER_NAME = "llmdeck"
INSTRUCTIONS = (
    "Local models and documents of an llmdeck installation. Search a document collection with rag_search"
    " (rag_collections lists them) and cite the numbered sources; chat answers with a local store model"
    " (models_list names them); verify has a local model write Python and runs it in a sandbox."
)
MAX_K = 50

T = TypeVar("T")


async def _off_loop(work: Callable[[], T]) -> T:
    """Run blocking service code in a worker thread; llmdeck's errors become the tool's error result."""
    import anyio
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        return await anyio.to_thread.run_sync(work)
    except LlmdeckError as exc:
        raise ToolError(str(exc)) from None


# -- what each tool does (plain functions: the tests and the tools call these) ----------------------
def collections() -> dict[str, Any]:
    from llmdeck.rag.query import list_collections

    return {"collections": [info.to_dict() for info in list_collections()]}


def search(collection: str, query: str, k: int = 5) -> dict[str, Any]:
    """The `k` passages of `collection` closest to `query`, numbered as citations, with their sources."""
    from llmdeck.core.errors import BadInput
    from llmdeck.rag.chat import format_sources
    from llmdeck.rag.query import query as retrieve

    if not 1 <= k <= MAX_K:
        raise BadInput(f"k {k}: expected 1..{MAX_K}")
    hits = retrieve(collection, query, k=k)
    results = [
        {
            "n": n,
            "source": hit.metadata.get("source"),
            "chunk": hit.metadata.get("chunk"),
            "title": hit.metadata.get("title"),
            "score": round(hit.score, 4),
            "text": hit.text,
        }
        for n, hit in enumerate(hits, start=1)
    ]
    return {"collection": collection, "query": query, "results": results, "citations": format_sources(hits)}


def models() -> dict[str, Any]:
    from llmdeck.services.models import model_rows

    rows = model_rows()
    return {
        "models": [{**_entry_summary(row.entry.to_dict()), "run": row.run_name, "train_loss": row.loss} for row in rows]
    }


def _entry_summary(entry: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "architecture", "parameter_count", "quant_type", "size_bytes", "context_length", "is_default")
    return {key: entry.get(key) for key in keys if key in entry}


def model(name: str) -> dict[str, Any]:
    from llmdeck.services.models import model_details

    details = model_details(name)
    return {
        "model": details.row.entry.to_dict(),
        "run": details.row.run_name,
        "train_loss": details.row.loss,
        "eval_loss": details.row.eval_loss,
        "gguf_name": details.model_name,
        "chat_template": details.chat_template,
        "lineage": dataclasses.asdict(details.lineage),
        "problem": details.problem,
    }


def answer(
    prompt: str,
    model: str | None = None,
    system: str | None = None,
    collection: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
) -> dict[str, Any]:
    """One answer from a store model (no session is stored); from `collection` with its sources when named."""
    from llmdeck.core.runtime import Sampling
    from llmdeck.services.chat import chat
    from llmdeck.services.openai_rag import public_sources

    sampling = Sampling.from_settings(temperature=temperature, max_tokens=max_tokens)
    response = chat(prompt, model=model, system=system, rag=collection, session=False, sampling=sampling)
    text = response.read()
    return {
        "model": response.model,
        "answer": text,
        "sources": public_sources(response.sources),
        "finish_reason": response.stats.finish_reason,
        "tokens": response.stats.tokens,
        **({"warning": response.warning} if response.warning else {}),
    }


def verify_task(
    task: str, model: str | None = None, expect: str | None = None, tests: str | None = None
) -> dict[str, Any]:
    """The verify pair on `task`: a store model writes Python, the sandbox runs it, until the checks pass."""
    from llmdeck.services.verify import verify

    response = verify(task, model=model, expect=expect, tests_text=tests)
    verdict = response.read()
    document: dict[str, Any] = {"run_id": response.run_id, "model": response.model}
    if verdict is None:
        return {**document, "passed": False, "status": "stopped"}
    return {**document, **{k: v for k, v in verdict.to_json().items() if k != "type"}}


# -- the server ---------------------------------------------------------------------------------------
def build_server() -> MCPServer:
    """The MCP server with llmdeck's tools (its transports: `run_stdio`, `http_app`)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    server: MCPServer = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=read_only)
    async def rag_collections() -> dict[str, Any]:
        """List the document collections (name, embedding model, sources, chunks) that rag_search can search."""
        return await _off_loop(collections)

    @server.tool(annotations=read_only)
    async def rag_search(collection: str, query: str, k: int = 5) -> dict[str, Any]:
        """Search a document collection: the k passages closest to the query, best first, numbered [1]..[k]
        with their source file and chunk, so an answer can cite them."""
        return await _off_loop(lambda: search(collection, query, k))

    @server.tool(annotations=read_only)
    async def models_list() -> dict[str, Any]:
        """List the local model store: each GGUF model's name, architecture, size, quantization, and the
        training run it came from."""
        return await _off_loop(models)

    @server.tool(annotations=read_only)
    async def models_show(name: str) -> dict[str, Any]:
        """One store model in full: its file, GGUF metadata, chat template and lineage (base, runs, exports)."""
        return await _off_loop(lambda: model(name))

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=False))
    async def chat(
        prompt: str,
        model: str | None = None,
        system: str | None = None,
        collection: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> dict[str, Any]:
        """Ask a local store model (default: the store's default model). With a collection, it answers from
        those documents and returns the sources it cites."""
        return await _off_loop(lambda: answer(prompt, model, system, collection, max_tokens, temperature))

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, open_world_hint=False, destructive_hint=False))
    async def verify(
        task: str, model: str | None = None, expect: str | None = None, tests: str | None = None
    ) -> dict[str, Any]:
        """Have a local model write a Python program for the task and run it in llmdeck's sandbox, revising it
        until it passes: `expect` is the exact stdout wanted, or `tests` Python asserts run after the code.
        Returns the verdict (passed, status, rounds, the final code); recorded as a run."""
        return await _off_loop(lambda: verify_task(task, model, expect, tests))

    return server


def run_stdio(server: MCPServer) -> None:
    server.run("stdio")


def http_app(server: MCPServer, api_key: str, host: str) -> Callable[..., Any]:
    """The streamable-HTTP app at /mcp behind a bearer-key check (401 without the key)."""
    return BearerKey(server.streamable_http_app(host=host), api_key)


class BearerKey:
    """ASGI layer: every HTTP request needs `Authorization: Bearer KEY`."""

    def __init__(self, app, api_key: str):
        self.app, self.api_key = app, api_key

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not hmac.compare_digest((_bearer(scope) or "").encode(), self.api_key.encode()):
            import json

            body = json.dumps({"error": "invalid or missing bearer key"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b"Bearer"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            return await send({"type": "http.response.body", "body": body})
        return await self.app(scope, receive, send)


def _bearer(scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def run_http(server: MCPServer, host: str, port: int, api_key: str) -> None:
    import uvicorn

    uvicorn.run(http_app(server, api_key, host), host=host, port=port, log_level="warning")
