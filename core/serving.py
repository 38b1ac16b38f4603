"""An OpenAI-compatible HTTP endpoint over store models, via llama-cpp-python's server routes.

Many models behind one URL, as Ollama and llama-swap serve them: each store model is served under its store
name and routed by the request's `"model"`; a model loads on its first request, stays loaded `keep_alive`
seconds after its last one (Ollama's semantics: 0 unloads right after the request, never for a negative
value), and at most `loaded_model_cache` are loaded at once (the least recently used idle one is unloaded
first). `/v1/models` lists every served model (loaded or not, with `loaded` and `expires_at`), `/v1/embeddings`
answers with the RAG embedding model, and a model that is not served is answered 404 `model_not_found` in the
OpenAI API's error shape (llama-cpp-python's own proxy silently answers with its first model instead).
Everything that can be checked is checked before the server announces itself: the models resolve and their
files are whole GGUFs, the port is free, the key is set.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.events import Event
from llmdeck.core.runtime import LoadOptions

API_KEY_ENV = "LLMDECK_API_KEY"
KEEP_ALIVE_ENV = "LLMDECK_KEEP_ALIVE"
KEEP_ALIVE_DEFAULT = "5m"  # Ollama's default
MODEL_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
MAX_EMBEDDING_INPUTS = 2048  # the OpenAI API's limit per request

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_keep_alive(text: str | int | float) -> float | None:
    """Seconds an idle model stays loaded, from Ollama's keep-alive forms: a Go duration ("5m", "1h30m", "45s"),
    plain seconds ("300"), "0" (unload right after each request) or a negative value ("-1", "-1m": never,
    returned as None). BadInput naming `--keep-alive` otherwise."""
    value = str(text).strip()
    body = value.removeprefix("-")
    seconds: float | None = None
    if re.fullmatch(r"\d+(?:\.\d+)?", body):
        seconds = float(body)
    elif body and re.fullmatch(f"(?:{_DURATION_PART.pattern})+", body):
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(body))
    if seconds is None:
        raise BadInput(
            f"--keep-alive {value!r}: expected a duration like 5m, 30s or 1h30m, seconds, 0 (unload after each"
            " request) or -1 (never unload)"
        )
    if value.startswith("-") and seconds > 0:
        return None
    return seconds


def describe_keep_alive(seconds: float | None) -> str:
    if seconds is None:
        return "never unloaded"
    if seconds == 0:
        return "unloaded after each request"
    return f"unloaded after {seconds:g} s idle"


# -- events --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelLoaded(Event):
    type = "model_loaded"
    name: str
    seconds: float


@dataclass(frozen=True)
class ModelUnloaded(Event):
    type = "model_unloaded"
    name: str
    reason: str  # "keep-alive" (idle for keep_alive), "evicted" (room for another), "stopped" (server shut down)


# what the server did with a model (the CLI prints one line per event)
SERVE_EVENTS = (ModelLoaded, ModelUnloaded)
ServeEvent = ModelLoaded | ModelUnloaded


# -- the models ------------------------------------------------------------------------------------
@dataclass
class _Slot:
    settings: Any  # llama-cpp-python's ModelSettings
    llama: Any = None
    in_use: int = 0  # requests between their arrival and the end of their response
    last_used: float = 0.0
    expires_at: float | None = None  # wall-clock time an idle model unloads
    release: int = 0  # bumped by every request: an expiry scheduled before it is void


class ModelPool:
    """The served llama.cpp models by name, loaded on demand; it stands in for llama-cpp-python's `LlamaProxy`
    (which holds one model at a time and falls back to the first for an unknown name).

    `capacity`: most models loaded at once (the least recently used idle one is unloaded to make room; when all
    are busy the pool runs over by one until a request ends). `keep_alive`: seconds an idle model stays loaded
    (None: forever, 0: unloaded when its last request ends). `load(settings)` builds the `Llama`."""

    def __init__(
        self,
        model_settings: dict[str, Any],
        capacity: int,
        keep_alive: float | None,
        load: Callable[[Any], Any] | None = None,
        on_event: Callable[[ServeEvent], None] | None = None,
    ):
        if not model_settings:
            raise ValueError("a pool needs at least one model")
        self.slots = {name: _Slot(settings) for name, settings in model_settings.items()}
        self.default = next(iter(self.slots))
        self.capacity, self.keep_alive = capacity, keep_alive
        self._load = load or _load_llama
        self._emit = on_event or (lambda event: None)
        self._lock = threading.Lock()  # the slots' state: held briefly, also on the event loop's thread
        self._load_lock = threading.Lock()  # one load at a time: held for seconds, never on the event loop's thread

    # llama-cpp-python's proxy interface: its routes call pool(model), iterate it and free it
    def __call__(self, model: str | None = None) -> Any:
        return self.acquire(self.name_of(model))

    def __iter__(self):
        return iter(self.slots)

    def __contains__(self, name: object) -> bool:
        return name in self.slots

    def __getitem__(self, model: str) -> dict:
        return self.slots[model].settings.model_dump()

    def free(self) -> None:
        with self._lock:
            for name in self.slots:
                self._unload(name, "stopped")

    def name_of(self, model: str | None) -> str:
        """The served name a request means: its `model`, or the default (first) one when it names none."""
        if model is None:
            return self.default
        if model not in self.slots:
            raise KeyError(model)  # the router answers 404 before a request gets here
        return model

    # requests: begin when one arrives, end when its response has been sent
    def begin(self, name: str) -> None:
        with self._lock:
            slot = self.slots[name]
            slot.in_use += 1
            slot.release += 1
            slot.expires_at = None

    def end(self, name: str) -> int | None:
        """The request is over: unload now (keep-alive 0) or return the token that `expire` needs later."""
        with self._lock:
            slot = self.slots[name]
            slot.in_use -= 1
            slot.last_used = time.monotonic()
            self._make_room(keep=None)  # a pool that ran over while every model was busy
            if slot.in_use or slot.llama is None or self.keep_alive is None:
                return None
            if self.keep_alive == 0:
                self._unload(name, "keep-alive")
                return None
            slot.expires_at = time.time() + self.keep_alive
            return slot.release

    def expire(self, name: str, token: int) -> None:
        """`keep_alive` seconds after `end` gave `token`: unload the model unless a request came since."""
        with self._lock:
            slot = self.slots[name]
            if slot.release == token and not slot.in_use:
                self._unload(name, "keep-alive")

    def acquire(self, name: str) -> Any:
        """The loaded `Llama` for `name`, loading it (and making room) first when it is not loaded."""
        with self._lock:
            if (llama := self._touch(name)) is not None:
                return llama
        with self._load_lock:
            with self._lock:
                if (llama := self._touch(name)) is not None:  # loaded by the request before this one
                    return llama
                self._make_room(keep=name)
            started = time.monotonic()
            llama = self._load(self.slots[name].settings)
            with self._lock:
                self.slots[name].llama = llama
                self._touch(name)
        self._emit(ModelLoaded(name, round(time.monotonic() - started, 3)))
        return llama

    def status(self, name: str) -> dict[str, Any]:
        with self._lock:
            slot = self.slots[name]
            return {"loaded": slot.llama is not None, "expires_at": _iso(slot.expires_at) if slot.llama else None}

    def loaded(self) -> list[str]:
        with self._lock:
            return [name for name, slot in self.slots.items() if slot.llama is not None]

    # with self._lock held
    def _touch(self, name: str) -> Any:
        slot = self.slots[name]
        if slot.llama is not None:
            slot.last_used = time.monotonic()
        return slot.llama

    def _make_room(self, keep: str | None) -> None:
        """Unload idle models, least recently used first, until one more (`keep`'s load) fits, or all fit."""
        room = 1 if keep is not None else 0
        while True:
            loaded = [n for n, s in self.slots.items() if s.llama is not None and n != keep]
            idle = [n for n in loaded if not self.slots[n].in_use]
            if len(loaded) + room <= self.capacity or not idle:
                return
            self._unload(min(idle, key=lambda n: self.slots[n].last_used), "evicted")

    def _unload(self, name: str, reason: str) -> None:
        slot = self.slots[name]
        if slot.llama is None:
            return
        llama, slot.llama, slot.expires_at = slot.llama, None, None
        llama.close()
        self._emit(ModelUnloaded(name, reason))


def _load_llama(settings: Any) -> Any:
    from llama_cpp.server.model import LlamaProxy

    return LlamaProxy.load_llama_from_model_settings(settings)


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass(frozen=True)
class EmbeddingModel:
    """An embedding model served at /v1/embeddings: `embed(texts)` gives (vectors, tokens counted)."""

    name: str
    embed: Callable[[list[str]], tuple[list[list[float]], int]]


# -- the plan ----------------------------------------------------------------------------------------
@dataclass
class ServePlan:
    """What `serve` will run, validated: the names served and the ASGI app."""

    host: str
    port: int
    model_names: list[str]
    app: Callable[..., Any]  # the ASGI app
    api_key_set: bool
    pool: ModelPool
    embedding_names: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def exposed_without_key(self) -> bool:
        return not is_loopback(self.host) and not self.api_key_set


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_api_key(api_key: str | None = None, api_key_file: Path | None = None) -> str | None:
    """The key from --api-key-file, else --api-key, else $LLMDECK_API_KEY (a file or the environment keep it
    out of `ps`)."""
    if api_key_file is not None:
        from llmdeck.core.textfiles import read_text

        key = read_text(Path(api_key_file), "API key file", max_bytes=4096).strip()
        if not key:
            raise BadInput(f"{api_key_file}: the API key file is empty")
        return key
    return api_key or os.environ.get(API_KEY_ENV) or None


def check_port_free(host: str, port: int) -> None:
    """LlmdeckError (one line) when the address is taken or cannot be bound, before anything is announced."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "the port is in use" if exc.errno in (98, 48) else (exc.strerror or str(exc))
            raise LlmdeckError(f"cannot serve on {host}:{port}: {reason}") from None


def plan_server(
    model_names: Sequence[str | None],
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    lora_path: str | None = None,
    alias: str | None = None,
    wrap: Callable | None = None,
    extra_names: Sequence[str] = (),
    keep_alive: float | None = None,
    capacity: int | None = None,
    embeddings: Sequence[EmbeddingModel] = (),
    on_event: Callable[[ServeEvent], None] | None = None,
) -> ServePlan:
    """Resolve the models, check their files and the address, build the app; raises before anything is served.

    No model loads here: each loads on its first request. `lora_path`: a GGUF LoRA applied to the (single) model,
    served under `alias`; `wrap(app)` puts an ASGI layer in front (the `rag:COLLECTION` models, named in
    `extra_names`); `capacity`: most models loaded at once (default: config.toml's `loaded_model_cache`)."""
    try:
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except ImportError as exc:
        raise LlmdeckError(
            f"serving needs the server extra: pip install 'llmdeck[server]' ({exc.name} missing)"
        ) from None
    from llmdeck.core.settings import load_settings
    from llmdeck.core.store import ModelStore

    if not 1 <= port <= 65535:
        raise BadInput(f"--port {port}: expected 1-65535")
    if capacity is not None:
        _check_capacity(capacity)
    store = ModelStore()
    options = LoadOptions.from_settings()
    entries = [store.resolve(name) for name in (model_names or [None])]
    names = [alias] if alias else [entry.name for entry in entries]
    clashing = sorted({name for name in names if names.count(name) > 1} | (set(names) & {e.name for e in embeddings}))
    if clashing:
        raise BadInput(f"--model {clashing[0]}: named twice (each served model needs its own name)")
    check_port_free(host, port)
    from llmdeck.core.gguf_meta import read_gguf_info

    # refuse a damaged file before llama.cpp sees it, and a context beyond what each model was trained on
    fitted = [options.fitted(Path(entry.path), read_gguf_info(Path(entry.path)).context_length) for entry in entries]
    model_settings = {
        name: ModelSettings(
            model=entry.path,
            model_alias=name,
            n_ctx=entry_options.n_ctx,
            n_threads=options.threads(),
            n_threads_batch=options.threads(),
            n_gpu_layers=options.n_gpu_layers,
            lora_path=lora_path,
            verbose=False,
        )
        for name, entry, entry_options in zip(names, entries, fitted, strict=True)
    }
    from llmdeck.core.llama_backend import prepare_llama_cpp

    prepare_llama_cpp()  # the server builds its Llama objects itself
    pool = ModelPool(
        model_settings,
        capacity=load_settings().loaded_model_cache if capacity is None else capacity,
        keep_alive=keep_alive,
        on_event=on_event,
    )
    # interrupt_requests=False: a request waits for the model instead of cutting the running stream short
    # (llama-cpp-python's default ends it with [DONE] and a truncated answer)
    server_settings = ServerSettings(host=host, port=port, api_key=api_key, interrupt_requests=False)
    app: Callable[..., Any] = ModelRouter(_llama_routes(server_settings, pool), pool, embeddings, api_key)
    return ServePlan(
        host,
        port,
        names + [e.name for e in embeddings] + list(extra_names),
        wrap(app) if wrap else app,
        api_key_set=bool(api_key),
        pool=pool,
        embedding_names=[e.name for e in embeddings],
    )


def _check_capacity(capacity: int) -> None:
    """--max-loaded within config.toml's `loaded_model_cache` bounds."""
    from pydantic import ValidationError

    from llmdeck.core.settings import Settings
    from llmdeck.core.validate import field_range

    try:
        Settings(loaded_model_cache=capacity)
    except ValidationError:
        raise BadInput(
            f"--max-loaded {capacity}: expected {field_range(Settings, 'loaded_model_cache')} (loaded_model_cache)"
        ) from None


def _llama_routes(server_settings: Any, pool: ModelPool) -> Any:
    """llama-cpp-python's FastAPI app (its routes, CORS, request ids) over `pool`; its `create_app` would build
    a `LlamaProxy` and load the first model at once."""
    import llama_cpp.server.app as llama_server
    from fastapi import FastAPI
    from fastapi.middleware import Middleware
    from fastapi.middleware.cors import CORSMiddleware
    from starlette_context.middleware import RawContextMiddleware
    from starlette_context.plugins import RequestIdPlugin

    llama_server.set_server_settings(server_settings)
    app = FastAPI(middleware=[Middleware(RawContextMiddleware, plugins=(RequestIdPlugin(),))], title="llmdeck")
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_credentials=True, allow_methods=["*"], allow_headers=["*"]
    )
    app.include_router(llama_server.router)
    llama_server._llama_proxy = pool  # type: ignore[assignment]  # ModelPool stands in for the LlamaProxy
    return app


# -- the router in front of llama-cpp-python's routes ------------------------------------------------
class ModelRouter:
    """ASGI app: checks the key, lists the models, answers embeddings and unknown models (404), and holds each
    model for the length of its request (loading it off the event loop first); the rest is llama-cpp-python's."""

    def __init__(self, app, pool: ModelPool, embeddings: Sequence[EmbeddingModel] = (), api_key: str | None = None):
        self.app, self.pool, self.api_key = app, pool, api_key
        self.embeddings = {model.name: model for model in embeddings}
        self.created = int(time.time())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"].rstrip("/"), scope.get("method")
        guarded = method != "OPTIONS" and path.startswith(("/v1", "/extras"))  # a CORS preflight carries no key
        if self.api_key and guarded and _bearer(scope) != self.api_key:
            return await _json_response(send, 401, _error("Invalid API key", "invalid_api_key", status=401))
        if method == "GET" and path == "/v1/models":
            return await _json_response(send, 200, {"object": "list", "data": self._listing()})
        if method == "GET" and path.startswith("/v1/models/"):
            return await self._one_model(path.removeprefix("/v1/models/"), send)
        if method != "POST":
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        request = _json_or_none(body)
        if path == "/v1/embeddings":
            return await self._embeddings(request, send)
        requested = request.get("model") if isinstance(request, dict) else None
        if not isinstance(request, dict) or (requested is not None and not isinstance(requested, str)):
            return await self.app(scope, _replay(body, receive), send)  # malformed: the app's 422 names the field
        if requested is not None and requested not in self.pool:
            return await _json_response(send, 404, self._not_found(requested))
        name = self.pool.name_of(requested)
        self.pool.begin(name)
        try:
            import anyio

            try:
                await anyio.to_thread.run_sync(self.pool.acquire, name)
            except (ValueError, RuntimeError, OSError) as exc:
                message = f"{name}: llama.cpp could not load the model ({exc})"
                return await _json_response(send, 500, _error(message, "model_load_failed", status=500))
            return await self.app(scope, _replay(body, receive), send)
        finally:
            token = self.pool.end(name)
            if token is not None and self.pool.keep_alive is not None:
                asyncio.get_running_loop().call_later(self.pool.keep_alive, self.pool.expire, name, token)

    def _listing(self) -> list[dict]:
        chat = [
            {"id": name, "object": "model", "created": self.created, "owned_by": "llmdeck", "kind": "chat"}
            | self.pool.status(name)
            for name in self.pool
        ]
        embedding = [
            {"id": name, "object": "model", "created": self.created, "owned_by": "llmdeck", "kind": "embedding"}
            for name in self.embeddings
        ]
        return chat + embedding

    async def _one_model(self, model_id: str, send):
        for entry in self._listing():
            if entry["id"] == model_id:
                return await _json_response(send, 200, entry)
        return await _json_response(send, 404, self._not_found(model_id))

    def _not_found(self, requested: str, served: Sequence[str] | None = None) -> dict:
        served = list(served) if served is not None else [*self.pool, *self.embeddings]
        message = f"The model `{requested}` does not exist; served: {', '.join(served)}"
        return _error(message, "model_not_found", param="model")

    async def _embeddings(self, request: Any, send):
        import anyio

        if not isinstance(request, dict):
            return await _json_response(send, 400, _error("expected a JSON object", "invalid_request"))
        requested = request.get("model")
        if requested is None and len(self.embeddings) == 1:
            requested = next(iter(self.embeddings))
        model = self.embeddings.get(requested) if isinstance(requested, str) else None
        if model is None and isinstance(requested, str) and requested in self.pool:
            message = f"`{requested}` is a chat model; embedding models: {', '.join(self.embeddings) or 'none'}"
            return await _json_response(send, 400, _error(message, "model_not_supported", param="model"))
        if model is None:
            return await _json_response(send, 404, self._not_found(str(requested), served=list(self.embeddings)))
        try:
            texts = _embedding_inputs(request.get("input"))
            encoding = request.get("encoding_format") or "float"
            if encoding not in ("float", "base64"):
                raise ValueError(f"encoding_format: expected float or base64, got {encoding!r}")
        except ValueError as exc:
            return await _json_response(send, 400, _error(str(exc), "invalid_request", param="input"))
        try:
            vectors, tokens = await anyio.to_thread.run_sync(model.embed, texts)
        except LlmdeckError as exc:
            return await _json_response(send, 500, _error(str(exc), "embedding_failed", status=500))
        dimensions = request.get("dimensions")
        if dimensions is not None and vectors and dimensions != len(vectors[0]):
            message = f"dimensions: {model.name} gives {len(vectors[0])}-dimensional vectors, not {dimensions!r}"
            return await _json_response(send, 400, _error(message, "invalid_request", param="dimensions"))
        data = [
            {"object": "embedding", "index": i, "embedding": _encoded(vector, encoding)}
            for i, vector in enumerate(vectors)
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return await _json_response(send, 200, {"object": "list", "data": data, "model": model.name, "usage": usage})


def _embedding_inputs(value: Any) -> list[str]:
    """The texts of an embeddings request's `input` (a string or a list of strings; token ids are refused)."""
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise ValueError("input: expected a string or a non-empty list of strings")
    if len(texts) > MAX_EMBEDDING_INPUTS:
        raise ValueError(f"input: at most {MAX_EMBEDDING_INPUTS} texts per request, got {len(texts)}")
    if not all(isinstance(text, str) for text in texts):
        raise ValueError("input: expected strings (token id arrays are not supported)")
    return texts


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":  # what the openai client asks for by default: little-endian float32
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return [float(x) for x in vector]


def _error(message: str, code: str, param: str | None = None, status: int = 400) -> dict:
    kind = "server_error" if status >= 500 else "authentication_error" if status == 401 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _bearer(scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except (ValueError, RecursionError):
        return None  # malformed bodies are the app's to answer


async def _read_body(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def _replay(body: bytes, receive):
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _json_response(send, status: int, document: dict) -> None:
    payload = json.dumps(document).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def run_server(plan: ServePlan) -> None:
    """Run the planned server in the foreground until interrupted; the loaded models are freed on the way out."""
    import uvicorn

    try:
        uvicorn.run(plan.app, host=plan.host, port=plan.port, log_level="warning")
    finally:
        plan.pool.free()
