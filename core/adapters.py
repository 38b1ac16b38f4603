"""LangChain and AutoGen views of a model loaded by `core.runtime` (one llama.cpp instance, shared).

Both libraries' llama.cpp classes build their own `Llama`; these subclasses skip that and reuse
the cached model, so RAG chains, ReAct agents and AutoGen pairs run on the same weights in memory.
Calls go through `LockedLlama`, which serialises generation with the runtime's per-model lock.
"""

from __future__ import annotations

from typing import Any

from llmdeck.core.runtime import LoadedModel, load_model


class LockedLlama:
    """A `Llama` proxy: chat completions hold the model's lock (for a stream, while it is consumed)."""

    def __init__(self, loaded: LoadedModel):
        self._loaded = loaded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loaded.llama, name)

    def create_chat_completion(self, *args: Any, **kwargs: Any):
        if kwargs.get("stream"):
            return self._locked_stream(*args, **kwargs)
        with self._loaded.lock:
            return self._loaded.llama.create_chat_completion(*args, **kwargs)

    def _locked_stream(self, *args: Any, **kwargs: Any):
        with self._loaded.lock:
            yield from self._loaded.llama.create_chat_completion(*args, **kwargs)

    def close(self) -> None:
        """The runtime's cache owns the model; adapters never close it."""


def langchain_chat_model(model: str | LoadedModel | None = None, **params: Any):
    """A LangChain `ChatLlamaCpp` over the shared model (params: temperature, max_tokens, top_p, stop...)."""
    from langchain_community.chat_models import ChatLlamaCpp

    loaded = model if isinstance(model, LoadedModel) else load_model(model)

    class SharedChatLlamaCpp(ChatLlamaCpp):
        def validate_environment(self):  # replaces the validator that would load a second Llama
            return self

    params.setdefault("verbose", False)
    return SharedChatLlamaCpp(model_path=str(loaded.path), client=LockedLlama(loaded), **params)


def autogen_model_client(model: str | LoadedModel | None = None, **create_args: Any):
    """An AutoGen `LlamaCppChatCompletionClient` over the shared model."""
    from autogen_ext.models.llama_cpp import LlamaCppChatCompletionClient

    loaded = model if isinstance(model, LoadedModel) else load_model(model)

    class SharedLlamaCppClient(LlamaCppChatCompletionClient):
        def __init__(self, shared: LockedLlama, model_info=None, **defaults: Any):
            self._model_info = model_info or self.DEFAULT_MODEL_INFO
            self.llm = shared
            self._create_args = defaults
            self._total_usage = {"prompt_tokens": 0, "completion_tokens": 0}

        async def create(self, messages, **kwargs: Any):
            extra = {**self._create_args, **dict(kwargs.pop("extra_create_args", {}) or {})}
            return await super().create(messages, extra_create_args=extra, **kwargs)

        async def close(self) -> None:
            """The runtime's cache owns the model."""

    return SharedLlamaCppClient(LockedLlama(loaded), **create_args)
