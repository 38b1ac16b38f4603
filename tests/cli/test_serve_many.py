"""One `llmdeck serve` endpoint for two models and embeddings, through the official `openai` client: the models
alternate in a one-model cache (each switch evicts the other and reloads it), the embeddings match the RAG
stack's in-process vectors, and an unknown model is the OpenAI API's 404."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import pytest

from tests.cli.test_serve import free_port

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_two_models_alternate_in_a_one_model_cache_beside_the_embedding_model(tmp_path, llmdeck_home, embedded_gguf):
    import openai

    from llmdeck.core.settings import update_settings
    from llmdeck.core.store import ModelStore

    ModelStore().register(embedded_gguf, name="smol-b")  # the same GGUF again, by reference, under a second name
    update_settings(loaded_model_cache=1)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llmdeck.cli", "serve", "-m", "smollm2-135m-instruct", "-m", "smol-b",
         "--keep-alive", "-1", "--port", str(port)],
        cwd=tmp_path, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    from llmdeck.rag.embeddings import load_embeddings

    texts = ["Chroma keeps the vectors on disk.", "llama.cpp runs GGUF models on CPUs."]
    local = load_embeddings().embed_documents(texts)  # the RAG stack's vectors, while the server starts
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=120)

    def loaded() -> list[str]:
        return [m.id for m in client.models.list().data if (m.model_extra or {}).get("loaded")]

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                listing = client.models.list().data
                break
            except openai.APIConnectionError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)
        assert [(m.id, (m.model_extra or {}).get("kind")) for m in listing] == [
            ("smollm2-135m-instruct", "chat"), ("smol-b", "chat"), ("all-MiniLM-L6-v2", "embedding")
        ]  # fmt: skip
        assert loaded() == []  # nothing loads before its first request
        for name in ["smollm2-135m-instruct", "smol-b", "smollm2-135m-instruct"]:
            answer = client.chat.completions.create(model=name, messages=QUESTION, temperature=0, max_tokens=8)
            assert answer.model == name and "Paris" in (answer.choices[0].message.content or "")
            assert loaded() == [name]  # the cache holds one: the other one was evicted
        served = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)  # the client asks for base64
        assert served.model == "all-MiniLM-L6-v2" and served.usage.prompt_tokens > 0
        assert [round(cosine(s.embedding, v), 4) for s, v in zip(served.data, local)] == [1.0, 1.0]
        assert len(served.data[0].embedding) == 384
        with pytest.raises(openai.NotFoundError) as missing:
            client.chat.completions.create(model="gpt-4o", messages=QUESTION, max_tokens=4)
        assert missing.value.code == "model_not_found" and "smol-b" in missing.value.message
        with pytest.raises(openai.NotFoundError):
            client.embeddings.create(model="text-embedding-3-small", input="x")
    finally:
        server.terminate()
        server.wait(timeout=30)
    log = server.stderr.read().splitlines() if server.stderr else []
    events = [line.split(" (")[0] for line in log if line.startswith(("loaded ", "unloaded "))]
    assert events == [
        "loaded smollm2-135m-instruct", "unloaded smollm2-135m-instruct", "loaded smol-b", "unloaded smol-b",
        "loaded smollm2-135m-instruct",
    ], "\n".join(log)  # fmt: skip
    assert "unloaded smol-b (evicted)" in log
