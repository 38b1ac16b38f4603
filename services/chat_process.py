"""Chat through a model process (`core.model_process`): the app's answers are `services.chat` calls run in a child
that owns the llama.cpp model, so decoding never holds the app's GIL. The app reads the answer as a few text
batches a second; the CLI keeps decoding in its own process (`services.chat` directly).

    response = ask("ask", "Hello", model="smollm2-135m-instruct", session=None)   # raises what chat() raises
    for text in response: ...            # token batches, at most BATCH_S apart
    response.stats, response.stopped     # complete when the iteration ends or after close()
    response.close()                     # stops the answer between two tokens; a session stores it, marked stopped

While `core.runtime`'s model loader is a stand-in (the tests' scripted fake model, which exists only in this
process), the same protocol is served from a thread here instead (`InlineHost`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from llmdeck.core.errors import BadInput
from llmdeck.core.model_process import Emit, Exchange, HostSlot, InlineHost, ModelProcess
from llmdeck.core.runtime import ChatStats, Sampling, uses_default_loader
from llmdeck.services.chat import AnswerEnded, AnswerStarted, ChatResponse, TokenStreamed, decode_chat_event

HANDLER = "llmdeck.services.chat_process:serve"
BATCH_S = 0.1  # the answer reaches the app in batches this far apart (ten a second reads smoothly; each a repaint)
ASKS = ("ask", "regenerate", "edit")


def serve(request: dict, emit: Emit, stopped: Callable[[], bool]) -> None:
    """The child's side of one answer: `services.chat`'s call for `request["how"]`, streamed as batches."""
    from llmdeck.services import chat as service

    options = dict(request.get("options") or {})
    if options.get("sampling") is not None:
        sampling = options["sampling"]
        options["sampling"] = Sampling(**{**sampling, "stop": tuple(sampling.get("stop") or ())})
    how, prompt, session = request["how"], request.get("prompt") or "", request.get("session")
    if how == "resolve":  # the model (and a run's LoRA, converted on first use) a chat would answer with
        entry, _ = service.resolve_model(options.get("model"), options.get("adapter"))
        emit({"model": entry.name})
        return
    if how == "ask":
        response = service.chat(prompt, session=session or True, **options)
    elif not session:
        raise BadInput(f"chat: {how} needs a session")
    elif how == "regenerate":
        response = service.regenerate(session, **options)
    else:
        response = service.edit_and_resend(session, prompt, **options)
    emit_answer(response, emit, stopped)


def emit_answer(response: ChatResponse, emit: Emit, stopped: Callable[[], bool]) -> None:
    """Stream a started `services.chat` answer through `emit`: AnswerStarted, TokenStreamed batches, AnswerEnded
    (a handler's side of any answer the app reads as a `ModelChatResponse`)."""
    emit(
        AnswerStarted(response.model, response.mode, response.adapter, response.session_id, response.warning).to_json()
    )
    batch, sent_at = [], time.monotonic()
    try:
        for piece in response:
            if stopped():
                break
            batch.append(piece)
            if time.monotonic() - sent_at >= BATCH_S:
                emit(TokenStreamed("".join(batch)).to_json())
                batch, sent_at = [], time.monotonic()
    finally:
        response.close()  # a stopped answer: the model is released and the session stores it, marked stopped
    if batch:
        emit(TokenStreamed("".join(batch)).to_json())
    stats = response.stats
    ended = AnswerEnded(
        response.model,
        stats.tokens,
        round(stats.ttft_s, 4),
        round(stats.tokens_per_s, 2),
        round(stats.total_s, 4),
        stats.finish_reason,
        stopped=not response.done,
        prompt_tokens=response.prompt_tokens,
        n_ctx=response.n_ctx,
        sources=response.sources,
    )
    emit(ended.to_json())


class ModelChatResponse:
    """An answer from the model process, read like a `services.chat.ChatResponse`."""

    def __init__(self, exchange: Exchange, started: AnswerStarted, events: Iterator[dict]):
        self._exchange = exchange
        self._events = events
        self.model = started.model
        self.mode = started.mode
        self.adapter = started.adapter
        self.session_id = started.session
        self.warning = started.warning
        self.stats = ChatStats()
        self.prompt_tokens = 0
        self.n_ctx = 0
        self.sources: list[dict] = []
        self.done = False  # ended at its end (not stopped)
        self.stopped = False
        self._pieces: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self._pieces)

    def __iter__(self) -> Iterator[str]:
        for data in self._events:
            event = decode_chat_event(data)
            if isinstance(event, TokenStreamed):
                self._pieces.append(event.text)
                yield event.text
            elif isinstance(event, AnswerEnded):
                self._ended(event)

    def _ended(self, event: AnswerEnded) -> None:
        self.stats = ChatStats(
            tokens=event.tokens,
            ttft_s=event.ttft_s,
            total_s=event.total_s,
            tokens_per_s=event.tokens_per_s,
            finish_reason=event.finish_reason,
            text=self.text,
        )
        self.prompt_tokens, self.n_ctx, self.sources = event.prompt_tokens, event.n_ctx, event.sources
        self.stopped, self.done = event.stopped, not event.stopped

    def stop_when(self, check: Callable[[], bool]) -> None:
        """Stop the answer as soon as `check()` holds (asked while waiting for the next batch, too)."""
        self._exchange.stop_check = check

    def close(self) -> None:
        """Stop the answer (if it still runs) and read its end: the stats then hold what was generated."""
        self._exchange.stop()
        for _ in self:
            pass
        if not self.done:
            self.stopped = True


def ask(
    how: str,
    prompt: str | None,
    *,
    session: str | None = None,
    model: str | None = None,
    rag: str | None = None,
    adapter: str | None = None,
    system: str | None = None,
    sampling: Sampling | None = None,
) -> ModelChatResponse:
    """Start an answer in the model process: `how` is "ask" (a new or the given session), "regenerate" or "edit"
    (the session's last question); raises what `services.chat` raises, before anything streams."""
    if how not in ASKS:
        raise ValueError(f"how={how!r}: expected one of {', '.join(ASKS)}")
    options: dict[str, Any] = {"model": model, "rag": rag, "adapter": adapter}
    if system is not None:
        options["system"] = system
    if sampling is not None:
        options["sampling"] = {**vars(sampling), "stop": list(sampling.stop)}
    return started_answer(model_host().request({"how": how, "prompt": prompt, "session": session, "options": options}))


def resolved_model(model: str | None, adapter: str | None) -> str:
    """The store name of the model a chat with `model` and `adapter` (a run) answers with, resolved in the model
    process: a run's LoRA is converted to GGUF there on first use (transformers and torch load there, not here).
    Raises what `services.chat.resolve_model` raises."""
    exchange = model_host().request(
        {"how": "resolve", "prompt": None, "session": None, "options": {"model": model, "adapter": adapter}}
    )
    found = [event for event in exchange]
    if not found:
        raise RuntimeError("the model process resolved no model")
    return str(found[-1]["model"])


def started_answer(exchange: Exchange) -> ModelChatResponse:
    """The answer an exchange streams, once its host says it started (raises what the handler raised before)."""
    events = iter(exchange)
    try:
        first = decode_chat_event(next(events))
    except StopIteration:
        raise RuntimeError("the model process ended the answer before it started") from None
    if not isinstance(first, AnswerStarted):
        raise RuntimeError(f"the model process began with {first.type!r}, not 'started'")
    return ModelChatResponse(exchange, first, events)


_slot = HostSlot(HANDLER, serve, "model-process.log", lambda: not uses_default_loader())


def model_host() -> ModelProcess | InlineHost:
    """The host that answers now: the model process (one per LLMDECK_HOME, started on first use), or the inline
    host while the runtime's loader is a stand-in."""
    return _slot.host()


def start_model_host() -> None:
    """Start the model process ahead of the first answer (the app calls it when the chat opens)."""
    host = model_host()
    with host._lock:
        host._ensure_started()


def close_model_host() -> None:
    """End the model process (and the inline host): the next answer starts a new one."""
    _slot.close()
