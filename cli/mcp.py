"""`llmdeck mcp serve`: llmdeck's collections, model store, chat and verify pair as MCP tools for another host."""

from __future__ import annotations

from pathlib import Path

import click

from llmdeck.cli.options import INT, UserPath
from llmdeck.cli.output import info

MCP_KEY_ENV = "LLMDECK_MCP_API_KEY"


@click.group("mcp")
def command():
    """llmdeck as a Model Context Protocol server (the client side: `[mcp_servers]` in config.toml).

    Example: llmdeck mcp serve
    """


@command.command("serve")
@click.option("--http", "over_http", is_flag=True, help="Serve streamable HTTP at /mcp instead of stdio (needs a key).")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface for --http (loopback unless --allow-remote)."
)
@click.option("--port", default=8765, show_default=True, type=INT, help="TCP port for --http, 1-65535.")
@click.option(
    "--api-key-file",
    type=UserPath(path_type=Path),
    help=f"The bearer key for --http, read from this file (else --api-key, else ${MCP_KEY_ENV}).",
)
@click.option("--api-key", help=f"The bearer key for --http (visible in `ps`: prefer ${MCP_KEY_ENV} or a file).")
@click.option("--allow-remote", is_flag=True, help="Allow --host to be an address other machines can reach.")
def serve(over_http, host, port, api_key_file, api_key, allow_remote):
    """Expose the RAG collections (search with citations), the model store, chat with a store model and the
    verify pair as MCP tools: over stdio (a host starts `llmdeck mcp serve`), or over HTTP on loopback with a
    bearer key.

    Example: LLMDECK_MCP_API_KEY=secret llmdeck mcp serve --http --port 8765

    Example host config (Claude Desktop, oterm): {"mcpServers": {"llmdeck": {"command": "llmdeck",
    "args": ["mcp", "serve"]}}}
    """
    import os

    from llmdeck.core.errors import BadInput
    from llmdeck.core.serving import check_port_free, is_loopback, read_api_key
    from llmdeck.services.mcp_server import build_server, run_http, run_stdio

    if not over_http:
        given = [flag for flag, value in (("--api-key-file", api_key_file), ("--api-key", api_key)) if value]
        if given or allow_remote:
            raise BadInput(f"{(given or ['--allow-remote'])[0]}: applies to --http only (stdio needs no key)")
        run_stdio(build_server())
        return
    if not 1 <= port <= 65535:
        raise BadInput(f"--port {port}: expected 1-65535")
    if not is_loopback(host) and not allow_remote:
        raise BadInput(f"--host {host}: not a loopback address; pass --allow-remote to serve other machines")
    key = read_api_key(api_key, api_key_file) if (api_key or api_key_file) else os.environ.get(MCP_KEY_ENV)
    if not key:
        raise BadInput(f"mcp serve --http needs a bearer key: set {MCP_KEY_ENV}, --api-key-file or --api-key")
    check_port_free(host, port)
    url_host = f"[{host}]" if ":" in host else host
    info(f"MCP server on http://{url_host}:{port}/mcp (bearer key required; Ctrl-C stops)")
    run_http(build_server(), host, port, key)
