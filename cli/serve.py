"""`llmdeck serve`: an OpenAI-compatible endpoint (/v1/chat/completions, /v1/models) over store models."""

from __future__ import annotations

import click

from llmdeck.cli.output import info


@click.command("serve")
@click.option("--model", "-m", "model_names", multiple=True, help="Store name to serve (repeatable; default: the store default).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 to share on a network).")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--api-key", envvar="LLMDECK_API_KEY", help="Require this bearer token (env LLMDECK_API_KEY).")
@click.option("--adapter", "adapter_run", help="Apply this finished run's LoRA to the model (default: the run's base).")
@click.option("--rag", "rag_collections", multiple=True,
              help="Also serve model rag:COLLECTION, answered from that collection with sources (repeatable).")
def command(model_names, host, port, api_key, adapter_run, rag_collections):
    """Serve store models over an OpenAI-compatible HTTP API.

    Example: llmdeck serve --model smollm2-135m-instruct --port 8000

    RAG over the API: llmdeck serve --rag docs  (then "model": "rag:docs")
    """
    from llmdeck.core.serving import serve

    lora_path = alias = wrap = None
    if adapter_run:
        from llmdeck.core.errors import BadInput
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
    served = [alias] if alias else list(model_names) or ["the default model"]
    served += [f"rag:{name}" for name in rag_collections]
    info(f"serving {', '.join(served)} on http://{host}:{port}/v1 (Ctrl-C stops)")
    serve(list(model_names), host=host, port=port, api_key=api_key, lora_path=lora_path, alias=alias, wrap=wrap)
