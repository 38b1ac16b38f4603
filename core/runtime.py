"""The llama.cpp runtime: load store models (a small cache of open models), stream chat completions.

Models are closed explicitly (on eviction and at exit): llama-cpp-python's `__del__` can raise
at interpreter shutdown otherwise.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmdeck.core.errors import BadInput
from llmdeck.core.gguf_meta import lora_mismatch, read_gguf_info
from llmdeck.core.settings import load_settings, settings_with

MESSAGE_OVERHEAD_TOKENS = 8  # chat-template tokens around each message


class LoraNotApplicable(BadInput):
    """llama.cpp refused a LoRA for this model (architecture, shapes, or a quantized base it cannot adapt)."""


@dataclass(frozen=True)
class LoadOptions:
    """How a GGUF is loaded; models with equal options share one loaded instance."""

    n_ctx: int = 4096
    n_threads: int | None = None
    n_gpu_layers: int = -1
    lora_path: str | None = None  # a GGUF LoRA applied at load (a run's adapter): part of the cache key
    n_ctx_given: bool = field(default=False, compare=False)  # --ctx or config.toml's n_ctx, not the default

    @classmethod
    def from_settings(cls, lora_path: str | None = None, **overrides: Any) -> LoadOptions:
        """config.toml's values with `overrides` on top, validated by the same rules (BadInput naming the flag)."""
        settings = settings_with(**overrides)
        given = overrides.get("n_ctx") is not None or "n_ctx" in load_settings().model_fields_set
        return cls(
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            n_gpu_layers=settings.n_gpu_layers,
            lora_path=lora_path,
            n_ctx_given=given,
        )

    def fitted(self, path: Path, trained_context: int | None) -> LoadOptions:
        """These options within the model's trained context: a context asked for (--ctx, config.toml) beyond it is
        BadInput naming the range; the default is lowered to it."""
        if not isinstance(trained_context, int) or trained_context <= 0 or self.n_ctx <= trained_context:
            return self
        if self.n_ctx_given:
            raise BadInput(
                f"--ctx {self.n_ctx}: above the trained context of {path.name} (accepted: 256..{trained_context})"
            )
        return replace(self, n_ctx=trained_context)

    def threads(self) -> int:
        return self.n_threads or os.cpu_count() or 1


@dataclass(frozen=True)
class Sampling:
    """Sampling options for one answer."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 512
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, seed: int | None = None, stop=None, **overrides: Any) -> Sampling:
        """config.toml's values with `overrides` on top, validated by the same rules (BadInput naming the flag)."""
        settings = settings_with(**overrides)
        return cls(
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_tokens=settings.max_tokens,
            seed=seed,
            stop=tuple(stop or ()),
        )


@dataclass
class ChatStats:
    """What one answer cost: generated tokens, time to first token, decode speed."""

    tokens: int = 0
    ttft_s: float = 0.0
    total_s: float = 0.0
    tokens_per_s: float = 0.0
    finish_reason: str | None = None
    text: str = ""


@dataclass
class LoadedModel:
    """An open llama.cpp model plus a lock: one generation at a time per model."""

    path: Path
    options: LoadOptions
    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        close = getattr(self.llama, "close", None)
        if close is not None:
            close()


class ModelCache:
    """Keeps at most `capacity` models open, closing the least recently used one."""

    def __init__(self, capacity: int = 2):
        self.capacity = capacity
        self._models: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, options: LoadOptions) -> LoadedModel:
        key = (str(Path(path).resolve()), options)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            loaded = _load(Path(path), options)
            self._models[key] = loaded
            while len(self._models) > self.capacity:
                _, evicted = self._models.popitem(last=False)
                evicted.close()
            return loaded

    def close_all(self) -> None:
        with self._lock:
            while self._models:
                _, model = self._models.popitem(last=False)
                model.close()

    def __len__(self) -> int:
        return len(self._models)


def _load(path: Path, options: LoadOptions) -> LoadedModel:
    info = read_gguf_info(path)  # refuses missing, non-GGUF and truncated files before llama.cpp sees them
    options = options.fitted(path, info.context_length)
    return LoadedModel(path=path, options=options, llama=_model_loader(path, options))


def llama_cpp_loader(path: Path, options: LoadOptions):
    """The real loader: a llama.cpp model with all layers offloaded where llama.cpp has a GPU backend."""
    from llama_cpp import Llama, llama_supports_gpu_offload

    from llmdeck.core.llama_backend import prepare_llama_cpp

    prepare_llama_cpp()

    gpu_layers = options.n_gpu_layers if llama_supports_gpu_offload() else 0
    if options.lora_path:
        mismatch = lora_mismatch(path, Path(options.lora_path))
        if mismatch:
            raise LoraNotApplicable(f"llama.cpp cannot apply the LoRA {options.lora_path} to {path.name}: {mismatch}")
    try:
        return Llama(
            model_path=str(path),
            n_ctx=options.n_ctx,
            n_threads=options.threads(),
            n_threads_batch=options.threads(),
            n_gpu_layers=gpu_layers,
            lora_path=options.lora_path,
            verbose=False,
        )
    except ValueError as exc:
        if options.lora_path and "lora" in str(exc).lower():
            raise LoraNotApplicable(
                f"llama.cpp cannot apply the LoRA {options.lora_path} to {path.name} ({exc})"
            ) from None
        raise BadInput(f"{path}: llama.cpp could not load the model ({exc})") from None


ModelLoader = Callable[[Path, LoadOptions], Any]
_model_loader: ModelLoader = llama_cpp_loader


def set_model_loader(loader: ModelLoader) -> ModelLoader:
    """Replace how a GGUF becomes a model object (tests inject `llmdeck.testing.fake_model`); returns the old one."""
    global _model_loader
    previous, _model_loader = _model_loader, loader
    return previous


def uses_default_loader() -> bool:
    """Whether models come from llama.cpp (not from a stand-in that exists only in this process)."""
    return _model_loader is llama_cpp_loader


_cache: ModelCache | None = None


def model_cache() -> ModelCache:
    global _cache
    if _cache is None:
        _cache = ModelCache(load_settings().loaded_model_cache)
        atexit.register(_cache.close_all)
    return _cache


def load_model(name_or_path: str | None = None, **load_overrides: Any) -> LoadedModel:
    """Load a store model (name, .gguf path, or None for the default) through the cache."""
    from llmdeck.core.store import ModelStore

    return load_entry(ModelStore().resolve(name_or_path), **load_overrides)


def load_entry(entry, **load_overrides: Any) -> LoadedModel:
    """Load a resolved store entry (`core.store.ModelEntry`) through the cache."""
    return model_cache().get(Path(entry.path), LoadOptions.from_settings(**load_overrides))


def build_messages(prompt: str, system: str | None = None, history: Sequence[dict] = ()) -> list[dict]:
    messages: list[dict] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.extend(history)
    messages.append({"role": "user", "content": prompt})
    return messages


def stream_chat(
    model: LoadedModel, messages: Sequence[dict], sampling: Sampling | None = None, stats: ChatStats | None = None
) -> Iterator[str]:
    """Yield answer text pieces as llama.cpp produces them, using the model's own chat template.

    `stats` (if given) is filled in as generation proceeds and is complete when the iterator ends.
    """
    sampling = sampling or Sampling()
    yield from _stream(
        model,
        lambda: model.llama.create_chat_completion(
            messages=list(messages),
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            seed=sampling.seed,
            stop=list(sampling.stop) or None,
            stream=True,
        ),
        lambda choice: choice.get("delta", {}).get("content"),
        stats,
    )


def stream_completion(
    model: LoadedModel, prompt: str, sampling: Sampling | None = None, stats: ChatStats | None = None
) -> Iterator[str]:
    """Yield a plain continuation of `prompt` (no chat template): for base models that have none."""
    sampling = sampling or Sampling()
    yield from _stream(
        model,
        lambda: model.llama.create_completion(
            prompt,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            seed=sampling.seed,
            stop=list(sampling.stop) or None,
            stream=True,
        ),
        lambda choice: choice.get("text"),
        stats,
    )


def _stream(
    model: LoadedModel,
    start_stream: Callable[[], Iterator[dict]],
    piece_of: Callable[[dict], str | None],
    stats: ChatStats | None,
) -> Iterator[str]:
    """The streaming loop chat and completion share: under the model's lock, start llama.cpp's stream and yield
    each chunk's text (`piece_of` a choice), filling `stats` (finish reason, timings, tokens) as it goes."""
    stats = stats if stats is not None else ChatStats()
    pieces: list[str] = []
    with model.lock:
        start = time.perf_counter()
        chunks = start_stream()
        first_at: float | None = None
        try:
            for chunk in chunks:
                choice = chunk["choices"][0]
                if choice.get("finish_reason"):
                    stats.finish_reason = choice["finish_reason"]
                text = piece_of(choice)
                if not text:
                    continue
                if first_at is None:
                    first_at = time.perf_counter()
                    stats.ttft_s = first_at - start
                pieces.append(text)
                yield text
        finally:  # a stopped stream (closed) fills its stats too: what it generated until then
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            _fill_stats(model, stats, pieces, start, first_at)


def _fill_stats(model: LoadedModel, stats: ChatStats, pieces: list[str], start: float, first_at: float | None) -> None:
    end = time.perf_counter()
    stats.total_s = end - start
    stats.text = "".join(pieces)
    # a streamed chunk can hold several tokens (multi-byte characters, held-back stop prefixes): the tokenizer counts
    stats.tokens = count_tokens(model, stats.text) if stats.text else 0
    decode_s = end - (first_at or end)
    # tokens after the first, over the time after the first: the decode rate
    stats.tokens_per_s = (stats.tokens - 1) / decode_s if stats.tokens > 1 and decode_s > 0 else 0.0


def plain_transcript(messages: Sequence[dict]) -> str:
    """A conversation as plain text, for completion mode (a model without a chat template)."""
    return "\n\n".join(str(m.get("content") or "") for m in messages) + "\n"


def count_tokens(model: LoadedModel, text: str) -> int:
    """Tokens of `text` under the model's own tokenizer (for context budgeting)."""
    return len(model.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))


def prompt_tokens(model: LoadedModel, messages: Sequence[dict]) -> int:
    """Tokens of a conversation's text plus the chat template's framing (~8 per message)."""
    text = "\n".join(str(m.get("content") or "") for m in messages)
    return count_tokens(model, text) + MESSAGE_OVERHEAD_TOKENS * len(messages)


def ensure_fits(model: LoadedModel, n_prompt_tokens: int, max_tokens: int) -> None:
    """BadInput when the prompt plus the answer budget cannot fit the context window."""
    n_ctx = model.llama.n_ctx()
    if n_prompt_tokens + max_tokens > n_ctx:
        raise BadInput(
            f"prompt ({n_prompt_tokens} tokens) + max_tokens ({max_tokens}) exceeds the context window ({n_ctx});"
            " shorten the prompt, lower --max-tokens or raise --ctx"
        )
