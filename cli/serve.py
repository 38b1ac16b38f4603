"""`llmdeck serve`: an OpenAI-compatible endpoint (/v1/chat/completions, /v1/embeddings, /v1/models) over store
models, several behind one URL, each loaded on its first request."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from llmdeck.cli.options import INT, NAME, UserPath, setting
from llmdeck.cli.output import info

if TYPE_CHECKING:
    from llmdeck.core.serving import ServeEvent


@click.command("serve")
@click.option(
    "--model",
    "-m",
    "model_names",
    multiple=True,
    type=NAME,
    help='Store name to serve (repeatable; default: the store default). Requests pick one by their "model".',
)
@click.option("--all", "serve_all", is_flag=True, help="Serve every store model (the default one first).")
@click.option(
    "--keep-alive",
    default="5m",
    show_default=True,
    envvar="LLMDECK_KEEP_ALIVE",
    help="How long a model stays loaded after its last request: a duration (30s, 5m, 1h), 0 (unload after each"
    " request) or -1 (never). Env: LLMDECK_KEEP_ALIVE.",
)
@click.option(
    "--max-loaded",
    type=setting("loaded_model_cache"),
    help="Most models loaded at once; the least recently used idle one is unloaded first"
    " (default: config.toml's loaded_model_cache, 2).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to bind. Anything but loopback (e.g. 0.0.0.0) shares the models on the network: set a key.",
)
@click.option("--port", default=8000, show_default=True, type=INT, help="TCP port, 1-65535.")
@click.option(
    "--api-key-file",
    type=UserPath(path_type=Path),
    help="Require the bearer token stored in this file (preferred: not visible in `ps`).",
)
@click.option(
    "--api-key",
    help="Require this bearer token. Prefer LLMDECK_API_KEY or --api-key-file: a key on the "
    "command line is visible to every user in `ps`.",
)
@click.option(
    "--adapter", "adapter_run", type=NAME, help="Apply this finished run's LoRA to the model (default: the run's base)."
)
@click.option(
    "--rag",
    "rag_collections",
    multiple=True,
    type=NAME,
    help="Also serve model rag:COLLECTION, answered from that collection with sources (repeatable).",
)
def command(
    model_names, serve_all, keep_alive, max_loaded, host, port, api_key_file, api_key, adapter_run, rag_collections
):
    """Serve store models over an OpenAI-compatible HTTP API (each under its store name).

    Each model loads on its first request and unloads after --keep-alive idle; /v1/embeddings answers with the
    RAG embedding model (all-MiniLM-L6-v2 by default). The key comes from --api-key-file, else --api-key, else
    the LLMDECK_API_KEY environment variable.

    Example: LLMDECK_API_KEY=secret llmdeck serve --model smollm2-135m-instruct --port 8000

    RAG over the API: llmdeck serve --rag docs  (then "model": "rag:docs")
    """
    from llmdeck.core.errors import BadInput
    from llmdeck.core.serving import describe_keep_alive, parse_keep_alive, plan_server, read_api_key, run_server
    from llmdeck.services.serving import all_store_models, embedding_model

    keep_alive_seconds = parse_keep_alive(keep_alive)
    if serve_all and model_names:
        raise BadInput("--all serves every store model; give it or --model, not both")
    if serve_all and adapter_run:
        raise BadInput("--adapter applies to one model; give --model, not --all")
    if serve_all:
        model_names = tuple(all_store_models())
    api_key = read_api_key(api_key, api_key_file)
    lora_path = alias = wrap = None
    if adapter_run:
        from llmdeck.services.chat import resolve_model

        if len(model_names) > 1:
            raise BadInput("--adapter applies to one model; give at most one --model")
        entry, lora_path = resolve_model(model_names[0] if model_names else None, adapter_run)
        model_names, alias = (entry.name,), f"{entry.name}+{adapter_run}"
    if rag_collections:
        from llmdeck.rag.query import open_collection
        from llmdeck.services.openai_rag import RagEndpoint

        for name in rag_collections:
            open_collection(name)  # an unknown collection fails before the server starts
        rag_model = model_names[0] if model_names else None
        wrap = lambda app: RagEndpoint(app, rag_collections, rag_model, api_key, adapter_run)  # noqa: E731
    plan = plan_server(
        list(model_names),
        host=host,
        port=port,
        api_key=api_key,
        lora_path=lora_path,
        alias=alias,
        wrap=wrap,
        extra_names=[f"rag:{name}" for name in rag_collections],
        keep_alive=keep_alive_seconds,
        capacity=max_loaded,
        embeddings=[embedding_model()],
        on_event=print_event,
    )
    if plan.exposed_without_key:
        info(
            f"WARNING: serving on {host} without an API key: anyone who can reach this machine can use the models."
            " Set LLMDECK_API_KEY or --api-key-file."
        )
    info(f"serving {', '.join(plan.model_names)} on {plan.url} (Ctrl-C stops)")
    lifetime = describe_keep_alive(plan.pool.keep_alive)
    info(f"each model loads on its first request, {lifetime}, at most {plan.pool.capacity} loaded at once")
    run_server(plan)


def print_event(event: ServeEvent) -> None:
    from llmdeck.core.serving import ModelLoaded, ModelUnloaded

    match event:
        case ModelLoaded(name=name, seconds=seconds):
            info(f"loaded {name} ({seconds:.1f} s)")
        case ModelUnloaded(name=name, reason=reason):
            info(f"unloaded {name} ({reason})")
        case _:
            raise TypeError(f"serve has no {type(event).__name__} event")
