"""Chat in its three modes, for the CLI, the app and the benches alike:

- plain: a prompt (and an in-memory history the caller keeps);
- session (`session=ID`): the stored conversation is the memory, windowed to the context;
- RAG (`rag=COLLECTION`): the follow-up is condensed, chunks are retrieved and cited, the session remembers.

`chat()` checks everything (model, collection, context budget) before it stores or streams anything and
returns a `ChatResponse`: iterate it for text pieces; `text`, `stats`, `sources` and `session_id` are
complete when the iteration ends; `close()` stops generation and releases the model's lock. The `--json`
stream of an answer is a `TokenStreamed` per piece, then `done_event()`, an `AnswerFinished`.
A session stores the question before generation and the answer once complete; a stopped answer (`close()`
mid-answer) is stored too, marked stopped, with the text generated until then. A crash loses at most the
partial answer, and a refused question is never stored.

The app answers through `services.chat_process` (the same calls, in a model process: `AnswerStarted`,
`TokenStreamed` batches, then `AnswerEnded`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field

from llmdeck.core import sessions
from llmdeck.core.errors import BadInput
from llmdeck.core.events import Event, decoder, omitted_when
from llmdeck.core.runtime import (
    ChatStats,
    LoadedModel,
    LoraNotApplicable,
    Sampling,
    build_messages,
    ensure_fits,
    load_entry,
    plain_transcript,
    prompt_tokens,
    stream_chat,
    stream_completion,
)
from llmdeck.core.store import ModelEntry, ModelStore


@dataclass(frozen=True)
class TokenStreamed(Event):
    """A piece of the answer's text, as it was generated."""

    type = "token"
    text: str


@dataclass(frozen=True)
class AnswerFinished(Event):
    """The answer ended: the model, its stats and, where they apply, the adapter, the session and the sources."""

    type = "done"
    model: str
    tokens: int
    ttft_s: float
    tokens_per_s: float
    total_s: float
    finish_reason: str | None
    adapter: str | None = omitted_when(None)
    session: str | None = omitted_when(None)
    sources: list[dict] | None = omitted_when(None)  # a RAG answer's citations, with its standalone question
    standalone_question: str | None = omitted_when(None)


@dataclass(frozen=True)
class AnswerStarted(Event):
    """The model process began an answer: who answers, and the session it is stored in."""

    type = "started"
    model: str
    mode: str = "chat"  # "completion" for a model without a chat template
    adapter: str | None = omitted_when(None)
    session: str | None = omitted_when(None)
    warning: str | None = omitted_when(None)


@dataclass(frozen=True)
class AnswerEnded(Event):
    """The model process's last word on an answer: finished or stopped, its stats, its prompt's size and its
    sources in full (the app shows the cited chunks)."""

    type = "ended"
    model: str
    tokens: int
    ttft_s: float
    tokens_per_s: float
    total_s: float
    finish_reason: str | None
    stopped: bool = omitted_when(False)
    prompt_tokens: int = 0
    n_ctx: int = 0
    sources: list[dict] = field(default_factory=list)


CHAT_EVENTS = (TokenStreamed, AnswerFinished, AnswerStarted, AnswerEnded)
decode_chat_event = decoder(CHAT_EVENTS)


@dataclass
class ChatResponse:
    """One answer being streamed (simonw/llm's `Response`): iterate for pieces, read the rest when done."""

    model: str  # the store name that answers
    model_file: str
    adapter: str | None = None  # the run whose LoRA is applied
    session_id: str | None = None
    mode: str = "chat"  # "completion" for a model without a chat template
    warning: str | None = None  # one line for the front end to show (e.g. no chat template)
    sources: list[dict] = field(default_factory=list)
    standalone_question: str | None = None
    stats: ChatStats = field(default_factory=ChatStats)
    prompt_tokens: int = 0  # the prompt as sent (history, sources, template framing)
    n_ctx: int = 0  # the model's context window: prompt_tokens + answer tokens must fit it
    done: bool = False
    cancelled: bool = False
    _stream: Iterator[str] | None = field(default=None, repr=False)
    _started: bool = field(default=False, repr=False)
    _on_done: Callable[[ChatResponse], object] | None = field(default=None, repr=False)
    _on_stop: Callable[[ChatResponse], object] | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        return self.stats.text

    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise RuntimeError("a ChatResponse can be iterated once")
        self._started = True
        assert self._stream is not None  # chat() and complete() give every response its stream
        try:
            yield from self._stream
        finally:
            self._close_stream()
        if not self.cancelled:
            self.done = True
            if self._on_done:
                self._on_done(self)

    def read(self) -> str:
        """Consume the whole answer and return its text."""
        for _ in self:
            pass
        return self.text

    def close(self) -> None:
        """Stop generating (the model's lock is released at once); a session stores what was generated, marked
        stopped. Closing a finished or an already stopped response does nothing."""
        if self.done or self.cancelled:
            return
        self.cancelled = True
        self._close_stream()
        if self._on_stop:
            self._on_stop(self)

    def _close_stream(self) -> None:
        """Stop the stream (core.runtime's streams are generators: closing one releases the model's lock)."""
        if isinstance(self._stream, Generator):
            self._stream.close()

    def done_event(self) -> AnswerFinished:
        """The `--json` stream's closing line."""
        sources = [{k: s[k] for k in ("n", "source", "chunk")} for s in self.sources]
        return AnswerFinished(
            model=self.model,
            tokens=self.stats.tokens,
            ttft_s=round(self.stats.ttft_s, 4),
            tokens_per_s=round(self.stats.tokens_per_s, 2),
            total_s=round(self.stats.total_s, 4),
            finish_reason=self.stats.finish_reason,
            adapter=self.adapter or None,
            session=self.session_id or None,
            sources=sources if self.standalone_question is not None else None,
            standalone_question=self.standalone_question,
        )


def chat(
    prompt: str,
    *,
    model: str | None = None,
    system: str | None = None,
    history: Sequence[dict] = (),
    session: str | bool | None = None,
    rag: str | None = None,
    k: int = 4,
    sampling: Sampling | None = None,
    n_ctx: int | None = None,
    n_threads: int | None = None,
    condenser=None,
    adapter: str | None = None,
    retrieval: str | None = None,
    rerank: bool | None = None,
    rerank_model: str | None = None,
) -> ChatResponse:
    """Answer `prompt`: plain, or with memory (`session`: an id to resume or create, True for a new one, False for
    none even with `rag`; a RAG chat otherwise always keeps a session), or from the `rag` collection, citing
    sources. `adapter`: a finished run whose LoRA llama.cpp applies to `model` (default: the run's own base)."""
    if not prompt or not prompt.strip():
        raise BadInput("chat: the prompt is empty")
    entry, lora_path = resolve_model(model, adapter)
    try:
        loaded = load_entry(entry, n_ctx=n_ctx, n_threads=n_threads, lora_path=lora_path)
    except LoraNotApplicable as exc:
        raise BadInput(f"{exc}; export the run instead: `llmdeck export {adapter}`") from None
    session_id = session if isinstance(session, str) else None
    keep_session = bool(session) or (bool(rag) and session is not False)
    stored = sessions.find_session(session_id) if session_id and keep_session else None
    chosen = _chosen_options(system, sampling)  # what this call says explicitly: a new session keeps it
    if stored:  # the session's own system prompt and sampling, unless this call says otherwise
        system = system if system is not None else stored.options.get("system")
        sampling = sampling or Sampling.from_settings(**{k: stored.options.get(k) for k in SAMPLING_OPTIONS})
    sampling = sampling or Sampling.from_settings()
    response = ChatResponse(model=entry.name, model_file=loaded.path.name, adapter=adapter)
    if rag:
        from llmdeck.rag.query import open_collection

        open_collection(rag)  # an unknown collection fails before a session is touched
    if keep_session:
        history = [m.as_chat() for m in sessions.messages(stored.id)] if stored else []
        history = [m for m in history if m["role"] in ("user", "assistant")]
    if rag:
        from llmdeck.rag.chat import rag_prompt

        built = rag_prompt(
            loaded,
            prompt,
            rag,
            list(history),
            k=k,
            max_tokens=sampling.max_tokens,
            condenser=condenser,
            retrieval=retrieval,
            rerank=rerank,
            rerank_model=rerank_model,
        )
        messages, response.sources, response.standalone_question = (
            built.messages,
            built.sources,
            built.standalone_question,
        )
    elif session:
        messages = _windowed(loaded, prompt, system, list(history), sampling.max_tokens)
    else:
        messages = build_messages(prompt, system, history)
        ensure_fits(loaded, prompt_tokens(loaded, messages), sampling.max_tokens)
    response.prompt_tokens, response.n_ctx = prompt_tokens(loaded, messages), loaded.llama.n_ctx()
    if not entry.has_chat_template:  # llama.cpp would fall back to a Llama-2 format: plain completion instead
        response.mode = "completion"
        response.warning = no_template_warning(entry.name)
    if keep_session:
        opened = sessions.open_session(session_id, model=entry.name, rag_collection=rag, options=chosen)
        if opened.model != entry.name or (rag and opened.rag_collection != rag):
            sessions.update_session(opened.id, model=entry.name, rag_collection=rag or False)
        if opened.options.get("adapter") != adapter:  # the app shows (and resumes with) the last turn's adapter
            sessions.update_session(opened.id, options={"adapter": adapter})
        response.session_id = opened.id
        sessions.add_message(opened.id, "user", prompt)
        response._on_done = lambda r: sessions.add_message(
            opened.id, "assistant", r.text, sources=r.sources or None, model=r.model
        )
        response._on_stop = lambda r: sessions.add_message(
            opened.id, "assistant", r.text, sources=r.sources or None, model=r.model, stopped=True
        )
    if response.mode == "completion":
        response._stream = stream_completion(loaded, plain_transcript(messages), sampling, response.stats)
    else:
        response._stream = stream_chat(loaded, messages, sampling, response.stats)
    return response


def no_template_warning(model_name: str) -> str:
    return (
        f"{model_name} has no chat template: completion mode (the conversation is continued as plain text); "
        f"`llmdeck complete {model_name} TEXT` continues a text"
    )


def complete(
    prompt: str,
    *,
    model: str | None = None,
    sampling: Sampling | None = None,
    n_ctx: int | None = None,
    n_threads: int | None = None,
) -> ChatResponse:
    """Continue `prompt` as plain text (no chat template), for any model; a ChatResponse in completion mode."""
    if not prompt or not prompt.strip():
        raise BadInput("complete: the text is empty")
    entry = ModelStore().resolve(model)
    loaded = load_entry(entry, n_ctx=n_ctx, n_threads=n_threads)
    sampling = sampling or Sampling.from_settings()
    ensure_fits(
        loaded, len(loaded.llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)), sampling.max_tokens
    )
    response = ChatResponse(model=entry.name, model_file=loaded.path.name, mode="completion")
    response._stream = stream_completion(loaded, prompt, sampling, response.stats)
    return response


def resolve_model(model: str | None, adapter: str | None) -> tuple[ModelEntry, str | None]:
    """The store entry that answers and the GGUF LoRA to apply (a run's adapter, converted on first use)."""
    store = ModelStore()
    if not adapter:
        return store.resolve(model), None
    from llmdeck.tuning.adapter_gguf import run_adapter

    run = run_adapter(adapter)
    if model:
        return store.resolve(model), str(run.lora_path)
    if run.base_gguf is None:
        raise BadInput(
            f"run {run.run_id} was trained on {run.finished.base.display}, not a store GGUF;"
            " pass --model with a GGUF of that base, or export the run"
        )
    return store.resolve(str(run.base_gguf)), str(run.lora_path)


SAMPLING_OPTIONS = ("temperature", "top_p", "max_tokens")


def _chosen_options(system: str | None, sampling: Sampling | None) -> dict:
    chosen = {"system": system} if system else {}
    if sampling is not None:
        chosen.update({k: getattr(sampling, k) for k in SAMPLING_OPTIONS})
    return chosen


def session_options(session_id: str) -> dict:
    """A session's system prompt and sampling, with config.toml's values where the session sets none."""
    stored = sessions.get_session(session_id).options
    defaults = Sampling.from_settings()
    return {"system": stored.get("system"), **{k: stored.get(k, getattr(defaults, k)) for k in SAMPLING_OPTIONS}}


def set_session_options(session_id: str, **options) -> dict:
    """Save a session's system prompt and sampling (checked by config.toml's rules; BadInput names the
    field); an empty system prompt clears it. Later turns of the session use them, in the app and the CLI."""
    Sampling.from_settings(**{k: options.get(k) for k in SAMPLING_OPTIONS})
    changes = {k: options[k] for k in SAMPLING_OPTIONS if options.get(k) is not None}
    if "system" in options:
        changes["system"] = (options["system"] or "").strip() or None
    sessions.update_session(session_id, options=changes)
    return session_options(session_id)


def regenerate(session_id: str, **chat_options) -> ChatResponse:
    """Answer the session's last question again (the old answer is dropped once the new one can start)."""
    removed = sessions.pop_last_turn(session_id)
    return _ask_again(session_id, removed[0].content, removed, chat_options)


def edit_and_resend(session_id: str, prompt: str, **chat_options) -> ChatResponse:
    """Replace the session's last question (and its answer) with `prompt`, and answer that."""
    if not prompt or not prompt.strip():
        raise BadInput("chat: the prompt is empty")
    removed = sessions.pop_last_turn(session_id)
    return _ask_again(session_id, prompt, removed, chat_options)


def _ask_again(session_id: str, prompt: str, removed: list, chat_options: dict) -> ChatResponse:
    stored = sessions.get_session(session_id)
    chat_options.setdefault("rag", stored.rag_collection)
    chat_options.setdefault("model", stored.model)
    try:
        return chat(prompt, session=session_id, **chat_options)
    except BaseException:  # nothing was asked: the conversation is as it was
        sessions.restore_messages(session_id, removed)
        raise


def _windowed(loaded: LoadedModel, prompt: str, system: str | None, history: list[dict], max_tokens: int) -> list[dict]:
    """The newest whole turns of `history` that fit with the prompt and the answer budget."""
    budget = loaded.llama.n_ctx() - max_tokens
    window = sessions.window_history(
        history, lambda w: prompt_tokens(loaded, build_messages(prompt, system, w)) <= budget
    )
    messages = build_messages(prompt, system, window)
    ensure_fits(loaded, prompt_tokens(loaded, messages), max_tokens)
    return messages
