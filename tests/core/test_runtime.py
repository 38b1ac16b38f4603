"""The llama.cpp runtime on the embedded SmolLM2 (real model: the slow tier)."""

from __future__ import annotations

import asyncio

import pytest

from llmdeck.core.errors import BadInput, NotFound
from llmdeck.core.runtime import (
    ChatStats,
    LoadOptions,
    ModelCache,
    Sampling,
    build_messages,
    count_tokens,
    load_model,
    stream_chat,
)
from llmdeck.services.chat import chat as service_chat

pytestmark = pytest.mark.slow
GREEDY = Sampling(temperature=0.0, max_tokens=24, seed=7)


def chat(prompt, history=(), sampling=None):
    response = service_chat(prompt, history=history, sampling=sampling)
    return response.read(), response.stats


def test_streams_an_answer_with_the_models_chat_template():
    model = load_model(None)
    assert model.llama.chat_format == "chat_template.default"  # the GGUF's own Jinja template, not a guess
    stats = ChatStats()
    pieces = list(
        stream_chat(model, build_messages("What is the capital of France? Answer in one word."), GREEDY, stats)
    )
    assert "".join(pieces) == stats.text
    assert stats.tokens == count_tokens(model, stats.text) > 1  # tokens, counted by the tokenizer (not chunks)
    assert "Paris" in stats.text
    assert 0 < stats.ttft_s <= stats.total_s and stats.tokens_per_s > 0  # measured (how fast is for bench/)
    assert stats.finish_reason in ("stop", "length")


def test_greedy_answers_are_reproducible_and_max_tokens_is_honoured():
    first, stats = chat("Count from one to twenty in words.", sampling=Sampling(temperature=0.0, max_tokens=8))
    second, _ = chat("Count from one to twenty in words.", sampling=Sampling(temperature=0.0, max_tokens=8))
    assert first == second
    assert stats.tokens <= 8 and stats.finish_reason == "length"


def test_stop_sequences_and_history():
    history = [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Nice to meet you, Ada!"},
    ]
    text, _ = chat("What is my name?", history=history, sampling=Sampling(temperature=0.0, max_tokens=24))
    assert "Ada" in text
    text, stats = chat("List: one, two, three, four.", sampling=Sampling(temperature=0.0, max_tokens=40, stop=(",",)))
    assert "," not in text and stats.finish_reason == "stop"


def test_cache_reuses_and_closes_evicted_models(embedded_gguf):
    cache = ModelCache(capacity=1)
    small, other = LoadOptions(n_ctx=512), LoadOptions(n_ctx=1024)
    first = cache.get(embedded_gguf, small)
    assert cache.get(embedded_gguf, small) is first
    second = cache.get(embedded_gguf, other)
    assert second is not first and len(cache) == 1
    assert first.llama._model is None or getattr(first.llama._model, "model", None) is None  # closed
    cache.close_all()
    assert len(cache) == 0


def test_truncated_or_unknown_models_never_reach_llama_cpp(truncated_gguf):
    with pytest.raises(BadInput, match="truncated"):
        load_model(str(truncated_gguf))
    with pytest.raises(NotFound):
        load_model("no-such-model")


def test_langchain_adapter_answers_on_the_shared_model():
    from langchain_core.messages import HumanMessage, SystemMessage

    from llmdeck.core.adapters import langchain_chat_model

    model = load_model(None)
    chat_model = langchain_chat_model(model, temperature=0.0, max_tokens=16)
    assert chat_model.client._loaded is model  # no second Llama was loaded
    reply = chat_model.invoke(
        [SystemMessage("Answer briefly."), HumanMessage("What is the capital of France? Answer in one word.")]
    )
    assert "Paris" in reply.content
    streamed = "".join(chunk.content for chunk in chat_model.stream("Say hello."))
    assert streamed.strip()


def test_autogen_adapter_answers_on_the_shared_model():
    from autogen_core.models import SystemMessage, UserMessage

    from llmdeck.core.adapters import autogen_model_client

    model = load_model(None)
    client = autogen_model_client(model, max_tokens=16, temperature=0.0)
    result = asyncio.run(
        client.create(
            [
                SystemMessage(content="Answer briefly."),
                UserMessage(content="What is the capital of France? Answer in one word.", source="user"),
            ]
        )
    )
    assert "Paris" in result.content
    asyncio.run(client.close())
    assert model.llama._model is not None  # the adapter does not close the shared model
