"""`llmdeck rag eval`: how well a collection's retrieval finds the expected documents, per retrieval mode.

A QA file is JSON lines, one question per line: `question` (text), `sources` (the file names a right answer
comes from, e.g. ["functools.rst"]; a hit counts when its source is that file or ends with that path) and/or
`answer` (without `sources`, a hit counts when its text contains the answer), optionally `id`. Each question is
asked in every mode (dense, bm25, hybrid, and hybrid+rerank when asked: the hybrid hits reordered by a model,
rag/rerank.py); recall@1 and recall@5 (a relevant chunk among the first 1 or 5) get
a Wilson 95% interval, MRR@10 a t interval cut to 0..1 (services/eval_report.py), and each mode's misses list
what came back instead; each mode's search time per question (median and p95) is measured too.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmdeck.core.errors import BadInput
from llmdeck.core.validate import json_object_rows, pydantic_problem, read_lines_file
from llmdeck.rag.query import RETRIEVAL_MODES, open_retriever, reranker_for
from llmdeck.rag.stores import Hit
from llmdeck.services.eval_report import UNIT, Metric, mean, paired_delta, rate

MAX_QA_BYTES = 32 * 2**20
DEPTH = 10  # hits retrieved per question: MRR@10 needs ten
RERANKED = "+rerank"  # a mode's suffix: its hits reordered by the reranker (hybrid+rerank)
EVAL_MODES = (*RETRIEVAL_MODES, *(mode + RERANKED for mode in RETRIEVAL_MODES))


class QaRow(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    question: str = Field(min_length=1, max_length=4000)
    sources: list[str] | None = Field(None, min_length=1, max_length=100)
    answer: str | None = Field(None, min_length=1, max_length=4000)
    id: str | None = Field(None, max_length=200)

    @field_validator("question", "answer")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("is blank")
        return value

    @field_validator("sources")
    @classmethod
    def _names(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not name.strip() for name in value):
            raise ValueError('a source name is blank (expected file names, e.g. "functools.rst")')
        return value


@dataclass
class Question:
    line: int
    id: str
    question: str
    sources: list[str]
    answer: str | None


def load_qa(path: str | Path) -> list[Question]:
    """The questions of a QA file; BadInput naming `file:line: field: problem` (the first bad row, and how many
    more there are) for anything else."""
    path = Path(path)
    expected = 'JSON lines: {"question": ..., "sources": [file names]} and/or "answer"'
    lines = read_lines_file(path, "--qa", expected, MAX_QA_BYTES)
    problems: list[str] = []
    questions: list[Question] = []
    for number, where, raw in json_object_rows(lines, str(path), problems):
        try:
            row = QaRow.model_validate(raw)
        except ValidationError as exc:
            problems.append(pydantic_problem(where, exc.errors()[0], "expected question, sources, answer, id"))
            continue
        if row.sources is None and row.answer is None:
            problems.append(f"{where}: sources: missing (give the expected file names, an answer, or both)")
            continue
        questions.append(Question(number, row.id or f"line {number}", row.question, row.sources or [], row.answer))
    if problems:
        more = f" (and {len(problems) - 1} more bad rows)" if len(problems) > 1 else ""
        raise BadInput(problems[0] + more)
    if not questions:
        raise BadInput(f"--qa {path}: no questions (expected {expected})")
    return questions


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def relevant(question: Question, hit: Hit) -> bool:
    """Does `hit` answer `question`: its source is one of the expected files (by name, or a path suffix), or,
    when no sources are given, its text holds the answer."""
    if question.sources:
        source = str(hit.metadata.get("source") or "").replace("\\", "/")
        for name in question.sources:
            name = name.replace("\\", "/").strip("/")
            if source == name or source.endswith("/" + name) or Path(source).name == name:
                return True
        return False
    return bool(question.answer) and _normal(question.answer or "") in _normal(hit.text)


def first_relevant(question: Question, hits: Sequence[Hit]) -> int | None:
    """The 1-based rank of the first relevant hit, or None."""
    return next((rank for rank, hit in enumerate(hits, start=1) if relevant(question, hit)), None)


@dataclass
class Outcome:
    """One question in one mode: where the first relevant hit was and what came back (source names, best first)."""

    rank: int | None
    returned: list[str]
    seconds: float = 0.0


@dataclass
class ModeResult:
    mode: str
    recall_1: Metric
    recall_5: Metric
    mrr_10: Metric
    median_ms: float = 0.0  # search time per question
    p95_ms: float = 0.0

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "recall@1": self.recall_1.to_dict(),
            "recall@5": self.recall_5.to_dict(),
            "mrr@10": self.mrr_10.to_dict(),
            "median_ms": self.median_ms,
            "p95_ms": self.p95_ms,
        }


@dataclass
class RagEvalReport:
    collection: str
    qa_file: str
    questions: list[Question]
    modes: list[str]
    outcomes: dict[str, list[Outcome]]  # mode -> one per question, in file order
    results: list[ModeResult] = field(default_factory=list)

    def misses(self, mode: str, within: int = 5) -> list[tuple[Question, Outcome]]:
        return [(q, o) for q, o in zip(self.questions, self.outcomes[mode]) if o.rank is None or o.rank > within]

    def to_dict(self) -> dict:
        first = self.results[0] if self.results else None
        return {
            "collection": self.collection,
            "qa_file": self.qa_file,
            "questions": len(self.questions),
            "modes": [r.to_dict() for r in self.results],
            "recall@1_vs_first": {r.mode: paired_delta(first.recall_1, r.recall_1).to_dict() for r in self.results[1:]}
            if first
            else {},
            "per_question": [
                {
                    "line": q.line,
                    "id": q.id,
                    "question": q.question,
                    "sources": q.sources,
                    "answer": q.answer,
                    **{
                        mode: {"rank": self.outcomes[mode][i].rank, "returned": self.outcomes[mode][i].returned}
                        for mode in self.modes
                    },
                }
                for i, q in enumerate(self.questions)
            ],
        }


def score(questions: Sequence[Question], outcomes: Sequence[Outcome], mode: str) -> ModeResult:
    """recall@1, recall@5 and MRR@10 of one mode's outcomes (one per question), and its search times."""
    keys = [q.id if q.id else f"line {q.line}" for q in questions]
    ranks = dict(zip(keys, (o.rank for o in outcomes)))
    times = sorted(1000 * o.seconds for o in outcomes) or [0.0]
    return ModeResult(
        mode,
        rate({key: float(r is not None and r <= 1) for key, r in ranks.items()}),
        rate({key: float(r is not None and r <= 5) for key, r in ranks.items()}),
        mean({key: (1.0 / r if r is not None and r <= DEPTH else 0.0) for key, r in ranks.items()}, bounds=UNIT),
        round(statistics.median(times), 1),
        round(times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], 1),
    )


def evaluate(
    collection: str,
    qa_file: str | Path,
    modes: Sequence[str] = RETRIEVAL_MODES,
    on_progress: Callable[[int, int], None] | None = None,
    progress: bool = True,
    rerank_model: str | None = None,
    reranker=None,
) -> RagEvalReport:
    """Ask every question of `qa_file` in every mode of `modes`; `on_progress(done, total)` after each search.
    `progress`: the first-use BM25 index build reports on stderr. A `MODE+rerank` mode reorders MODE's hits
    with `reranker`, or one opened for `rerank_model` (None: config.toml's, else the store's default model)."""
    modes = list(dict.fromkeys(modes)) or list(RETRIEVAL_MODES)
    for mode in modes:
        if mode not in EVAL_MODES:
            raise BadInput(f"--retrieval {mode!r}: expected one of {', '.join(EVAL_MODES)}")
    questions = load_qa(qa_file)
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        duplicate = next(q for i, q in enumerate(questions) if q.id in ids[:i])
        raise BadInput(f"{qa_file}:{duplicate.line}: id: {duplicate.id!r} is used by an earlier row")
    retriever = open_retriever(collection, progress=progress)
    if reranker is None and any(mode.endswith(RERANKED) for mode in modes):
        reranker = reranker_for(True, rerank_model)
    outcomes: dict[str, list[Outcome]] = {mode: [] for mode in modes}
    total, done = len(questions) * len(modes), 0
    for question in questions:
        for mode in modes:
            started = time.perf_counter()
            base = mode.removesuffix(RERANKED)
            if base == mode:
                hits = retriever.search(question.question, DEPTH, mode)
            else:
                hits = retriever.search(question.question, DEPTH, base, reranker=reranker)
            seconds = time.perf_counter() - started
            outcomes[mode].append(
                Outcome(first_relevant(question, hits), [str(h.metadata.get("source") or "?") for h in hits], seconds)
            )
            done += 1
            if on_progress:
                on_progress(done, total)
    report = RagEvalReport(collection, str(qa_file), questions, modes, outcomes)
    report.results = [score(questions, outcomes[mode], mode) for mode in modes]
    return report


def _interval(metric: Metric) -> str:
    if metric.value is None:
        return "-"
    if metric.low is None or metric.high is None:
        return f"{metric.value:.3f}"
    return f"{metric.value:.3f} [{metric.low:.2f}, {metric.high:.2f}]"


def _short(source: str) -> str:
    return Path(source).name or source


def format_report(report: RagEvalReport, misses: int = 20) -> str:
    """The modes side by side (95% intervals), then each mode's misses (not in the top 5) with what came back."""
    lines = [f"{report.collection}: {len(report.questions)} questions from {report.qa_file}"]
    width = max(8, *(len(mode) for mode in report.modes))
    header = f"{'mode':<{width}} {'recall@1':<22} {'recall@5':<22} {'MRR@10':<22} ms/query (median, p95)"
    lines += [header, "-" * len(header)]
    for result in report.results:
        lines.append(
            f"{result.mode:<{width}} {_interval(result.recall_1):<22} {_interval(result.recall_5):<22}"
            f" {_interval(result.mrr_10):<22} {result.median_ms:.1f}, {result.p95_ms:.1f}"
        )
    for mode in report.modes:
        missed = report.misses(mode)
        if not missed:
            continue
        lines.append(f"\n{mode}: {len(missed)} not in the top 5")
        for question, outcome in missed[:misses]:
            expected = ", ".join(question.sources) or f"answer {question.answer!r}"
            got = ", ".join(dict.fromkeys(_short(s) for s in outcome.returned[:5])) or "nothing"
            rank = f"first relevant at {outcome.rank}" if outcome.rank else "none in the top 10"
            lines.append(f"  {question.id}: {question.question[:70]!r}")
            lines.append(f"    expected {expected}; got {got} ({rank})")
        if len(missed) > misses:
            lines.append(f"  ... and {len(missed) - misses} more (--json lists every question)")
    return "\n".join(lines)
