"""LLM-as-judge: a judge model grades one answer (1-10) or compares two (A, B or a tie) under a rubric.

Every verdict is decoded under a grammar built from a JSON schema (`LlamaGrammar.from_json_schema`, strings
capped as the agent's tool calls are, see `agents/decoding.py`), so it always parses, whatever the judge's size.
A pairwise comparison asks twice, with the answers in both orders, to cancel the judge's position bias: the
winner is the answer both orders pick, and a tie when they disagree.

Verdicts are stored (SQLite, component `judge`) keyed by everything that decides them (the judge, the rubric,
the prompt, the reference, the answers): asking again re-reads the stored verdict instead of running the judge,
so a report can be re-read without re-running. `grade()` and `compare()` are the plain API the eval command and
the arena call; nothing here prints.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from llmdeck.core import db
from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.validate import file_kind

MAX_REASON_CHARS = 160
Winner = Literal["A", "B", "tie"]

COMPONENT = "judge"
MIGRATIONS = [
    """
    CREATE TABLE judge_verdicts (
        key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        judge TEXT NOT NULL,
        rubric TEXT NOT NULL,
        prompt TEXT NOT NULL,
        reference TEXT,
        answers_json TEXT NOT NULL,
        verdict_json TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
]


@dataclass(frozen=True)
class Rubric:
    """What the judge weighs: a name and the criteria text it reads."""

    name: str
    criteria: str


DEFAULT_RUBRIC = Rubric(
    "default",
    "Judge helpfulness (does the answer address what was asked, clearly and completely?) and correctness"
    " (is what it says true? when a reference answer is given, does it agree with the reference?).",
)


def load_rubric(path: str | Path | None) -> Rubric:
    """The rubric in a text file (its whole text is the criteria), or the default one for None."""
    if path is None:
        return DEFAULT_RUBRIC
    file = Path(path)
    kind = file_kind(file)
    if kind is not None:  # never opened: a FIFO would block
        raise BadInput(f"--rubric {path}: {kind} (expected a text file of criteria)")
    try:
        text = file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"--rubric {path}: cannot read it ({exc.__class__.__name__})") from None
    if not text:
        raise BadInput(f"--rubric {path}: the file is empty; expected the criteria the judge should weigh")
    return Rubric(file.stem, text)


@dataclass(frozen=True)
class Verdict:
    """One answer graded: a score from 1 to 10 and the judge's short reason."""

    score: int
    reason: str
    judge: str
    stored: bool = False  # re-read from an earlier run instead of judged now

    def to_dict(self) -> dict:
        return {"score": self.score, "reason": self.reason, "judge": self.judge}


@dataclass(frozen=True)
class PairVerdict:
    """Two answers compared in both orders: `winner` is "A", "B" or "tie" (the orders disagreed, or both said
    tie); `forward` is the pick with A shown first, `backward` the pick with B shown first (in A/B terms)."""

    winner: Winner
    forward: Winner
    backward: Winner
    reasons: tuple[str, str]
    judge: str
    stored: bool = False

    @property
    def consistent(self) -> bool:
        return self.forward == self.backward

    def to_dict(self) -> dict:
        return {
            "winner": self.winner,
            "forward": self.forward,
            "backward": self.backward,
            "reasons": list(self.reasons),
            "judge": self.judge,
        }


def combine(forward: Winner, backward: Winner) -> Winner:
    """The pairwise rule: the winner both orders agree on, else a tie."""
    return forward if forward == backward else "tie"


def swapped(winner: Winner) -> Winner:
    """A pick made with the answers shown the other way round, in the original A/B terms."""
    return {"A": "B", "B": "A", "tie": "tie"}[winner]  # type: ignore[return-value]  # a total map of Winner


GRADE_SCHEMA = {
    "type": "object",
    "properties": {
        "reason": {"type": "string", "maxLength": MAX_REASON_CHARS},
        "score": {"enum": list(range(1, 11))},
    },
    "required": ["reason", "score"],
}
PAIR_SCHEMA = {
    "type": "object",
    "properties": {
        "reason": {"type": "string", "maxLength": MAX_REASON_CHARS},
        "winner": {"enum": ["A", "B", "tie"]},
    },
    "required": ["reason", "winner"],
}


def grammar_text(schema: dict) -> str:
    """The GBNF of a verdict: JSON of `schema`, strings capped so the answer always ends, and no raw control
    characters inside strings (llama.cpp's converter admits them; JSON does not)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from llmdeck.agents.decoding import JSON_CHAR_CLASS, capped_schema

    grammar = json_schema_to_gbnf(json.dumps(capped_schema(schema, MAX_REASON_CHARS)))
    return re.sub(r'^char ::= \[\^"\\\\\]', lambda _: JSON_CHAR_CLASS, grammar, flags=re.MULTILINE)


def grammar_for(schema: dict):
    """The llama.cpp grammar object of `grammar_text(schema)` (parsed once per schema)."""
    return _parsed_grammar(json.dumps(schema, sort_keys=True))


@functools.lru_cache(maxsize=8)
def _parsed_grammar(schema_json: str):
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(grammar_text(json.loads(schema_json)), verbose=False)


def token_budget() -> int:
    return 64 + MAX_REASON_CHARS + 16  # a token holds at least one character of the capped reason


def grade(
    answer: str,
    prompt: str,
    reference: str | None = None,
    judge_model: str | None = None,
    rubric: Rubric = DEFAULT_RUBRIC,
) -> Verdict:
    """Grade `answer` to `prompt` from 1 to 10 under `rubric` (against `reference` when given)."""
    judge = _judge_name(judge_model)
    key = _key("grade", judge, rubric, prompt, reference, [answer])
    stored = _stored(key)
    if stored is not None:
        return Verdict(int(stored["score"]), str(stored["reason"]), judge, stored=True)
    shown = _reference_block(reference) + f"[Question]\n{prompt}\n\n[Answer]\n{answer}\n"
    instruction = (
        f"You are a strict judge. {rubric.criteria}\n"
        "Read the question and the answer, then give a short reason and a score from 1 (useless or wrong)"
        ' to 10 (excellent), as JSON: {"reason": "...", "score": N}.'
    )
    parsed = _ask(judge_model, instruction, shown, GRADE_SCHEMA)
    score = parsed.get("score")
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 10:
        raise LlmdeckError(f"judge {judge}: the score {score!r} is not 1-10 (the grammar was not applied)")
    verdict = Verdict(score, str(parsed.get("reason", "")), judge)
    _store(key, "grade", judge, rubric, prompt, reference, [answer], verdict.to_dict())
    return verdict


def compare(
    prompt: str,
    answer_a: str,
    answer_b: str,
    judge_model: str | None = None,
    rubric: Rubric = DEFAULT_RUBRIC,
    reference: str | None = None,
) -> PairVerdict:
    """Which of two answers to `prompt` is better under `rubric`: asked with A first, then with B first."""
    judge = _judge_name(judge_model)
    key = _key("compare", judge, rubric, prompt, reference, [answer_a, answer_b])
    stored = _stored(key)
    if stored is not None:
        reasons = stored["reasons"]
        return PairVerdict(
            stored["winner"], stored["forward"], stored["backward"], (reasons[0], reasons[1]), judge, stored=True
        )
    forward, forward_reason = _pick(judge_model, rubric, prompt, reference, answer_a, answer_b)
    backward_shown, backward_reason = _pick(judge_model, rubric, prompt, reference, answer_b, answer_a)
    backward = swapped(backward_shown)
    verdict = PairVerdict(combine(forward, backward), forward, backward, (forward_reason, backward_reason), judge)
    _store(key, "compare", judge, rubric, prompt, reference, [answer_a, answer_b], verdict.to_dict())
    return verdict


def _pick(
    judge_model: str | None, rubric: Rubric, prompt: str, reference: str | None, first: str, second: str
) -> tuple[Winner, str]:
    instruction = (
        f"You are a strict judge comparing two answers to the same question. {rubric.criteria}\n"
        "Do not let the order of the answers or their length decide. Give a short reason, then the better answer"
        ' (A or B, or tie when they are equally good or equally bad), as JSON: {"reason": "...", "winner": "A"}.'
    )
    shown = _reference_block(reference) + f"[Question]\n{prompt}\n\n[Answer A]\n{first}\n\n[Answer B]\n{second}\n"
    parsed = _ask(judge_model, instruction, shown, PAIR_SCHEMA)
    winner = parsed.get("winner")
    if winner not in ("A", "B", "tie"):
        raise LlmdeckError(f"judge {_judge_name(judge_model)}: the winner {winner!r} is not A, B or tie")
    return winner, str(parsed.get("reason", ""))


def _reference_block(reference: str | None) -> str:
    return f"[Reference answer]\n{reference}\n\n" if reference else ""


def _ask(judge_model: str | None, instruction: str, shown: str, schema: dict) -> dict:
    """One grammar-constrained, greedy judge call; its JSON verdict."""
    from llmdeck.core.runtime import load_entry
    from llmdeck.services.chat import resolve_model

    model, adapter = _split(judge_model)
    entry, lora_path = resolve_model(model, adapter)
    loaded = load_entry(entry, lora_path=lora_path)
    messages = [{"role": "system", "content": instruction}, {"role": "user", "content": shown}]
    with loaded.lock:
        reply = loaded.llama.create_chat_completion(
            messages=messages,
            grammar=grammar_for(schema),
            max_tokens=token_budget(),
            temperature=0.0,
            stream=False,
        )
    text = reply["choices"][0]["message"]["content"] or ""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        raise LlmdeckError(
            f"judge {entry.name}: the verdict {text[:80]!r} is not JSON (the grammar was not applied)"
        ) from None
    if not isinstance(parsed, dict):
        raise LlmdeckError(f"judge {entry.name}: the verdict {text[:80]!r} is not a JSON object")
    return parsed


def _split(judge_model: str | None) -> tuple[str | None, str | None]:
    """`MODEL+RUN` (a run's LoRA on MODEL), `+RUN` (on the run's base) or a store model."""
    if judge_model and "+" in judge_model:
        from llmdeck.services.agent_bench import parse_model

        spec = parse_model(judge_model)
        return spec.model, spec.adapter
    return judge_model, None


def _judge_name(judge_model: str | None) -> str:
    if judge_model:
        return judge_model
    from llmdeck.core.store import ModelStore

    return ModelStore().resolve(None).name


def _key(kind: str, judge: str, rubric: Rubric, prompt: str, reference: str | None, answers: list[str]) -> str:
    material = json.dumps([kind, judge, rubric.criteria, prompt, reference, answers], ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _conn():
    return db.connection(COMPONENT, MIGRATIONS)


def _stored(key: str) -> dict | None:
    row = _conn().execute("SELECT verdict_json FROM judge_verdicts WHERE key = ?", (key,)).fetchone()
    return json.loads(row["verdict_json"]) if row else None


def _store(
    key: str,
    kind: str,
    judge: str,
    rubric: Rubric,
    prompt: str,
    reference: str | None,
    answers: list[str],
    verdict: dict,
) -> None:
    conn = _conn()
    with db.transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO judge_verdicts"
            " (key, kind, judge, rubric, prompt, reference, answers_json, verdict_json, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                kind,
                judge,
                rubric.criteria,
                prompt,
                reference,
                json.dumps(answers, ensure_ascii=False),
                json.dumps(verdict, ensure_ascii=False),
                time.time(),
            ),
        )


def stored_verdicts(kind: str | None = None) -> list[dict]:
    """Every stored verdict (oldest first) with what it judged: for reports re-read without the judge."""
    sql = "SELECT * FROM judge_verdicts" + (" WHERE kind = ?" if kind else "") + " ORDER BY created_at"
    rows = _conn().execute(sql, (kind,) if kind else ())
    return [
        {
            "kind": row["kind"],
            "judge": row["judge"],
            "prompt": row["prompt"],
            "reference": row["reference"],
            "answers": json.loads(row["answers_json"]),
            "verdict": json.loads(row["verdict_json"]),
        }
        for row in rows
    ]
