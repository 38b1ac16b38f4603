"""The optional rerank stage (`--rerank`): a second look at the fused top hits by a model the user already has.

Two kinds, neither downloads anything:
- a chat model through llama.cpp (default: the store's default model, the embedded SmolLM2): a chunk's score is
  the model's log-probability that the answer to "does this document help answer the question? yes or no" is
  yes, normalised against no. The question comes before the document, so the prompt's prefix is evaluated once
  per question and only each document's tokens after it.
- a cross-encoder from a local directory (sentence-transformers' CrossEncoder, imported only then).

The first `depth` hits are reordered: by the reranker's scores alone, or (`fuse`) by reciprocal rank fusion of
the reranker's order with the retrieval's, so that a weak model refines the ranking rather than replacing it.
The rest keep the retrieval's order after them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from llmdeck.core.errors import BadInput
from llmdeck.rag.stores import Hit

RERANK_DEPTH = 10  # fused hits the reranker scores
MAX_DOCUMENT_CHARS = 800  # of a chunk shown to the reranking model (its first ~200 tokens)
SYSTEM = "You judge whether a document helps answer a question. Reply with yes or no only."
PROMPT = "Question: {question}\n\nDocument:\n{document}\n\nDoes the document help answer the question? Reply yes or no."
YES_WORDS = ("yes", "Yes", " yes", " Yes", "YES")
NO_WORDS = ("no", "No", " no", " No", "NO")


class Reranker(Protocol):
    name: str
    depth: int
    fuse: bool

    def scores(self, question: str, texts: Sequence[str]) -> list[float]:
        """One relevance score per text, higher is more relevant."""
        ...


@dataclass
class LikelihoodReranker:
    """Scores each (question, document) pair by a likelihood function (llama.cpp's, or a test's script)."""

    likelihood: Callable[[str, str], float]
    name: str = "likelihood"
    depth: int = RERANK_DEPTH
    fuse: bool = False

    def scores(self, question: str, texts: Sequence[str]) -> list[float]:
        return [float(self.likelihood(question, text)) for text in texts]


class CrossEncoderReranker:
    """A sentence-transformers cross-encoder loaded from a local directory (never a hub id: no download)."""

    def __init__(self, path: Path):
        from sentence_transformers import CrossEncoder  # heavy (torch): only when this option is used

        self.name, self.depth, self.fuse = str(path), RERANK_DEPTH, False
        self.model = CrossEncoder(str(path), device="cpu", local_files_only=True)

    def scores(self, question: str, texts: Sequence[str]) -> list[float]:
        predicted = self.model.predict([(question, text) for text in texts], show_progress_bar=False)
        return [float(value) for value in predicted]


def rerank(question: str, hits: list[Hit], reranker: Reranker | None) -> list[Hit]:
    """The reranker's first `depth` hits reordered (ties keep the retrieval's order), the rest after them
    unchanged. Without a reranker, the hits as they came."""
    if reranker is None or not hits:
        return hits
    head, tail = hits[: reranker.depth], hits[reranker.depth :]
    scores = reranker.scores(question, [hit.text for hit in head])
    if len(scores) != len(head):
        raise ValueError(f"reranker {reranker.name} gave {len(scores)} scores for {len(head)} hits")
    return reordered(head, scores, reranker.fuse) + tail


def reordered(head: list[Hit], scores: Sequence[float], fuse: bool) -> list[Hit]:
    """`head` by `scores` (each hit's score becomes its reranker score), or by the reciprocal rank fusion of
    that order with `head`'s own (the fused score)."""
    order = sorted(range(len(head)), key=lambda i: (-scores[i], i))
    if not fuse:
        return [replace(head[i], score=scores[i]) for i in order]
    from llmdeck.rag.fusion import reciprocal_rank_fusion

    return reciprocal_rank_fusion([head, [head[i] for i in order]])


def open_reranker(model: str | None = None, loaded: Any = None) -> Reranker:
    """The reranker for `model`: a directory is a cross-encoder; anything else a store model name or .gguf path
    (None: config.toml's `rerank_model`, else `loaded` (the chat's own model) when given, else the store's
    default model)."""
    if model is None:
        from llmdeck.core.settings import load_settings

        model = load_settings().rerank_model
    if model and Path(model).expanduser().is_dir():
        return CrossEncoderReranker(Path(model).expanduser())
    if model and not Path(model).expanduser().exists() and ("/" in model or model.endswith(".gguf")):
        raise BadInput(f"--rerank-model {model}: no such file or directory (a cross-encoder folder or a GGUF)")
    if model or loaded is None:
        from llmdeck.core.runtime import load_model

        loaded = load_model(model)
    return LikelihoodReranker(yes_likelihood(loaded), name=Path(str(loaded.path)).name)


def yes_likelihood(loaded: Any) -> Callable[[str, str], float]:
    """log P(yes) / (P(yes) + P(no)) for the relevance prompt's first reply token, from llama.cpp's logits.
    Holds the model's lock while it evaluates; what the last prompt shares with this one is not evaluated again."""
    import numpy as np

    llama = loaded.llama
    render = _renderer(llama)
    yes_ids = _first_tokens(llama, YES_WORDS)
    no_ids = _first_tokens(llama, NO_WORDS)
    if not yes_ids or not no_ids:
        raise BadInput(f"{Path(str(loaded.path)).name}: its vocabulary has no 'yes'/'no' token to rerank with")
    limit = max(llama.n_ctx() - 8, 64)

    def likelihood(question: str, document: str) -> float:
        prompt = render(question[:2000], document[:MAX_DOCUMENT_CHARS])
        tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)[-limit:]
        with loaded.lock:
            logits = _next_token_logits(llama, tokens, np)
        yes = _logsumexp([float(logits[i]) for i in yes_ids])
        no = _logsumexp([float(logits[i]) for i in no_ids])
        return yes - _logsumexp([yes, no])

    return likelihood


def _renderer(llama) -> Callable[[str, str], str]:
    """The relevance prompt in the model's chat template (a model without one: as plain text)."""
    template = (getattr(llama, "metadata", None) or {}).get("tokenizer.chat_template")
    if not template:
        return lambda question, document: PROMPT.format(question=question, document=document) + "\nAnswer:"
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def token_text(token_id: int) -> str:
        return llama.detokenize([token_id], special=True).decode("utf-8", "replace") if token_id >= 0 else ""

    formatter = Jinja2ChatFormatter(
        template, eos_token=token_text(llama.token_eos()), bos_token=token_text(llama.token_bos())
    )

    def render(question: str, document: str) -> str:
        user = PROMPT.format(question=question, document=document)
        messages: list[Any] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
        return formatter(messages=messages).prompt

    return render


def _first_tokens(llama, words: Sequence[str]) -> list[int]:
    ids = set()
    for word in words:
        tokens = llama.tokenize(word.encode("utf-8"), add_bos=False, special=False)
        if tokens:
            ids.add(tokens[0])
    return sorted(ids)


def _next_token_logits(llama, tokens: list[int], np):
    """Evaluate `tokens` after the longest prefix llama.cpp already holds, and return the last position's logits."""
    held = int(llama.n_tokens)
    common = 0
    cached = llama.input_ids[:held]
    while common < min(held, len(tokens) - 1) and cached[common] == tokens[common]:
        common += 1
    llama.n_tokens = common  # eval() drops the cache beyond n_tokens first
    llama.eval(tokens[common:])
    return np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).copy()


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
