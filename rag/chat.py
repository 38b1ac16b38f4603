"""RAG chat with memory: condense a follow-up with the session history into a standalone query,
retrieve the top-k chunks, stuff them (numbered) into the prompt within the context budget, and
stream an answer that cites [n]; both turns are stored in the session as soon as they are complete."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from core import sessions
from core.errors import BadInput

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources below. Cite the sources you use as [1], [2]. "
    "If the sources do not contain the answer, say you do not know.\n\nSources:\n{sources}"
)
CONDENSE_SYSTEM = (
    "Given the conversation so far and a follow-up question, rewrite the follow-up as one standalone question "
    "that makes sense without the conversation (replace pronouns with what they refer to). "
    "Reply with the question only."
)
MESSAGE_OVERHEAD_TOKENS = 8  # chat-template tokens around each message


@dataclass
class RagAnswer:
    """Filled in while `stream_rag_chat` runs; complete once the stream ends."""

    session_id: str = ""
    question: str = ""
    standalone_question: str = ""
    sources: list[dict] = field(default_factory=list)
    text: str = ""
    stats: Any = None
    history_used: int = 0


def condense_question(question: str, history: list[dict], condenser) -> str:
    """A standalone version of `question` given `history` (a LangChain chat model does the rewrite)."""
    if not history:
        return question
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    prompt = ChatPromptTemplate.from_messages([
        ("system", CONDENSE_SYSTEM),
        MessagesPlaceholder("history"),
        ("human", "Follow-up question: {question}\nStandalone question:"),
    ])
    recent = [(m["role"] if m["role"] != "user" else "human", m["content"]) for m in history[-6:]]
    rewritten = (prompt | condenser | StrOutputParser()).invoke({"history": recent, "question": question})
    rewritten = rewritten.strip().splitlines()[0].strip() if rewritten.strip() else ""
    return rewritten or question


def format_sources(hits) -> str:
    return "\n\n".join(
        f"[{n}] ({hit.metadata.get('source', '?')}{' - ' + hit.metadata['title'] if hit.metadata.get('title') else ''})\n{hit.text}"
        for n, hit in enumerate(hits, start=1)
    )


def fit_prompt(loaded, question: str, history: list[dict], hits: list, max_tokens: int):
    """(messages, hits kept, history kept) within the context window: drop the oldest history first,
    then the lowest-ranked chunks."""
    from core.runtime import count_tokens, ensure_fits

    budget = loaded.llama.n_ctx() - max_tokens

    def cost(window, kept_hits) -> int:
        texts = [SYSTEM_PROMPT.format(sources=format_sources(kept_hits)), question, *(m["content"] for m in window)]
        return count_tokens(loaded, "\n".join(texts)) + MESSAGE_OVERHEAD_TOKENS * (len(window) + 2)

    kept_hits = list(hits)
    window = sessions.window_history(history, lambda w: cost(w, kept_hits) <= budget)
    while window == [] and len(kept_hits) > 1 and cost([], kept_hits) > budget:
        kept_hits.pop()
    n_prompt = cost(window, kept_hits)
    ensure_fits(loaded, n_prompt, max_tokens)
    messages = [{"role": "system", "content": SYSTEM_PROMPT.format(sources=format_sources(kept_hits))}]
    messages += window + [{"role": "user", "content": question}]
    return messages, kept_hits, window


def stream_rag_chat(
    question: str,
    collection: str,
    session_id: str | None = None,
    *,
    model=None,
    k: int = 4,
    sampling=None,
    condenser=None,
    answer: RagAnswer | None = None,
    on_session=None,
) -> Iterator[str]:
    """Stream the answer to `question` from `collection`, remembering the conversation in a session.

    `condenser`: the LangChain chat model that rewrites follow-ups (default: the chat model itself).
    """
    from core.runtime import ChatStats, Sampling, load_model, stream_chat
    from rag.query import open_collection, query

    if not question.strip():
        raise BadInput("chat: the question is empty")
    answer = answer if answer is not None else RagAnswer()
    sampling = sampling or Sampling.from_settings()
    loaded = model if hasattr(model, "llama") else load_model(model)
    open_collection(collection)  # an unknown collection fails before the session is touched
    session = sessions.open_session(session_id, model=loaded.path.name, rag_collection=collection)
    if on_session:
        on_session(session)
    history = [m.as_chat() for m in sessions.messages(session.id) if m.role in ("user", "assistant")]
    if condenser is None and history:
        from core.adapters import langchain_chat_model

        condenser = langchain_chat_model(loaded, temperature=0.0, max_tokens=64)
    answer.session_id, answer.question = session.id, question
    answer.standalone_question = condense_question(question, history, condenser)
    hits = query(collection, answer.standalone_question, k=k)
    messages, kept_hits, window = fit_prompt(loaded, question, history, hits, sampling.max_tokens)
    answer.history_used = len(window)
    answer.sources = [
        {"n": n, "source": hit.metadata.get("source"), "chunk": hit.metadata.get("chunk"),
         "title": hit.metadata.get("title"), "score": round(hit.score, 4)}
        for n, hit in enumerate(kept_hits, start=1)
    ]
    sessions.add_message(session.id, "user", question)
    answer.stats = ChatStats()
    yield from stream_chat(loaded, messages, sampling, answer.stats)
    answer.text = answer.stats.text
    sessions.add_message(session.id, "assistant", answer.text, sources=answer.sources)
