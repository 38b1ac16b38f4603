"""An OpenAI-compatible HTTP endpoint over store models, via llama-cpp-python's server.

Needs the `[server]` extra (fastapi, uvicorn, sse-starlette); every store model named is served
under its store name (`"model": NAME` in requests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llmdeck.core.errors import LlmdeckError
from llmdeck.core.runtime import LoadOptions


def build_server_app(model_names: Sequence[str | None], host: str, port: int, api_key: str | None = None,
                     lora_path: str | None = None, alias: str | None = None):
    """Create the ASGI app (models are loaded lazily by llama-cpp-python on first request). `lora_path`: a GGUF
    LoRA applied to the (single) model, served under `alias`."""
    try:
        from llama_cpp.server.app import create_app
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except ImportError as exc:
        raise LlmdeckError(f"serving needs the server extra: pip install 'llmdeck[server]' ({exc.name} missing)") from None
    from llmdeck.core.gguf_meta import read_gguf_info
    from llmdeck.core.store import ModelStore

    store = ModelStore()
    options = LoadOptions.from_settings()
    model_settings = []
    for name in model_names or [None]:
        entry = store.resolve(name)
        read_gguf_info(entry.path)  # refuse a damaged file before the server starts
        model_settings.append(
            ModelSettings(
                model=entry.path, model_alias=alias or entry.name, n_ctx=options.n_ctx,
                n_threads=options.threads(), n_threads_batch=options.threads(),
                n_gpu_layers=options.n_gpu_layers, lora_path=lora_path, verbose=False,
            )
        )
    server_settings = ServerSettings(host=host, port=port, api_key=api_key)
    return create_app(server_settings=server_settings, model_settings=model_settings)


def serve(model_names: Sequence[str | None], host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
          lora_path: str | None = None, alias: str | None = None, wrap: Callable | None = None) -> None:
    """Run the server in the foreground until interrupted; `wrap(app)` may put an ASGI layer in front."""
    import uvicorn

    app = build_server_app(model_names, host, port, api_key, lora_path=lora_path, alias=alias)
    if wrap is not None:
        app = wrap(app)
    uvicorn.run(app, host=host, port=port, log_level="warning")
