"""An OpenAI-compatible HTTP endpoint over store models, via llama-cpp-python's server.

Needs the `[server]` extra (fastapi, uvicorn, sse-starlette); every store model named is served under its
store name (`"model": NAME` in requests; a name that is not served is answered 404 `model_not_found`, as the
OpenAI API does, instead of llama-cpp-python's silent fallback to the first model). Everything is checked
before the server announces itself: the models resolve and load, the port is free, the key is set.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.runtime import LoadOptions

API_KEY_ENV = "LLMDECK_API_KEY"
MODEL_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")


@dataclass
class ServePlan:
    """What `serve` will run, validated: the store names served and the ASGI app."""

    host: str
    port: int
    model_names: list[str]
    app: Callable[..., Any]  # the ASGI app
    api_key_set: bool

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
) -> ServePlan:
    """Resolve and load the models, check the address, build the app; raises before anything is served.

    `lora_path`: a GGUF LoRA applied to the (single) model, served under `alias`; `wrap(app)` puts an ASGI
    layer in front (the `rag:COLLECTION` models, named in `extra_names`)."""
    try:
        from llama_cpp.server.app import create_app
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except ImportError as exc:
        raise LlmdeckError(
            f"serving needs the server extra: pip install 'llmdeck[server]' ({exc.name} missing)"
        ) from None
    from llmdeck.core.store import ModelStore

    if not 1 <= port <= 65535:
        raise BadInput(f"--port {port}: expected 1-65535")
    store = ModelStore()
    options = LoadOptions.from_settings()
    entries = [store.resolve(name) for name in (model_names or [None])]
    check_port_free(host, port)
    from llmdeck.core.gguf_meta import read_gguf_info

    # refuse a damaged file before llama.cpp sees it, and a context beyond what each model was trained on
    fitted = [options.fitted(Path(entry.path), read_gguf_info(Path(entry.path)).context_length) for entry in entries]
    model_settings = [
        ModelSettings(
            model=entry.path,
            model_alias=alias or entry.name,
            n_ctx=entry_options.n_ctx,
            n_threads=options.threads(),
            n_threads_batch=options.threads(),
            n_gpu_layers=options.n_gpu_layers,
            lora_path=lora_path,
            verbose=False,
        )
        for entry, entry_options in zip(entries, fitted, strict=True)
    ]
    from llmdeck.core.llama_backend import prepare_llama_cpp

    prepare_llama_cpp()  # the server builds its Llama objects itself
    try:  # llama-cpp-python loads the first model here: a file it cannot load fails now, in one line
        app = create_app(
            # interrupt_requests=False: a request waits for the model instead of cutting the running stream short
            # (llama-cpp-python's default ends it with [DONE] and a truncated answer)
            server_settings=ServerSettings(host=host, port=port, api_key=api_key, interrupt_requests=False),
            model_settings=model_settings,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        raise BadInput(f"{entries[0].path}: llama.cpp could not load the model ({exc})") from None
    names = [alias] if alias else [entry.name for entry in entries]
    app = ServedModelsOnly(app, set(names))
    return ServePlan(host, port, names + list(extra_names), wrap(app) if wrap else app, api_key_set=bool(api_key))


class ServedModelsOnly:
    """ASGI middleware: a request naming a model that is not served gets the OpenAI API's 404 `model_not_found`."""

    def __init__(self, app, served: set[str]):
        self.app, self.served = app, served

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in MODEL_ROUTES:
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            requested = json.loads(body or b"{}").get("model")
        except (ValueError, AttributeError, RecursionError):
            requested = None  # malformed bodies are the app's to answer
        if isinstance(requested, str) and requested not in self.served:
            return await _json_response(
                send,
                404,
                {
                    "error": {
                        "message": f"The model `{requested}` does not exist; served: {', '.join(sorted(self.served))}",
                        "type": "invalid_request_error",
                        "param": "model",
                        "code": "model_not_found",
                    }
                },
            )
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


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
    """Run the planned server in the foreground until interrupted."""
    import uvicorn

    uvicorn.run(plan.app, host=plan.host, port=plan.port, log_level="warning")
