"""`llmdeck mcp serve` as another MCP host meets it, through the `mcp` SDK's own client: over stdio (the host
starts the command) searching a real collection and chatting with the embedded model, and over HTTP on loopback
with and without the bearer key."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from tests.cli.test_serve import free_port

pytestmark = pytest.mark.slow


def test_a_host_searches_a_collection_and_chats_over_stdio(corpus):
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    from llmdeck.rag.ingest import ingest

    command = StdioServerParameters(
        command=sys.executable, args=["-m", "llmdeck.cli", "mcp", "serve"], env=dict(os.environ)
    )
    question = {"collection": "docs", "query": "Which city did Vesuvius bury?", "k": 2}
    capital = {"prompt": "What is the capital of France? One word.", "max_tokens": 8, "temperature": 0}

    async def session():
        ingested = asyncio.to_thread(ingest, [corpus], "docs", exclude=["*.json"])  # while the server starts
        async with Client(command, read_timeout_seconds=120) as client:
            await ingested
            collections = await client.call_tool("rag_collections", {})
            found = await client.call_tool("rag_search", question)
            answer = await client.call_tool("chat", capital)
            return collections, found, answer

    collections, found, answer = asyncio.run(session())
    assert [c["name"] for c in collections.structured_content["collections"]] == ["docs"]
    assert not found.is_error, found.content
    results, citations = found.structured_content["results"], found.structured_content["citations"]
    assert [r["n"] for r in results] == [1, 2] and results[0]["source"].endswith("volcanoes.md")
    assert citations.startswith("[1] (") and "Pompeii" in citations
    assert not answer.is_error and "Paris" in answer.structured_content["answer"]


def test_http_on_loopback_needs_the_bearer_key(tmp_path):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llmdeck.cli", "mcp", "serve", "--http", "--port", str(port)],
        env={**os.environ, "LLMDECK_MCP_API_KEY": "s3cret"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"

    async def models_with(key: str | None):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                return await client.call_tool("models_list", {})

    try:
        assert server.stderr is not None
        assert server.stderr.readline().startswith(f"MCP server on {url}")
        deadline = time.monotonic() + 30
        while True:
            try:
                listed = asyncio.run(models_with("s3cret"))
                break
            except Exception:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.3)
        assert [m["name"] for m in listed.structured_content["models"]] == ["smollm2-135m-instruct"]
        for key in (None, "wrong"):
            with pytest.raises(ExceptionGroup):  # the SDK's client gets no session
                asyncio.run(models_with(key))
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            raw = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers, timeout=30)
            assert raw.status_code == 401 and raw.headers["www-authenticate"] == "Bearer"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_http_refuses_a_public_bind_and_a_missing_key_before_serving(cli):  # slow: a CLI process per case
    key = {"LLMDECK_MCP_API_KEY": "k"}
    for args, env, message in [
        (["--http", "--host", "0.0.0.0"], key, "--host 0.0.0.0: not a loopback address; pass --allow-remote to serve"
         " other machines"),
        (["--http"], {"LLMDECK_MCP_API_KEY": ""}, "mcp serve --http needs a bearer key: set LLMDECK_MCP_API_KEY,"
         " --api-key-file or --api-key"),
        (["--api-key", "k"], {}, "--api-key: applies to --http only (stdio needs no key)"),
        (["--http", "--port", "0"], key, "--port 0: expected 1-65535"),
    ]:  # fmt: skip
        result = cli("mcp", "serve", *args, env=env, timeout=60)
        assert (result.returncode, result.stderr.strip().splitlines()) == (2, [f"error: {message}"]), args
