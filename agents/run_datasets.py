"""Training data from recorded attempts (`llmdeck data from-runs`), in the formats `llmdeck train` reads:

- `sft.jsonl` (`messages`): every verified agent trace (system prompt with the tools, the question, each step
  as the model wrote it with its `tool_calls`, each result, the answer) and every verified program (the
  writer's prompt, then the code that passed its checks); a program verified after a failed round also as its
  repair conversation (the failed program and the executor's feedback as the writer read them, then the fix;
  the failed programs are `"weight": 0` turns: context, never trained on);
- `preference.jsonl` (`prompt`/`chosen`/`rejected`): for a task with both a verified and a failed attempt,
  the shared start of the two as the prompt, the verified attempt's next turn as chosen and the failed
  one's as rejected (for code: the verified program vs a failing one, and in a repair context, after a failed
  program and its feedback, the verified program vs the failing rewrite written there);
- `manifest.json`: what went in, what was dropped and why, and the split: the task ids trained on and the
  held-out ids kept out.

HumanEval problems are refused (`agents.humaneval`): a run whose prompt holds one, or whose task set or task is
tagged humaneval, stops the build with one line; it is a measurement, never training data. Held-out tasks never
leak: an attempt is dropped when its task was ever attempted as held-out, when a task
file given says so, or when its prompt is the text of a held-out task. Rows are deduplicated (the same
conversation once), at most `max_per_task` traces per task keep easy tasks from drowning the rest (best of n
first: a task's verified attempts are ranked by fewest rounds or steps, then the shortest), and agent
traces with a malformed step are not trained on. Verify runs made without a task file (`llmdeck verify
"..." --expect/--tests`) count as tasks of their own, keyed by their text and checks.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmdeck.agents import attempts, humaneval, records
from llmdeck.agents.events import CodeExecuted, CodeWritten, MessageSent
from llmdeck.agents.records import RunRecord, failing_programs, fenced, trace_messages, writer_prompt
from llmdeck.agents.tasks import TaskFile, decided_steps
from llmdeck.core.atomic import atomic_write_text
from llmdeck.core.errors import BadInput

SFT_FILE = "sft.jsonl"
PREFERENCE_FILE = "preference.jsonl"
MANIFEST_FILE = "manifest.json"
FAILED_VERIFY = ("failed", "gave_up", "unverified")


@dataclass
class Attempt:
    """One attempt at a task, whatever recorded it."""

    task_id: str
    split: str
    kind: str
    passed: bool
    run: RunRecord
    verdict: dict = field(default_factory=dict)
    task_set: str = ""  # the task file's name ("" for a verify run made without one)


@dataclass
class BuildReport:
    out: str
    kinds: list[str]
    sft_rows: dict[str, int] = field(default_factory=dict)
    preference_rows: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    passed: int = 0
    duplicates_dropped: int = 0
    hinted_rows: int = 0  # SFT rows found with a hint (rationalization), trained on the plain question
    repair_rows: int = 0  # SFT rows that are repair conversations (failed program, feedback, the fix)
    repair_pairs: int = 0  # preference pairs in a repair context
    capped: int = 0
    malformed_dropped: int = 0
    heldout_attempts_dropped: int = 0
    train_tasks: list[str] = field(default_factory=list)
    heldout_tasks: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    filters: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def sft_total(self) -> int:
        return sum(self.sft_rows.values())

    @property
    def preference_total(self) -> int:
        return sum(self.preference_rows.values())


def parse_since(text: str, now: float | None = None) -> float:
    """`--since`: an age (90m, 12h, 3d, 45s) or a local date/time (2026-03-14, 2026-03-14T09:30) -> a timestamp."""
    import datetime
    import re

    now = time.time() if now is None else now
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if match:
        return now - float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    try:
        return datetime.datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise BadInput(f"--since {text!r}: expected an age (90m, 12h, 3d) or a date/time (2026-03-14T09:30)") from None


def gather(kinds: Iterable[str], since: float | None = None, collections: list[str] | None = None) -> list[Attempt]:
    """Attempts recorded by task sweeps, plus (verify) runs with checks made without a task file."""
    found = []
    for kind in kinds:
        recorded = attempts.attempts(kind=kind, since=since, collections=collections)
        seen_runs = set()
        for item in recorded:
            seen_runs.add(item.run_id)
            found.append(
                Attempt(
                    item.task_id,
                    item.split,
                    kind,
                    item.passed,
                    records.get_run(item.run_id),
                    item.verdict,
                    item.task_set,
                )
            )
        if kind == "verify" and collections is None:
            for run in records.runs_with_events("verify", ("verified", *FAILED_VERIFY)):
                checks = run.options.get("checks") or {}
                if (
                    run.id in seen_runs
                    or run.options.get("task")
                    or (since and run.started_at < since)
                    or not (checks.get("expect") or checks.get("tests"))
                ):
                    continue  # a sweep's run without its attempt row was interrupted before its verdict was kept
                key = hashlib.sha256(
                    json.dumps([run.prompt, checks.get("expect"), checks.get("tests")]).encode()
                ).hexdigest()
                found.append(Attempt(f"adhoc-{key[:12]}", "train", "verify", run.status == "verified", run))
    return found


def heldout_guard(task_files: Iterable[TaskFile] = ()) -> tuple[set[str], set[str]]:
    """Held-out task ids and prompts: from every recorded held-out attempt and from the task files given."""
    ids = attempts.heldout_task_ids()
    prompts = attempts.heldout_prompts()
    for task_file in task_files:
        for task in task_file.tasks:
            if task.effective_split == "heldout":
                ids.add(task.id)
                prompts.add(normalized(task.prompt))
    return ids, prompts


def normalized(text: str) -> str:
    return " ".join(text.split()).lower()


def build(
    out: str | Path,
    kinds: Iterable[str] = ("agent", "verify"),
    *,
    since: float | None = None,
    collections: list[str] | None = None,
    task_files: Iterable[TaskFile] = (),
    max_per_task: int = 4,
    max_pairs_per_task: int = 4,
) -> BuildReport:
    """Write sft.jsonl, preference.jsonl and manifest.json to `out` (see the module docstring)."""
    kinds = list(kinds)
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a directory")
    report = BuildReport(
        out=str(out), kinds=kinds, filters={"since": since, "collections": collections, "max_per_task": max_per_task}
    )
    for task_file in task_files:
        humaneval.refuse_task_file(task_file)
    heldout_ids, heldout_prompts = heldout_guard(task_files)
    by_task: dict[tuple[str, str], list[Attempt]] = {}
    held, train = set(), set()
    for attempt in gather(kinds, since, collections):
        humaneval.refuse_attempt(
            f"run {attempt.run.id} (task {attempt.task_id})", attempt.task_set, attempt.task_id, attempt.run.prompt
        )
        report.attempts += 1
        report.passed += attempt.passed
        if (
            attempt.split == "heldout"
            or attempt.task_id in heldout_ids
            or normalized(attempt.run.prompt) in heldout_prompts
        ):
            report.heldout_attempts_dropped += 1
            held.add(attempt.task_id)
            continue
        train.add(attempt.task_id)
        by_task.setdefault((attempt.kind, attempt.task_id), []).append(attempt)
    report.train_tasks, report.heldout_tasks = sorted(train), sorted(held | (heldout_ids & _all_ids(task_files)))
    sft, preference = [], []
    seen_sft, seen_pairs = set(), set()
    for (kind, task_id), task_attempts in sorted(by_task.items()):
        rows = _agent_rows(task_attempts, report) if kind == "agent" else _verify_rows(task_attempts)
        kept = 0
        for row in rows:
            key = _key(row["messages"])
            if key in seen_sft:
                report.duplicates_dropped += 1
                continue
            if kept >= max_per_task:
                report.capped += 1
                continue
            seen_sft.add(key)
            kept += 1
            sft.append({**row, "task_id": task_id, "kind": kind})
            report.hinted_rows += bool(row.get("hinted"))
            report.repair_rows += bool(row.get("repair"))
            report.sft_rows[kind] = report.sft_rows.get(kind, 0) + 1
        pairs = _agent_pairs(task_attempts) if kind == "agent" else _verify_pairs(task_attempts)
        kept = 0
        for pair in pairs:
            key = _key([pair["prompt"], pair["chosen"], pair["rejected"]])
            if key in seen_pairs or kept >= max_pairs_per_task:
                continue
            seen_pairs.add(key)
            kept += 1
            preference.append({**pair, "task_id": task_id, "kind": kind})
            report.repair_pairs += bool(pair.get("repair"))
            report.preference_rows[kind] = report.preference_rows.get(kind, 0) + 1
    if not sft and not preference:
        raise BadInput(
            f"nothing to build: {report.attempts} attempt(s) matched, {report.passed} verified,"
            f" {report.heldout_attempts_dropped} held out; collect more (`llmdeck agent|verify --tasks FILE"
            " --samples N --temperature T`)"
        )
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in ((SFT_FILE, sft), (PREFERENCE_FILE, preference)):
        path = out / name
        if rows:
            atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
            report.files[name.split(".")[0]] = str(path)
        else:
            path.unlink(missing_ok=True)  # a stale file from an earlier build must not be trained on
    atomic_write_text(out / MANIFEST_FILE, json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _all_ids(task_files: Iterable[TaskFile]) -> set[str]:
    return {task.id for task_file in task_files for task in task_file.tasks}


def _key(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _plain(messages: list[dict]) -> list[dict]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


# -- agent traces ---------------------------------------------------------------------------------
def _messages(run: RunRecord) -> tuple[list[dict] | None, bool]:
    """A run's trace as training messages, and whether it was hinted: a hinted run asks its task's plain question
    here (the hint helped find the trace; the model must learn to do without it)."""
    row = trace_messages(run)
    question = (run.options.get("task") or {}).get("question")
    if row is None or not question or question == run.prompt:
        return (row["messages"] if row else None), False
    return [
        {**m, "content": question} if m["role"] == "user" and m["content"] == run.prompt else m for m in row["messages"]
    ], True


def _trace(attempt: Attempt) -> dict | None:
    if not all(step.well_formed for step in decided_steps(attempt.run.events)):
        return None
    messages, hinted = _messages(attempt.run)
    return (
        {"messages": messages, "run_id": attempt.run.id, "model": attempt.run.model, "hinted": hinted}
        if messages
        else None
    )


def _agent_rows(task_attempts: list[Attempt], report: BuildReport) -> list[dict]:
    rows = []
    for attempt in best_first(task_attempts):
        if not attempt.passed:
            continue
        row = _trace(attempt)
        if row is None:
            report.malformed_dropped += 1
            continue
        rows.append(row)
    return rows


def _agent_pairs(task_attempts: list[Attempt]) -> list[dict]:
    """Verified vs failed traces of one task, from the first assistant turn where they part."""
    good = [t for a in best_first(task_attempts) if a.passed and (t := _trace(a))]
    bad = [{"messages": m} for a in task_attempts if not a.passed and (m := _messages(a.run)[0])]
    pairs = []
    for n, failed in enumerate(bad):
        if not good:
            break
        chosen, rejected = _plain(good[n % len(good)]["messages"]), _plain(failed["messages"])
        shared = 0
        while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
            shared += 1
        if (
            shared >= min(len(chosen), len(rejected))
            or chosen[shared]["role"] != "assistant"
            or rejected[shared]["role"] != "assistant"
        ):
            continue
        pairs.append({"prompt": chosen[:shared], "chosen": [chosen[shared]], "rejected": [rejected[shared]]})
    return pairs


# -- programs -------------------------------------------------------------------------------------
def best_first(task_attempts: list[Attempt]) -> list[Attempt]:
    """A task's attempts, best of n first: verified before failed, then the fewest write-and-run rounds (agent:
    steps), then the shortest answer; ties keep the order they were attempted in."""
    return sorted(
        task_attempts,
        key=lambda a: (not a.passed, a.verdict.get("rounds") or a.run.steps or 0, len(a.run.answer or "")),
    )


def writer_conversation(run: RunRecord) -> list[tuple[dict, bool | None]]:
    """The turns after the writer's prompt as the writer read them, each with whether it is a program that passed
    (None for the executor's feedback and replies without code): its replies as assistant turns, the executor's
    feedback as user turns. Empty when a turn is missing (a run recorded before the feedback was, an error)."""
    passed = {e.round: e.passed for e in run.events if isinstance(e, CodeExecuted)}
    turns: list[tuple[dict, bool | None]] = []
    for event in run.events:
        if isinstance(event, CodeWritten):
            turns.append(({"role": "assistant", "content": event.text}, passed.get(event.round, False)))
        elif isinstance(event, MessageSent) and event.source == "writer":
            turns.append(({"role": "assistant", "content": event.content}, None))
        elif isinstance(event, MessageSent) and event.source == "executor":
            turns.append(({"role": "user", "content": event.content}, None))
        elif isinstance(event, MessageSent):
            return []  # llmdeck's own error: not a conversation the writer had
    return turns


def repair_messages(run: RunRecord) -> list[dict] | None:
    """A program verified after failed rounds as its repair conversation: the writer's prompt, each failed program
    (weight 0: context) and the executor's feedback on it, then the verified program; None otherwise."""
    turns = writer_conversation(run)
    end = next((n for n, (_, ok) in enumerate(turns) if ok), None)
    if end is None or not any(turn["role"] == "user" for turn, _ in turns[:end]):
        return None
    context = [{**turn, "weight": 0} if turn["role"] == "assistant" else turn for turn, _ in turns[:end]]
    return [*writer_prompt(run), *context, {"role": "assistant", "content": fenced(_code(run, turns[end][0]))}]


def _code(run: RunRecord, turn: dict) -> str:
    written = [e.code for e in run.events if isinstance(e, CodeWritten) and e.text == turn["content"]]
    return written[0] if written else turn["content"]


def _verify_rows(task_attempts: list[Attempt]) -> list[dict]:
    """The verified programs, best first, then the repair conversations of those verified after a failed round."""
    verified = [a for a in best_first(task_attempts) if a.passed and a.run.answer]
    plain = [
        {
            "messages": [*writer_prompt(a.run), {"role": "assistant", "content": a.run.answer}],
            "run_id": a.run.id,
            "model": a.run.model,
        }
        for a in verified
    ]
    repairs = [
        {"messages": messages, "run_id": a.run.id, "model": a.run.model, "repair": True}
        for a in verified
        if (messages := repair_messages(a.run))
    ]
    return plain + repairs


def _verify_pairs(task_attempts: list[Attempt]) -> list[dict]:
    """The verified program (best first) vs each failing program written for the same task (any attempt, any
    round), then, after a failed program and its feedback, the verified program vs the failing rewrite written
    there; the two kinds interleaved so that the per-task cap keeps both."""
    ranked = best_first(task_attempts)
    chosen = list(dict.fromkeys(a.run.answer for a in ranked if a.passed and a.run.answer))
    rejected = list(dict.fromkeys(code for a in task_attempts for code in failing_programs(a.run)))
    if not chosen:
        return []
    prompt = writer_prompt(task_attempts[0].run)
    plain = [
        {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": chosen[n % len(chosen)]}],
            "rejected": [{"role": "assistant", "content": code}],
        }
        for n, code in enumerate(rejected)
        if code not in chosen
    ]
    repairs: list[dict] = []
    for attempt in task_attempts:
        turns = writer_conversation(attempt.run)
        for n, (turn, ok) in enumerate(turns):
            if ok is not False or not any(t["role"] == "user" for t, _ in turns[:n]):
                continue  # a verified program, feedback, or the first program (a plain pair already)
            code = fenced(_code(attempt.run, turn))
            if code in chosen:
                continue
            repairs.append(
                {
                    "prompt": [*writer_prompt(attempt.run), *(t for t, _ in turns[:n])],
                    "chosen": [{"role": "assistant", "content": chosen[len(repairs) % len(chosen)]}],
                    "rejected": [{"role": "assistant", "content": code}],
                    "repair": True,
                }
            )
    mixed = [pair for both in zip(plain, repairs) for pair in both]
    longer = plain if len(plain) > len(repairs) else repairs
    return mixed + longer[len(mixed) // 2 :]
