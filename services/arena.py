"""The blind arena: two models answer the same prompt, shown as "A" and "B" in a random order; a vote (the
user's, or a judge's through `services.judge.compare`) is stored with both answers; a leaderboard ranks the
models by their votes; decisive votes become a `preference` dataset (`prompt`/`chosen`/`rejected`) that
`llmdeck train --method dpo` takes as is.

A contender is a store model, `MODEL+RUN` (a training run's LoRA on MODEL) or `+RUN` (on the run's base), as in
`llmdeck bench agents`. The app and `llmdeck arena` both call `matchup`, `answer`, `record_vote`, `votes`,
`leaderboard` and `write_preference`; `judge_arena` is the headless loop. The app's two answers stream from two
model processes (`answer_apart`: one per side), so both run at once and neither decodes in the app's process.
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from llmdeck.core import db, paths
from llmdeck.core.errors import BadInput
from llmdeck.core.model_process import Emit, InlineHost, ModelProcess
from llmdeck.core.runtime import Sampling, uses_default_loader
from llmdeck.core.validate import DocumentProblem, file_kind, parse_json, problem_line
from llmdeck.services.agent_bench import ModelSpec, parse_model
from llmdeck.services.chat import ChatResponse, chat
from llmdeck.services.eval_report import wilson

if TYPE_CHECKING:
    from llmdeck.services.chat_process import ModelChatResponse

Outcome = Literal["left", "right", "tie", "both_bad"]
OUTCOMES: tuple[Outcome, ...] = ("left", "right", "tie", "both_bad")
PREFERENCE_FILE = "preference.jsonl"
MANIFEST_FILE = "manifest.json"

COMPONENT = "arena"
MIGRATIONS = [
    """
    CREATE TABLE arena_votes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at REAL NOT NULL,
        prompt TEXT NOT NULL,
        left_model TEXT NOT NULL,
        right_model TEXT NOT NULL,
        left_answer TEXT NOT NULL,
        right_answer TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('left', 'right', 'tie', 'both_bad')),
        voter TEXT NOT NULL,
        detail_json TEXT
    );
    CREATE INDEX arena_votes_models ON arena_votes (left_model, right_model);
    """,
]


@dataclass(frozen=True)
class Matchup:
    """A prompt and its two contenders in the order shown: `left` is "A", `right` is "B"."""

    prompt: str
    left: ModelSpec
    right: ModelSpec


@dataclass(frozen=True)
class Vote:
    """A stored vote: who answered on which side, both answers, the outcome and who voted ("user", "judge:J")."""

    id: int
    created_at: float
    prompt: str
    left_model: str
    right_model: str
    left_answer: str
    right_answer: str
    outcome: Outcome
    voter: str
    detail: dict | None = None

    @property
    def winner(self) -> str | None:
        return {"left": self.left_model, "right": self.right_model}.get(self.outcome)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "prompt": self.prompt,
            "left_model": self.left_model,
            "right_model": self.right_model,
            "left_answer": self.left_answer,
            "right_answer": self.right_answer,
            "outcome": self.outcome,
            "voter": self.voter,
            "detail": self.detail,
        }


def contenders(models: Sequence[str]) -> tuple[ModelSpec, ModelSpec]:
    """The two contenders of `--model A --model B`: exactly two, and not the same one twice."""
    if len(models) != 2:
        raise BadInput(f"--model: expected exactly two (MODEL, MODEL+RUN or +RUN), got {len(models)}")
    first, second = parse_model(models[0]), parse_model(models[1])
    if first.label == second.label:
        raise BadInput(f"--model {first.label}: the two contenders are the same model")
    return first, second


def matchup(prompt: str, first: ModelSpec, second: ModelSpec, rng: random.Random | None = None) -> Matchup:
    """The prompt with its contenders in a random order (so the user cannot tell which is which)."""
    if not prompt or not prompt.strip():
        raise BadInput("arena: the prompt is empty")
    pair = [first, second]
    (rng or random.Random()).shuffle(pair)
    return Matchup(prompt, pair[0], pair[1])


def answer(spec: ModelSpec, prompt: str, max_tokens: int | None = None, seed: int | None = None) -> ChatResponse:
    """One contender's streamed answer (a plain chat: no session, nothing stored until the vote)."""
    overrides = {"max_tokens": max_tokens} if max_tokens else {}
    return chat(prompt, model=spec.model, adapter=spec.adapter, sampling=Sampling.from_settings(seed=seed, **overrides))


ANSWER_HANDLER = "llmdeck.services.arena:serve_answer"
_side_hosts: dict[tuple[str, str, bool], ModelProcess | InlineHost] = {}
_side_hosts_lock = threading.Lock()


def serve_answer(request: dict, emit: Emit, stopped: Callable[[], bool]) -> None:
    """A model process's side of one contender's answer (no session: nothing is stored until the vote)."""
    from llmdeck.services.chat_process import emit_answer

    spec = ModelSpec(request["label"], request.get("model"), request.get("adapter"))
    emit_answer(answer(spec, request["prompt"], request.get("max_tokens")), emit, stopped)


def side_host(side: str) -> ModelProcess | InlineHost:
    """The model process that answers for one side of the app's arena (one each, so both stream at once and
    neither holds the app's GIL); an inline host while the runtime's loader is a stand-in (the tests' fake)."""
    inline = not uses_default_loader()
    key = (side, os.environ.get("LLMDECK_HOME", ""), inline)
    with _side_hosts_lock:
        host = _side_hosts.get(key)
        if host is None:
            log = paths.home() / f"arena-{side}-process.log"
            host = _side_hosts[key] = InlineHost(serve_answer) if inline else ModelProcess(ANSWER_HANDLER, log)
        return host


def answer_apart(side: str, spec: ModelSpec, prompt: str, max_tokens: int | None = None) -> ModelChatResponse:
    """`answer()` run in `side`'s model process, read like a ChatResponse (raises what `answer()` raises)."""
    from llmdeck.services.chat_process import started_answer

    request = {"label": spec.label, "model": spec.model, "adapter": spec.adapter, "prompt": prompt}
    return started_answer(side_host(side).request({**request, "max_tokens": max_tokens}))


def take_side_hosts() -> list[ModelProcess | InlineHost]:
    """Forget the arena's model processes (the next answer starts new ones) and return them, to close."""
    with _side_hosts_lock:
        hosts = list(_side_hosts.values())
        _side_hosts.clear()
    return hosts


def close_side_hosts(hosts: Sequence[ModelProcess | InlineHost] | None = None) -> None:
    """End the arena's model processes (`hosts` taken before; default: all of them now)."""
    for host in take_side_hosts() if hosts is None else hosts:
        host.close()


def _conn():
    return db.connection(COMPONENT, MIGRATIONS)


def record_vote(
    match: Matchup, left_answer: str, right_answer: str, outcome: str, voter: str = "user", detail: dict | None = None
) -> Vote:
    """Store a vote on `match` (outcome: left, right, tie or both_bad) with both answers."""
    if outcome not in OUTCOMES:
        raise BadInput(f"vote {outcome!r}: expected one of {', '.join(OUTCOMES)}")
    conn = _conn()
    now = time.time()
    with db.transaction(conn):
        cursor = conn.execute(
            "INSERT INTO arena_votes (created_at, prompt, left_model, right_model, left_answer, right_answer,"
            " outcome, voter, detail_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                now,
                match.prompt,
                match.left.label,
                match.right.label,
                left_answer,
                right_answer,
                outcome,
                voter,
                json.dumps(detail, ensure_ascii=False) if detail is not None else None,
            ),
        )
    vote_id = cursor.lastrowid
    assert vote_id is not None  # an INSERT into a rowid table always sets it
    return Vote(
        vote_id,
        now,
        match.prompt,
        match.left.label,
        match.right.label,
        left_answer,
        right_answer,
        outcome,
        voter,
        detail,
    )


def votes(voter: str | None = None) -> list[Vote]:
    """Every stored vote, oldest first (only `voter`'s: "user", "judge:J", or "judge" for any judge)."""
    sql, args = "SELECT * FROM arena_votes", []
    if voter == "judge":
        sql += " WHERE voter LIKE 'judge:%'"
    elif voter:
        sql, args = sql + " WHERE voter = ?", [voter]
    return [
        Vote(
            row["id"],
            row["created_at"],
            row["prompt"],
            row["left_model"],
            row["right_model"],
            row["left_answer"],
            row["right_answer"],
            row["outcome"],
            row["voter"],
            json.loads(row["detail_json"]) if row["detail_json"] else None,
        )
        for row in _conn().execute(sql + " ORDER BY id", args)
    ]


@dataclass(frozen=True)
class Standing:
    """One model on the leaderboard: its games, the win rate (a tie counts half) with a 95% Wilson interval,
    and its Bradley-Terry rating on the Elo scale (mean 1000; 400 points = 10:1 odds)."""

    model: str
    games: int
    wins: int
    losses: int
    ties: int
    both_bad: int
    win_rate: float
    low: float
    high: float
    rating: float

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "games": self.games,
            "wins": self.wins,
            "losses": self.losses,
            "ties": self.ties,
            "both_bad": self.both_bad,
            "win_rate": round(self.win_rate, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
            "rating": round(self.rating, 1),
        }


def bradley_terry_strengths(results: Sequence[tuple[str, str, float]], iterations: int = 500) -> dict[str, float]:
    """Bradley-Terry strengths by the MM algorithm (Hunter 2004) from (model, opponent, score) games, score 1 a
    win, 0.5 a tie. Each model also plays one pseudo-tie against a virtual opponent of strength 1, which fixes
    the scale and keeps undefeated or winless models finite."""
    models = sorted({m for game in results for m in game[:2]})
    strength = dict.fromkeys(models, 1.0)
    for _ in range(iterations):
        updated = {}
        for model in models:
            wins, denominator = 0.5, 1.0 / (strength[model] + 1.0)
            for first, second, score in results:
                if model in (first, second):
                    other = second if model == first else first
                    wins += score if model == first else 1.0 - score
                    denominator += 1.0 / (strength[model] + strength[other])
            updated[model] = wins / denominator
        strength = updated
    return strength


def bradley_terry(results: Sequence[tuple[str, str, float]]) -> dict[str, float]:
    """The Bradley-Terry strengths on the Elo scale (400 points: 10:1 odds), centred on 1000."""
    strength = bradley_terry_strengths(results)
    if not strength:
        return {}
    points = {m: 400.0 * math.log10(s) for m, s in strength.items()}
    centre = sum(points.values()) / len(points)
    return {m: 1000.0 + p - centre for m, p in points.items()}


def leaderboard(recorded: Sequence[Vote]) -> list[Standing]:
    """The models of `recorded` votes, best rating first. A tie counts half a win; "both bad" counts as a tie
    for the rating and the win rate, and is listed apart."""
    tally: dict[str, dict[str, int]] = {}
    games: list[tuple[str, str, float]] = []
    for vote in recorded:
        for model in (vote.left_model, vote.right_model):
            tally.setdefault(model, {"wins": 0, "losses": 0, "ties": 0, "both_bad": 0})
        score = {"left": 1.0, "right": 0.0}.get(vote.outcome, 0.5)
        games.append((vote.left_model, vote.right_model, score))
        if vote.outcome in ("left", "right"):
            winner, loser = (
                (vote.left_model, vote.right_model) if vote.outcome == "left" else (vote.right_model, vote.left_model)
            )
            tally[winner]["wins"] += 1
            tally[loser]["losses"] += 1
        else:
            for model in (vote.left_model, vote.right_model):
                tally[model]["ties" if vote.outcome == "tie" else "both_bad"] += 1
    ratings = bradley_terry(games)
    standings = []
    for model, counts in tally.items():
        n = sum(counts.values())
        points = counts["wins"] + 0.5 * (counts["ties"] + counts["both_bad"])
        low, high = wilson(points, n)
        low, high = (0.0 if low is None else low), (1.0 if high is None else high)  # no games: anything
        standings.append(
            Standing(model, n, counts["wins"], counts["losses"], counts["ties"], counts["both_bad"], points / n, low,
                     high, ratings[model])
        )  # fmt: skip
    return sorted(standings, key=lambda s: (-s.rating, s.model))


def preference_rows(recorded: Sequence[Vote]) -> list[dict]:
    """A `preference` row per decisive vote (left or right): the prompt, the winner's answer as chosen, the
    loser's as rejected. Ties, both-bad votes and pairs of identical answers teach nothing and are left out."""
    rows = []
    for vote in recorded:
        if vote.outcome not in ("left", "right"):
            continue
        chosen, rejected = (
            (vote.left_answer, vote.right_answer) if vote.outcome == "left" else (vote.right_answer, vote.left_answer)
        )
        if not chosen.strip() or not rejected.strip() or chosen.strip() == rejected.strip():
            continue
        rows.append({"prompt": vote.prompt, "chosen": chosen, "rejected": rejected, "vote_id": vote.id})
    return rows


@dataclass(frozen=True)
class PreferenceExport:
    path: Path
    rows: int
    votes: int
    skipped: int

    def to_dict(self) -> dict:
        return {"path": str(self.path), "rows": self.rows, "votes": self.votes, "skipped": self.skipped}


def write_preference(out: str | Path, voter: str | None = None) -> PreferenceExport:
    """Write `out/preference.jsonl` (and `manifest.json`) from the stored votes; nothing when no vote decides."""
    from llmdeck.core.atomic import atomic_write_text

    recorded = votes(voter)
    rows = preference_rows(recorded)
    if not rows:
        raise BadInput(
            f"data from-votes: none of the {len(recorded)} stored votes picks a winner between two different"
            " answers (ties and both-bad votes make no preference pairs); vote in the arena first"
        )
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise BadInput(f"--out {out}: exists and is not a directory")
    path = target / PREFERENCE_FILE
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    export = PreferenceExport(path, len(rows), len(recorded), len(recorded) - len(rows))
    atomic_write_text(target / MANIFEST_FILE, json.dumps({**export.to_dict(), "voter": voter}, indent=2) + "\n")
    return export


@dataclass(frozen=True)
class ArenaPrompt:
    prompt: str
    reference: str | None = None


def read_prompts(path: str | Path) -> list[ArenaPrompt]:
    """Prompts for the headless arena: a `.jsonl` file of {"prompt", "reference"?} rows, or a text file with
    one prompt per line (blank lines skipped)."""
    file = Path(path)
    kind = file_kind(file)
    if kind is not None:  # never opened: a FIFO would block
        raise BadInput(f"--prompts {path}: {kind} (expected a .jsonl or text file of prompts)")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"--prompts {path}: cannot read it ({exc.__class__.__name__})") from None
    prompts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if file.suffix != ".jsonl":
            prompts.append(ArenaPrompt(line.strip()))
            continue
        try:
            row = parse_json(line)
        except DocumentProblem as exc:
            raise BadInput(problem_line(path, exc, line=number)) from None
        except json.JSONDecodeError:
            raise BadInput(f'{path}:{number}: not JSON; expected {{"prompt": "...", "reference"?: "..."}}') from None
        prompt = row.get("prompt") if isinstance(row, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise BadInput(f"{path}:{number}: prompt: expected a non-empty string")
        reference = row.get("reference")
        if reference is not None and not isinstance(reference, str):
            raise BadInput(f"{path}:{number}: reference: expected a string")
        prompts.append(ArenaPrompt(prompt, reference))
    if not prompts:
        raise BadInput(f"--prompts {path}: no prompts in it")
    return prompts


def judge_arena(
    prompts: Sequence[ArenaPrompt],
    first: ModelSpec,
    second: ModelSpec,
    judge_model: str,
    rubric=None,
    max_tokens: int | None = None,
    rng: random.Random | None = None,
    progress: Callable[[int, int, Vote], None] | None = None,
) -> Iterator[Vote]:
    """For each prompt: both contenders answer (in a random order on screen, as in the app), the judge compares
    the two in both orders, and its verdict is stored as a vote by `judge:J`."""
    from llmdeck.services.judge import DEFAULT_RUBRIC, compare

    rng = rng or random.Random()
    for index, item in enumerate(prompts, start=1):
        match = matchup(item.prompt, first, second, rng)
        left_answer = answer(match.left, item.prompt, max_tokens).read()
        right_answer = answer(match.right, item.prompt, max_tokens).read()
        verdict = compare(item.prompt, left_answer, right_answer, judge_model, rubric or DEFAULT_RUBRIC, item.reference)
        outcome = {"A": "left", "B": "right"}.get(verdict.winner, "tie")
        vote = record_vote(match, left_answer, right_answer, outcome, f"judge:{judge_model}", verdict.to_dict())
        if progress is not None:
            progress(index, len(prompts), vote)
        yield vote
