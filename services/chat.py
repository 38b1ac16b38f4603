"""Chat in its three modes, for the CLI, the app and the benches alike:

- plain: a prompt (and an in-memory history the caller keeps);
- session (`session=ID`): the stored conversation is the memory, windowed to the context;
- RAG (`rag=COLLECTION`): the follow-up is condensed, chunks are retrieved and cited, the session remembers.

`chat()` checks everything (model, collection, context budget) before it stores or streams anything and
returns a `ChatResponse`: iterate it for text pieces; `text`, `stats`, `sources` and `session_id` are
complete when the iteration ends; `close()` stops generation and releases the model's lock.
A session stores the question before generation and the answer once complete: a crash or a stop loses
at most the partial answer, and a refused question is never stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from llmdeck.core import sessions
from llmdeck.core.errors import BadInput
from llmdeck.core.runtime import ChatStats, LoadedModel, Sampling, build_messages, ensure_fits, load_entry, \
    plain_transcript, prompt_tokens, stream_chat, stream_completion
from llmdeck.core.store import ModelStore


@dataclass
class ChatResponse:
    """One answer being streamed (simonw/llm's `Response`): iterate for pieces, read the rest when done."""

    model: str  # the store name that answers
    model_file: str
    session_id: str | None = None
    mode: str = "chat"  # "completion" for a model without a chat template
    warning: str | None = None  # one line for the front end to show (e.g. no chat template)
    sources: list[dict] = field(default_factory=list)
    standalone_question: str | None = None
    stats: ChatStats = field(default_factory=ChatStats)
    done: bool = False
    cancelled: bool = False
    _stream: Iterator[str] | None = field(default=None, repr=False)
    _started: bool = field(default=False, repr=False)
    _on_done: object = field(default=None, repr=False)

    @property
    def text(self) -> str:
        return self.stats.text

    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise RuntimeError("a ChatResponse can be iterated once")
        self._started = True
        try:
            yield from self._stream
        finally:
            self._stream.close()
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
        """Stop generating (the model's lock is released at once); a session keeps only the question.
        Closing a finished response does nothing."""
        if self.done:
            return
        self.cancelled = True
        if self._stream is not None:
            self._stream.close()

    def done_event(self) -> dict:
        """The `--json` stream's closing line."""
        event = {"type": "done", "model": self.model, "tokens": self.stats.tokens, "ttft_s": round(self.stats.ttft_s, 4),
                 "tokens_per_s": round(self.stats.tokens_per_s, 2), "total_s": round(self.stats.total_s, 4),
                 "finish_reason": self.stats.finish_reason}
        if self.session_id:
            event["session"] = self.session_id
        if self.standalone_question is not None:
            event["sources"] = [{k: s[k] for k in ("n", "source", "chunk")} for s in self.sources]
            event["standalone_question"] = self.standalone_question
        return event


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
) -> ChatResponse:
    """Answer `prompt`: plain, or with memory (`session`: an id to resume or create, True for a new one; a RAG chat
    always keeps a session), or from the `rag` collection, citing sources."""
    if not prompt or not prompt.strip():
        raise BadInput("chat: the prompt is empty")
    entry = ModelStore().resolve(model)
    loaded = load_entry(entry, n_ctx=n_ctx, n_threads=n_threads)
    sampling = sampling or Sampling.from_settings()
    response = ChatResponse(model=entry.name, model_file=loaded.path.name)
    if rag:
        from llmdeck.rag.query import open_collection

        open_collection(rag)  # an unknown collection fails before a session is touched
    session_id = session if isinstance(session, str) else None
    if rag or session:
        stored = sessions.find_session(session_id) if session_id else None
        history = [m.as_chat() for m in sessions.messages(stored.id)] if stored else []
        history = [m for m in history if m["role"] in ("user", "assistant")]
    if rag:
        from llmdeck.rag.chat import rag_prompt

        built = rag_prompt(loaded, prompt, rag, history, k=k, max_tokens=sampling.max_tokens, condenser=condenser)
        messages, response.sources, response.standalone_question = built.messages, built.sources, built.standalone_question
    elif session:
        messages = _windowed(loaded, prompt, system, history, sampling.max_tokens)
    else:
        messages = build_messages(prompt, system, history)
        ensure_fits(loaded, prompt_tokens(loaded, messages), sampling.max_tokens)
    if not entry.has_chat_template:  # llama.cpp would fall back to a Llama-2 format: plain completion instead
        response.mode = "completion"
        response.warning = no_template_warning(entry.name)
    if rag or session:
        opened = sessions.open_session(session_id, model=entry.name, rag_collection=rag)
        response.session_id = opened.id
        sessions.add_message(opened.id, "user", prompt)
        response._on_done = lambda r: sessions.add_message(r.session_id, "assistant", r.text, sources=r.sources or None)
    if response.mode == "completion":
        response._stream = stream_completion(loaded, plain_transcript(messages), sampling, response.stats)
    else:
        response._stream = stream_chat(loaded, messages, sampling, response.stats)
    return response


def no_template_warning(model_name: str) -> str:
    return (f"{model_name} has no chat template: completion mode (the conversation is continued as plain text); "
            f"`llmdeck complete {model_name} TEXT` continues a text")


def complete(prompt: str, *, model: str | None = None, sampling: Sampling | None = None, n_ctx: int | None = None,
             n_threads: int | None = None) -> ChatResponse:
    """Continue `prompt` as plain text (no chat template), for any model; a ChatResponse in completion mode."""
    if not prompt or not prompt.strip():
        raise BadInput("complete: the text is empty")
    entry = ModelStore().resolve(model)
    loaded = load_entry(entry, n_ctx=n_ctx, n_threads=n_threads)
    sampling = sampling or Sampling.from_settings()
    ensure_fits(loaded, len(loaded.llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)), sampling.max_tokens)
    response = ChatResponse(model=entry.name, model_file=loaded.path.name, mode="completion")
    response._stream = stream_completion(loaded, prompt, sampling, response.stats)
    return response


def _windowed(loaded: LoadedModel, prompt: str, system: str | None, history: list[dict], max_tokens: int) -> list[dict]:
    """The newest whole turns of `history` that fit with the prompt and the answer budget."""
    budget = loaded.llama.n_ctx() - max_tokens
    window = sessions.window_history(history, lambda w: prompt_tokens(loaded, build_messages(prompt, system, w)) <= budget)
    messages = build_messages(prompt, system, window)
    ensure_fits(loaded, prompt_tokens(loaded, messages), max_tokens)
    return messages
