"""RAG prompts with memory: condense a follow-up with the session history into a standalone query,
retrieve the top-k chunks and number them into the system prompt within the context budget.

Streaming and storing the turns is `llmdeck.services.chat`'s job (the same for plain, session and RAG chat).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmdeck.core.errors import BadInput
from llmdeck.core.runtime import LoadedModel, ensure_fits, prompt_tokens
from llmdeck.core.sessions import window_history

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources below. Cite the sources you use as [1], [2]. "
    "If the sources do not contain the answer, say you do not know.\n\nSources:\n{sources}"
)
CONDENSE_SYSTEM = (
    "Given the conversation so far and a follow-up question, rewrite the follow-up as one standalone question "
    "that makes sense without the conversation (replace pronouns with what they refer to). "
    "Reply with the question only."
)


@dataclass
class RagPrompt:
    """What to send the model for one RAG turn, and what it was built from."""

    messages: list[dict]
    sources: list[dict]  # {"n", "source", "chunk", "title", "section", "citation", "score", "text"}, as cited
    standalone_question: str
    history_used: int


def condense_question(question: str, history: list[dict], condenser) -> str:
    """A standalone version of `question` given `history` (a LangChain chat model does the rewrite)."""
    if not history:
        return question
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", CONDENSE_SYSTEM),
            MessagesPlaceholder("history"),
            ("human", "Follow-up question: {question}\nStandalone question:"),
        ]
    )
    recent = [(m["role"] if m["role"] != "user" else "human", m["content"]) for m in history[-6:]]
    rewritten = (prompt | condenser | StrOutputParser()).invoke({"history": recent, "question": question})
    rewritten = rewritten.strip().splitlines()[0].strip() if rewritten.strip() else ""
    return rewritten or question


def format_sources(hits) -> str:
    return "\n\n".join(f"[{n}] ({source_label(hit)})\n{hit.text}" for n, hit in enumerate(hits, start=1))


def source_label(hit) -> str:
    """How the prompt names a hit: its file and section (`functools.rst.txt § lru_cache`), or its file and
    title (a chunk from before section paths, a PDF)."""
    from llmdeck.rag.documents import citation

    title = hit.metadata.get("title")
    if hit.metadata.get("section") or not title:
        return citation(hit.metadata)
    return f"{citation(hit.metadata)} - {title}"


def fit_prompt(loaded: LoadedModel, question: str, history: list[dict], hits: list, max_tokens: int):
    """(messages, hits kept, history kept) within the context window: drop the oldest history first,
    then the lowest-ranked chunks; BadInput when even the question alone cannot fit."""
    budget = loaded.llama.n_ctx() - max_tokens

    def build(window, kept_hits) -> list[dict]:
        system = {"role": "system", "content": SYSTEM_PROMPT.format(sources=format_sources(kept_hits))}
        return [system, *window, {"role": "user", "content": question}]

    kept_hits = list(hits)
    window = window_history(history, lambda w: prompt_tokens(loaded, build(w, kept_hits)) <= budget)
    while window == [] and len(kept_hits) > 1 and prompt_tokens(loaded, build([], kept_hits)) > budget:
        kept_hits.pop()
    messages = build(window, kept_hits)
    ensure_fits(loaded, prompt_tokens(loaded, messages), max_tokens)
    return messages, kept_hits, window


def rag_prompt(
    loaded: LoadedModel,
    question: str,
    collection: str,
    history: list[dict],
    *,
    k: int = 4,
    max_tokens: int = 512,
    condenser=None,
    retrieval: str | None = None,
    rerank: bool | None = None,
    rerank_model: str | None = None,
) -> RagPrompt:
    """Condense, retrieve and fit one RAG turn; `condenser` defaults to the chat model itself at temperature 0.
    `rerank` (None: config.toml's) or `rerank_model`: the top hits reordered, by default by the chat model."""
    from llmdeck.rag.documents import citation
    from llmdeck.rag.query import query, reranker_for

    if not question.strip():
        raise BadInput("chat: the question is empty")
    if condenser is None and history:
        from llmdeck.core.adapters import langchain_chat_model

        condenser = langchain_chat_model(loaded, temperature=0.0, max_tokens=64)
    standalone = condense_question(question, history, condenser)
    reranker = reranker_for(rerank, rerank_model, loaded)
    hits = query(collection, standalone, k=k, retrieval=retrieval, reranker=reranker)  # None: config.toml's mode
    messages, kept_hits, window = fit_prompt(loaded, question, history, hits, max_tokens)
    sources = [
        {
            "n": n,
            "source": hit.metadata.get("source"),
            "chunk": hit.metadata.get("chunk"),
            "title": hit.metadata.get("title"),
            "section": hit.metadata.get("section"),
            "citation": citation(hit.metadata),
            "score": round(hit.score, 4),
            "text": hit.text,
        }
        for n, hit in enumerate(kept_hits, start=1)
    ]
    return RagPrompt(messages, sources, standalone, len(window))
