"""`llmdeck serve --rag docs` through the official `openai` client: answers with sources, streaming and not."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.cli.test_serve import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def rag_server(cli, corpus, tmp_path):
    ingested = cli("rag", "ingest", str(corpus), "--collection", "docs", "--exclude", "*.json")
    assert ingested.returncode == 0, ingested.stderr
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llmdeck.cli", "serve", "--rag", "docs", "--port", str(port), "--api-key", "right-key"],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    import openai

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="right-key", max_retries=0, timeout=120)
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                models = [m.id for m in client.models.list().data]
                break
            except openai.APIConnectionError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        yield client, models, port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_rag_model_answers_with_sources_streaming_and_not(rag_server):
    import openai

    client, models, port = rag_server
    assert models == ["smollm2-135m-instruct", "all-MiniLM-L6-v2", "rag:docs"]
    question = [{"role": "user", "content": "Which city did Vesuvius bury?"}]
    answer = client.chat.completions.create(model="rag:docs", messages=question, max_tokens=24, temperature=0)
    text = answer.choices[0].message.content
    sources = answer.model_extra["sources"]
    assert sources[0]["n"] == 1 and sources[0]["source"].endswith("volcanoes.md")
    assert "\n\nSources:\n[1] " in text and sources[0]["source"] in text  # numbered citations in the text
    assert answer.model == "rag:docs"

    chunks = list(
        client.chat.completions.create(
            model="rag:docs",
            stream=True,
            max_tokens=16,
            temperature=0,
            messages=[{"role": "user", "content": "How much pressure does an espresso machine use?"}],
        )
    )
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    final = chunks[-1]
    assert final.choices[0].finish_reason in ("stop", "length")
    assert final.model_extra["sources"][0]["source"].endswith("coffee.txt")
    assert "Sources:\n[1] " in streamed and all("sources" not in c.model_extra for c in chunks[:-1])

    wrong = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="rag:docs", messages=question, max_tokens=4)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    plain = client.chat.completions.create(
        model="smollm2-135m-instruct",
        max_tokens=8,
        temperature=0,
        messages=[{"role": "user", "content": "What is 2 + 2?"}],
    )
    assert plain.choices[0].message.content and "sources" not in (plain.model_extra or {})
