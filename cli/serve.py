"""`llmdeck serve`: an OpenAI-compatible endpoint (/v1/chat/completions, /v1/models) over store models."""

from __future__ import annotations

import click

from llmdeck.cli.output import info


@click.command("serve")
@click.option("--model", "-m", "model_names", multiple=True, help="Store name to serve (repeatable; default: the store default).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 to share on a network).")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--api-key", envvar="LLMDECK_API_KEY", help="Require this bearer token (env LLMDECK_API_KEY).")
def command(model_names, host, port, api_key):
    """Serve store models over an OpenAI-compatible HTTP API.

    Example: llmdeck serve --model smollm2-135m-instruct --port 8000
    """
    from llmdeck.core.serving import serve

    info(f"serving {', '.join(model_names) or 'the default model'} on http://{host}:{port}/v1 (Ctrl-C stops)")
    serve(list(model_names), host=host, port=port, api_key=api_key)
