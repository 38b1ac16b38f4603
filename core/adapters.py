"""LangChain and AutoGen views of a model loaded by `core.runtime` (one llama.cpp instance, shared).

Both libraries' llama.cpp classes build their own `Llama`; these subclasses skip that and reuse
the cached model, so RAG chains, ReAct agents and AutoGen pairs run on the same weights in memory.
Calls go through `LockedLlama`, which serialises generation with the runtime's per-model lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmdeck.core.runtime import LoadedModel, load_model


class GenerationStopped(Exception):
    """A generation ended early because its stop check turned true."""


class LockedLlama:
    """A `Llama` proxy: chat completions hold the model's lock (for a stream, while it is consumed). With a
    `stop_check`, a non-streamed completion is streamed inside and ends at the next token once the check is
    true (raising GenerationStopped): llama.cpp's chat completions take no stopping criteria."""

    def __init__(self, loaded: LoadedModel, stop_check: Callable[[], bool] | None = None):
        self._loaded = loaded
        self._stop_check = stop_check

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loaded.llama, name)

    def create_chat_completion(self, *args: Any, **kwargs: Any):
        if kwargs.get("stream"):
            return self._locked_stream(*args, **kwargs)
        with self._loaded.lock:
            if self._stop_check is None:
                return self._loaded.llama.create_chat_completion(*args, **kwargs)
            return self._stoppable(self._stop_check, *args, **kwargs)

    def _locked_stream(self, *args: Any, **kwargs: Any):
        with self._loaded.lock:
            yield from self._loaded.llama.create_chat_completion(*args, **kwargs)

    def _stoppable(self, stop_check: Callable[[], bool], *args: Any, **kwargs: Any) -> dict:
        """The completion as llama.cpp returns it unstreamed, built from its stream (checked at every token)."""
        llama = self._loaded.llama
        chunks = llama.create_chat_completion(*args, **{**kwargs, "stream": True})
        parts, finish_reason, first = [], None, None
        try:
            for chunk in chunks:
                if stop_check():
                    raise GenerationStopped("the generation was stopped")
                first = first or chunk
                choice = chunk["choices"][0]
                parts.append(choice["delta"].get("content") or "")
                finish_reason = choice.get("finish_reason") or finish_reason
        finally:
            chunks.close()
        text = "".join(parts)
        completion_tokens = len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)) if text else 0
        # the context holds the prompt and the reply: the prompt's share is near enough for usage tallies
        prompt_tokens = max(getattr(llama, "n_tokens", completion_tokens) - completion_tokens, 0)
        first = first or {"id": "", "created": 0, "model": ""}
        return {
            "id": first["id"],
            "object": "chat.completion",
            "created": first["created"],
            "model": first["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": finish_reason or "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def close(self) -> None:
        """The runtime's cache owns the model; adapters never close it."""


def langchain_chat_model(model: str | LoadedModel | None = None, **params: Any):
    """A LangChain `ChatLlamaCpp` over the shared model (params: temperature, max_tokens, top_p, stop...)."""
    from langchain_community.chat_models import ChatLlamaCpp

    loaded = model if isinstance(model, LoadedModel) else load_model(model)

    class SharedChatLlamaCpp(ChatLlamaCpp):
        def validate_environment(self):  # type: ignore[override]  # replaces (by name) the validator that would load a second Llama
            return self

    params.setdefault("verbose", False)
    return SharedChatLlamaCpp(model_path=str(loaded.path), client=LockedLlama(loaded), **params)


def autogen_model_client(
    model: str | LoadedModel | None = None, stop_check: Callable[[], bool] | None = None, **create_args: Any
):
    """An AutoGen `LlamaCppChatCompletionClient` over the shared model (`stop_check`: see LockedLlama)."""
    from autogen_ext.models.llama_cpp import LlamaCppChatCompletionClient

    loaded = model if isinstance(model, LoadedModel) else load_model(model)

    class SharedLlamaCppClient(LlamaCppChatCompletionClient):
        def __init__(self, shared: LockedLlama, model_info=None, **defaults: Any):
            self._model_info = model_info or self.DEFAULT_MODEL_INFO
            self.llm = shared  # type: ignore[assignment]  # LockedLlama stands in for the Llama it locks
            self._create_args = defaults
            self._total_usage = {"prompt_tokens": 0, "completion_tokens": 0}

        async def create(self, messages, **kwargs: Any):
            extra = {**self._create_args, **dict(kwargs.pop("extra_create_args", {}) or {})}
            return await super().create(messages, extra_create_args=extra, **kwargs)

        async def close(self) -> None:
            """The runtime's cache owns the model."""

    return SharedLlamaCppClient(LockedLlama(loaded, stop_check), **create_args)
