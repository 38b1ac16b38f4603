"""RAG collections as models of the OpenAI-compatible endpoint: `"model": "rag:COLLECTION"`.

An ASGI layer in front of llama-cpp-python's server app: chat completions naming `rag:NAME` are answered by
`services.chat.chat(rag=NAME)` (the same RAG chat as `llmdeck chat --rag`), every other request goes through
unchanged. The answer text ends with the numbered sources it cites; the non-streaming response and the final
streamed chunk also carry them as a `sources` list. The conversation comes from the request (no session is
stored); the API key rule is the server's (a bearer token when one is set).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence

from llmdeck.core.errors import LlmdeckError

RAG_PREFIX = "rag:"


def sources_block(sources: list[dict]) -> str:
    """The numbered citations appended to an answer's text."""
    if not sources:
        return ""
    lines = [
        f"[{s['n']}] {s['source']}"
        + (f" § {_section(s)}" if _section(s) else "")
        + (f" (chunk {s['chunk']})" if s.get("chunk") is not None else "")
        for s in sources
    ]
    return "\n\nSources:\n" + "\n".join(lines)


def public_sources(sources: list[dict]) -> list[dict]:
    return [{k: s.get(k) for k in ("n", "source", "chunk", "title", "section", "score")} for s in sources]


def _section(source: dict) -> str:
    from llmdeck.rag.documents import section_label

    return section_label(source)


class RagEndpoint:
    """ASGI app: `rag:COLLECTION` chat completions and model listing; everything else goes to `app`."""

    def __init__(
        self,
        app,
        collections: Sequence[str],
        model: str | None,
        api_key: str | None = None,
        adapter: str | None = None,
        complete: Callable[..., dict] | None = None,
    ):
        self.app = app
        self.collections = list(collections)
        self.model = model
        self.api_key = api_key
        self.adapter = adapter  # a run whose LoRA the answering model applies
        # (model_id, collection, model, prompt, history, options) -> the chat.completion document
        self.complete = complete or _completion

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"].rstrip("/"), scope["method"]
        if method == "GET" and path == "/v1/models":
            return await self._models(scope, receive, send)
        if method == "POST" and path == "/v1/chat/completions":
            body = await _read_body(receive)
            request = _json_or_none(body)
            if isinstance(request, dict) and str(request.get("model", "")).startswith(RAG_PREFIX):
                return await self._chat(scope, request, receive, send)
            return await self.app(scope, _replay(body, receive), send)
        return await self.app(scope, receive, send)

    def _model(self) -> dict:
        return {"model": self.model, "adapter": self.adapter}

    # -- responses -------------------------------------------------------------------------------
    async def _models(self, scope, receive, send):
        """The server's own listing with the RAG models appended."""
        captured: dict = {"start": None, "body": b""}

        async def capture(message):
            if message["type"] == "http.response.start":
                captured["start"] = message
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")

        await self.app(scope, receive, capture)
        start, listing = captured["start"], _json_or_none(captured["body"])
        if start and start["status"] == 200 and isinstance(listing, dict):
            listing.setdefault("data", []).extend(
                {"id": RAG_PREFIX + name, "object": "model", "owned_by": "llmdeck", "permissions": []}
                for name in self.collections
            )
            captured["body"] = json.dumps(listing).encode()
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            start = {**start, "headers": headers + [(b"content-length", str(len(captured["body"])).encode())]}
        await send(start)
        await send({"type": "http.response.body", "body": captured["body"]})

    async def _chat(self, scope, request: dict, receive, send):
        from starlette.responses import JSONResponse, StreamingResponse

        if self.api_key and _bearer(scope) != self.api_key:
            response = JSONResponse(_error("Invalid API key", "invalid_api_key"), status_code=401)
            return await response(scope, receive, send)
        collection = request["model"][len(RAG_PREFIX) :]
        if collection not in self.collections:
            served = ", ".join(RAG_PREFIX + c for c in self.collections)
            return await JSONResponse(
                _error(f"model {request['model']!r} is not served (served: {served})", "model_not_found"),
                status_code=404,
            )(scope, receive, send)
        try:
            prompt, history = _conversation(request.get("messages"))
        except ValueError as exc:
            return await JSONResponse(_error(str(exc), "invalid_request"), status_code=400)(scope, receive, send)
        options = {
            "temperature": request.get("temperature"),
            "top_p": request.get("top_p"),
            "max_tokens": request.get("max_tokens"),
            "seed": request.get("seed"),
        }
        if request.get("stream"):
            stream = _stream_chunks(request["model"], collection, self._model(), prompt, history, options)
            return await StreamingResponse(stream, media_type="text/event-stream")(scope, receive, send)
        import anyio

        try:
            document = await anyio.to_thread.run_sync(
                lambda: self.complete(request["model"], collection, self._model(), prompt, history, options)
            )
        except LlmdeckError as exc:
            return await JSONResponse(_error(str(exc), "rag_failed"), status_code=400)(scope, receive, send)
        await JSONResponse(document)(scope, receive, send)


def _answer(collection: str, model: dict, prompt: str, history: list[dict], options: dict):
    from llmdeck.core.runtime import Sampling
    from llmdeck.services.chat import chat

    sampling = Sampling.from_settings(**options)
    return chat(
        prompt,
        model=model["model"],
        adapter=model["adapter"],
        history=history,
        rag=collection,
        session=False,
        sampling=sampling,
    )


def _completion(model_id: str, collection: str, model: dict, prompt: str, history: list[dict], options: dict) -> dict:
    response = _answer(collection, model, prompt, history, options)
    text = response.read() + sources_block(response.sources)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": response.stats.finish_reason or "stop",
            }
        ],
        "usage": {"completion_tokens": response.stats.tokens},
        "sources": public_sources(response.sources),
    }


def _stream_chunks(
    model_id: str, collection: str, model: dict, prompt: str, history: list[dict], options: dict
) -> Iterator[str]:
    """Server-sent events: the answer's pieces, the sources block, then a final chunk with `sources`."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model_id,
    }

    def event(delta: dict, finish: str | None = None, **extra) -> str:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(chunk)}\n\n"

    try:
        response = _answer(collection, model, prompt, history, options)
    except LlmdeckError as exc:
        yield f"data: {json.dumps(_error(str(exc), 'rag_failed'))}\n\n"
        return
    yield event({"role": "assistant", "content": ""})
    try:
        for piece in response:
            yield event({"content": piece})
    finally:
        response.close()
    block = sources_block(response.sources)
    if block:
        yield event({"content": block})
    yield event({}, response.stats.finish_reason or "stop", sources=public_sources(response.sources))
    yield "data: [DONE]\n\n"


def _conversation(messages) -> tuple[str, list[dict]]:
    """(the last user message, the user/assistant turns before it) from an OpenAI messages list."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages: expected a non-empty list")
    turns = [m for m in messages if isinstance(m, dict) and m.get("role") in ("user", "assistant")]
    if not turns or turns[-1]["role"] != "user":
        raise ValueError("messages: expected the last message to be from the user")
    text = lambda m: m.get("content") if isinstance(m.get("content"), str) else ""  # noqa: E731
    return text(turns[-1]), [{"role": m["role"], "content": text(m)} for m in turns[:-1]]


def _error(message: str, code: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def _bearer(scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def _json_or_none(body: bytes):
    try:
        return json.loads(body or b"null")
    except (ValueError, RecursionError):
        return None


async def _read_body(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def _replay(body: bytes, receive):
    sent = {"done": False}

    async def replayed():
        if not sent["done"]:
            sent["done"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
