"""`llmdeck rag synth COLLECTION --out FILE`: questions generated from a collection's own chunks, for `rag eval`
and for fine-tuning (the Data Recipes idea, offline).

Chunks are sampled in a seeded order. For each one, a store model (llama.cpp; default the embedded SmolLM2) is
asked for a question a user would ask in their own words, and its answer. Then two filters run:

- **overlap**: the share of the question's content words (lowercased, three letters or more, no stopwords)
  that occur in the chunk. A question above `max_overlap` copies the chunk and is dropped.
- **retrieval**: the question is searched in the collection (`retrieval` mode, `top_k` hits). It is kept only
  when a hit comes from the chunk's own source. A question that retrieval cannot answer is not a fair test.

The kept questions are written as a `rag eval` QA file (JSON lines: `question`, `sources`, `answer` when the
model gave one, `id`). With `sft`, the ones with an answer are also written as SFT rows in the `messages`
format: the RAG chat's system prompt with the chunk as source [1], the question, the answer. Both files are
written at the end, each to a temp name then renamed. A stopped run writes neither.

`synthesize()` checks everything first (limit, output paths, collection, model) and returns a `Synthesis`:
iterate it for events (`SynthStarted`, a `QuestionSynthesized` per chunk tried, `SynthFinished`), and call
`close()` to stop after the current chunk.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from llmdeck.core.child_events import ChildEvents
from llmdeck.core.errors import BadInput
from llmdeck.core.events import Event, omitted_when
from llmdeck.core.runtime import Sampling

DEFAULT_LIMIT = 20
DEFAULT_TOP_K = 5
DEFAULT_MAX_OVERLAP = 0.6
MIN_CHUNK_WORDS = 20  # shorter chunks (a heading, a stray line) make no question worth asking
CHUNK_CHARS = 1500  # of a chunk, in the prompt
MAX_TOKENS = 96
TEMPERATURE = 0.5

SYSTEM = "You write the questions users ask about documentation, in their own everyday words."
PROMPT = (
    'Text:\n"""\n{chunk}\n"""\n\n'
    "Write one question that this text answers, in your own words (not the text's words), and its short answer."
)
EXAMPLE = [  # one worked example as an earlier turn: a small model follows a shown form better than a described one
    {
        "role": "user",
        "content": PROMPT.format(
            chunk="The kettle switches itself off when the water boils: a bimetallic strip bends as it heats up and"
            " opens the circuit."
        ),
    },
    {
        "role": "assistant",
        "content": "Question: Why does my kettle stop on its own once the water is hot?\n"
        "Answer: A metal strip bends with the heat and breaks the circuit.",
    },
]
ABOUT_THE_TEXT = re.compile(  # a question about the chunk as a text ("What does the passage say?"), not its subject
    r"\b(?:this|the given|the above|the provided) (?:text|passage|article|document)\b|\bthe (?:passage|author)\b"
    r"|\bthe text (?:says?|said|mentions?|describes?|explains?|answers?|suggests?|tells?)\b",
    re.IGNORECASE,
)

STOPWORDS = frozenset(
    """
    the and for are but not you your with this that these those from have has had was were will would can could
    should what which who whom whose when where why how does did doing done into onto over under than then them
    they their there here its it's about also any all each every some such only own same other more most much
    many very just like use used using get gets make makes way ways want need one two our out off via per
    """.split()
)
WORD = re.compile(r"[a-z0-9]+(?:['_][a-z0-9]+)*")


@dataclass(frozen=True)
class SynthStarted(Event):
    """A synth begins: the collection's `chunks`, how many questions to keep at most (`limit`) and how many chunks
    may be tried for them (`max_chunks`)."""

    type = "synth_start"
    collection: str
    model: str
    retrieval: str
    chunks: int
    limit: int
    max_chunks: int


@dataclass(frozen=True)
class QuestionSynthesized(Event):
    """One chunk tried: the question the model wrote ("" for none), its overlap with the chunk, the rank of the
    chunk's source among the hits (None: not in the top k, or not searched), whether it was kept and, if not, why;
    then the run's counts."""

    type = "synth_question"
    chunk_id: str
    source: str
    question: str
    answer: str | None
    overlap: float | None
    rank: int | None
    kept: bool
    reason: str | None
    tried: int
    kept_count: int
    limit: int
    seconds: float


@dataclass(frozen=True)
class SynthFinished(Event):
    """The synth ended: counts (`dropped` by reason: no question, overlap, retrieval), the files written (none when
    stopped), and how many SFT rows."""

    type = "synth_done"
    collection: str
    model: str
    retrieval: str
    tried: int
    kept: int
    dropped: dict
    out: str | None
    sft: str | None
    sft_rows: int
    seconds: float
    stopped: bool = omitted_when(False)


SynthEvent = SynthStarted | QuestionSynthesized | SynthFinished
SYNTH_EVENTS = (SynthStarted, QuestionSynthesized, SynthFinished)
DROP_REASONS = ("no question", "overlap", "retrieval")


def content_words(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if len(w) >= 3 and w not in STOPWORDS]


def word_overlap(question: str, chunk: str) -> float:
    """The share of the question's distinct content words that occur in the chunk (1.0 for a question with none:
    it says nothing of its own)."""
    words = set(content_words(question))
    if not words:
        return 1.0
    return len(words & set(content_words(chunk))) / len(words)


QUESTION = re.compile(r"[A-Z][^.!?\"\n]*\?")  # a question inside loose text ('One could ask: "How ...?"')
LABEL = re.compile(r"^\s*[*#>\-\s]*(question|answer|q|a)\s*[*]*\s*[:：]\s*[*]*\s*", re.IGNORECASE)


def parse_reply(reply: str) -> tuple[str, str | None]:
    """(question, answer or None) from the model's reply: the lines labelled `Question:` and `Answer:`; without
    labels, the first line ending in '?' and what follows it. ("", None) when there is no question."""
    question, answer, current = "", None, None
    loose: list[str] = []
    for line in reply.splitlines():
        label = LABEL.match(line)
        if label:
            current = "q" if label.group(1).lower().startswith("q") else "a"
            text = line[label.end() :].strip()
            if current == "q" and not question:
                question = text
            elif current == "a" and answer is None:
                answer = text
            continue
        if current == "a" and answer is not None and line.strip():
            answer = f"{answer} {line.strip()}".strip()
        elif current == "q" and not answer and question and line.strip() and not question.endswith("?"):
            question = f"{question} {line.strip()}"
        elif current is None and line.strip():
            loose.append(line.strip())
    if not question:
        asked = QUESTION.search(" ".join(loose))
        if asked is None:
            return "", None
        question = asked.group(0)
        answer = answer or " ".join(loose)[asked.end() :].strip() or None
    question = question.strip().strip('"').strip()
    answer = answer.strip().strip('"').strip() if answer else None
    if len(question.split()) < 3:
        return "", None
    return question, answer or None


def check_writable(path: Path, flag: str) -> Path:
    """`path` as a file that can be written (its folder exists and takes a new file), or BadInput naming `flag`."""
    path = path.expanduser()
    if path.is_dir():
        raise BadInput(f"{flag} {path}: is a directory (expected a file to write)")
    parent = path.parent
    if not parent.exists():
        raise BadInput(f"{flag} {path}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise BadInput(f"{flag} {path}: {parent} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise BadInput(f"{flag} {path}: cannot write in {parent} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    return path


@dataclass
class Chunk:
    id: str
    text: str
    source: str
    metadata: dict


@dataclass
class Kept:
    chunk: Chunk
    question: str
    answer: str | None
    rank: int


def eval_row(kept: Kept) -> dict:
    row: dict = {"question": kept.question, "sources": [kept.chunk.source]}
    if kept.answer:
        row["answer"] = kept.answer
    row["id"] = kept.chunk.id[:200]
    return row


def sft_row(kept: Kept) -> dict:
    """The RAG chat's prompt with the chunk as source [1], the question, the answer citing [1] (`messages`)."""
    from llmdeck.rag.chat import SYSTEM_PROMPT, format_sources
    from llmdeck.rag.stores import Hit

    assert kept.answer  # only answered questions become SFT rows
    hit = Hit(kept.chunk.text, kept.chunk.metadata, 1.0, kept.chunk.id)
    answer = kept.answer if "[1]" in kept.answer else f"{kept.answer} [1]"
    return {
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT.format(sources=format_sources([hit]))},
            {"role": "user", "content": kept.question},
            {"role": "assistant", "content": answer},
        ]
    }


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


@dataclass
class Synthesis:
    """One synth being run: iterate for events; the last one says what was written."""

    collection: str
    model: str
    retrieval: str
    out: Path
    sft: Path | None
    limit: int
    max_chunks: int
    top_k: int
    max_overlap: float
    seed: int
    retriever: object
    n_threads: int | None = None
    kept: list[Kept] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    tried: int = 0
    _stop: bool = field(default=False, repr=False)

    def chunk_order(self) -> list[str]:
        ids = sorted(self.retriever.known)  # type: ignore[attr-defined]
        random.Random(self.seed).shuffle(ids)
        return ids

    def chunks(self, batch: int = 64) -> Iterator[Chunk]:
        """The collection's chunks in the seeded order, short ones skipped (fetched from the store in batches)."""
        order = self.chunk_order()
        for start in range(0, len(order), batch):
            ids = order[start : start + batch]
            found = self.retriever.store.texts(ids)  # type: ignore[attr-defined]
            for chunk_id in ids:
                if chunk_id not in found:
                    continue
                text, metadata = found[chunk_id]
                if len(text.split()) < MIN_CHUNK_WORDS:
                    continue
                yield Chunk(chunk_id, text, str(metadata.get("source") or "?"), dict(metadata))

    def __iter__(self) -> Iterator[SynthEvent]:
        started = time.perf_counter()
        yield SynthStarted(
            self.collection,
            self.model,
            self.retrieval,
            len(self.retriever.known),  # type: ignore[attr-defined]
            self.limit,
            self.max_chunks,
        )
        for chunk in self.chunks():
            if self._stop or len(self.kept) >= self.limit or self.tried >= self.max_chunks:
                break
            yield self._try(chunk)
        stopped = self._stop and len(self.kept) < self.limit and self.tried < self.max_chunks
        sft_rows = [sft_row(k) for k in self.kept if k.answer]
        if not stopped:
            from llmdeck.core.atomic import atomic_write_text

            atomic_write_text(self.out, _jsonl([eval_row(k) for k in self.kept]))
            if self.sft is not None:
                atomic_write_text(self.sft, _jsonl(sft_rows))
        yield SynthFinished(
            self.collection,
            self.model,
            self.retrieval,
            self.tried,
            len(self.kept),
            dict(self.dropped),
            None if stopped else str(self.out),
            None if stopped or self.sft is None else str(self.sft),
            0 if stopped else len(sft_rows),
            round(time.perf_counter() - started, 3),
            stopped,
        )

    def _try(self, chunk: Chunk) -> QuestionSynthesized:
        started = time.perf_counter()
        self.tried += 1
        question, answer = parse_reply(self.generate(chunk))
        overlap: float | None = None
        rank: int | None = None
        kind = reason = None
        if not question:
            kind = reason = "no question"
        elif ABOUT_THE_TEXT.search(question):
            kind, reason = "no question", "no question: it asks about the text, not its subject"
        else:
            overlap = round(word_overlap(question, chunk.text), 3)
            if overlap > self.max_overlap:
                kind, reason = "overlap", f"overlap {overlap:.2f} > {self.max_overlap:.2f}"
            else:
                rank = self.source_rank(question, chunk)
                if rank is None:
                    kind, reason = "retrieval", f"retrieval: {Path(chunk.source).name} not in the top {self.top_k}"
        if kind is None and rank is not None:
            self.kept.append(Kept(chunk, question, answer, rank))
        elif kind is not None:
            self.dropped[kind] += 1
        return QuestionSynthesized(
            chunk.id,
            chunk.source,
            question,
            answer,
            overlap,
            rank,
            reason is None,
            reason,
            self.tried,
            len(self.kept),
            self.limit,
            round(time.perf_counter() - started, 3),
        )

    def generate(self, chunk: Chunk) -> str:
        from llmdeck.services.chat import chat

        sampling = Sampling(
            temperature=TEMPERATURE, top_p=0.95, max_tokens=MAX_TOKENS, seed=self.seed * 100003 + self.tried
        )
        prompt = PROMPT.format(chunk=chunk.text[:CHUNK_CHARS].strip())
        response = chat(
            prompt, model=self.model, system=SYSTEM, history=EXAMPLE, sampling=sampling, n_threads=self.n_threads
        )
        try:
            for _ in response:
                if self._stop:  # close() from another thread (the app's Esc) ends the reply at its next token
                    break
        finally:
            response.close()
        return response.text

    def source_rank(self, question: str, chunk: Chunk) -> int | None:
        """The rank of the first hit from the chunk's own source among the top k, or None."""
        from llmdeck.services.rag_eval import Question, first_relevant

        hits = self.retriever.search(question, self.top_k, self.retrieval)  # type: ignore[attr-defined]
        return first_relevant(Question(0, chunk.id, question, [chunk.source], None), hits)

    def close(self) -> None:
        self._stop = True


def open_retriever(collection: str, progress: bool = True):
    from llmdeck.rag.query import open_retriever as open_collection_retriever

    return open_collection_retriever(collection, progress=progress)


def synthesize(
    collection: str,
    out: str | Path,
    *,
    model: str | None = None,
    limit: int = DEFAULT_LIMIT,
    sft: str | Path | None = None,
    retrieval: str | None = None,
    top_k: int = DEFAULT_TOP_K,
    max_overlap: float = DEFAULT_MAX_OVERLAP,
    max_chunks: int | None = None,
    seed: int = 0,
    n_threads: int | None = None,
    progress: bool = True,
) -> Synthesis:
    """Check the options, the output files, the collection and the model before anything is generated; the
    `Synthesis` runs when iterated. `max_chunks`: chunks tried at most (default 3 x limit)."""
    from llmdeck.core.store import ModelStore
    from llmdeck.rag.query import retrieval_mode

    if limit < 1:
        raise BadInput(f"--limit {limit}: expected at least 1")
    if top_k < 1:
        raise BadInput(f"--top-k {top_k}: expected at least 1")
    if not 0.0 <= max_overlap <= 1.0:
        raise BadInput(f"--max-overlap {max_overlap}: expected a share between 0 and 1")
    if max_chunks is not None and max_chunks < 1:
        raise BadInput(f"--max-chunks {max_chunks}: expected at least 1")
    out_path = check_writable(Path(out), "--out")
    sft_path = check_writable(Path(sft), "--sft") if sft is not None else None
    if sft_path is not None and sft_path.resolve() == out_path.resolve():
        raise BadInput(f"--sft {sft_path}: the same file as --out (give two files)")
    mode = retrieval_mode(retrieval)
    entry = ModelStore().resolve(model)  # before the collection: opening it loads the embedding model
    retriever = open_retriever(collection, progress=progress)
    return Synthesis(
        collection,
        entry.name,
        mode,
        out_path,
        sft_path,
        limit,
        max_chunks or 3 * limit,
        top_k,
        max_overlap,
        seed,
        retriever,
        n_threads,
    )


def synthesize_apart(collection: str, out: str | Path, **options) -> Synthesis | ApartSynthesis:
    """The synth as the app runs it: `llmdeck rag synth ... --json` in a child process (the app never decodes in
    its own process), or here when the model is a stand-in that exists only in this process (the tests' scripted
    model). Either way: iterate for events, `close()` to stop."""
    from llmdeck.core.runtime import uses_default_loader

    if not uses_default_loader():
        return synthesize(collection, out, progress=False, **options)
    command = [sys.executable, "-m", "llmdeck.cli", "rag", "synth", collection, "--out", str(out), "--json"]
    for name, value in options.items():
        if value is not None:
            command += [f"--{name.replace('_', '-')}", str(value)]
    return ApartSynthesis(command)


class ApartSynthesis(ChildEvents[SynthEvent]):
    """A synth in a child process: iterate for its events, decoded from the child's JSON lines; a child that fails
    raises its one-line error (BadInput for exit 2). `close()` ends the child, which then writes nothing."""

    event_classes = SYNTH_EVENTS
