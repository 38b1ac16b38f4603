"""Task files: JSON lines of agent questions with known answers and coding tasks with checks, for collecting
attempts (`llmdeck agent|verify --tasks FILE`), building training data and benchmarking.

    {"id": "arith-003", "kind": "agent", "question": "What is 17 * 23?", "answers": ["391"], "tool": "calculator"}
    {"id": "files-002", "kind": "agent", "question": "...", "answers": ["40"], "tool": "files",
     "workspace": "workspace"}
    {"id": "rag-007", "kind": "agent", "question": "...", "answers": ["blue-heron"], "tool": "rag_search",
     "collection": "llmdeck-tasks", "corpus": "corpus"}
    {"id": "code-014", "kind": "verify", "task": "Print the factorial of 6.", "expect": "720"}
    {"id": "code-051", "kind": "verify", "task": "Define add(a, b) ...", "tests": "assert add(2, 3) == 5"}

Optional everywhere: `split` ("train" or "heldout"; default: decided by the id, `split_of`), `category`,
`difficulty`. Agent tasks may name their `tools`, a `workspace` directory for the `files` tool and a RAG
`collection` (with a `corpus` directory that is ingested into it when needed); relative paths are relative to
the task file. An agent attempt passes when its answer is right (`correct`) and, when the task names a
`tool`, its first action was that tool (`final_answer`: no tool at all).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from llmdeck.agents.events import AgentAnswered, RunEvent, ToolCalled
from llmdeck.core.errors import BadInput
from llmdeck.core.validate import json_object_rows, pydantic_problem, read_lines_file

SPLITS = ("train", "heldout")
HELDOUT_FRACTION = 0.3
DEFAULT_AGENT_TOOLS = ["calculator", "files", "rag_search", "datetime", "python"]


class Task(BaseModel):
    """One line of a task file."""

    model_config = {"extra": "forbid"}

    id: str = Field(
        min_length=1,
        max_length=120,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="Unique within the file; decides the split when `split` is absent.",
    )
    kind: Literal["agent", "verify"] = Field(
        description="agent: a question for the ReAct agent; verify: a coding task."
    )
    split: Literal["train", "heldout"] | None = Field(None, description="train or heldout (default: by id).")
    category: str | None = Field(None, description="A label for per-category reports (arithmetic, files...).")
    difficulty: int | None = Field(None, ge=1, le=5, description="Graded difficulty, 1 easiest.")
    # agent tasks
    question: str | None = Field(None, min_length=1, description="The question (agent tasks).")
    answers: list[str] | None = Field(None, min_length=1, description="Accepted answers (agent tasks), any one counts.")
    tool: str | None = Field(None, description="The tool a good first step calls (final_answer: none).")
    hint: str | None = Field(
        None,
        description="How to start (e.g. the tool call to make), shown only in hinted"
        " collection; the trained trace keeps the plain question.",
    )
    tools: list[str] | None = Field(
        None,
        description="Tools offered (default: calculator, files, rag_search, datetime,"
        " python; rag_search only with a collection).",
    )
    workspace: str | None = Field(None, description="Directory the files tool reads (relative to the task file).")
    collection: str | None = Field(None, description="RAG collection the rag_search tool searches.")
    corpus: str | None = Field(None, description="Directory ingested into `collection` when it is missing or stale.")
    # verify tasks
    task: str | None = Field(None, min_length=1, description="What the program must do (verify tasks).")
    expect: str | None = Field(None, description="The exact stdout the program must print.")
    tests: str | None = Field(None, description="Asserts / test_ functions run against the program.")

    @model_validator(mode="after")
    def _fits_kind(self) -> Task:
        problems = []
        if self.kind == "agent":
            problems += [
                f"{name}: needed by an agent task" for name in ("question", "answers") if getattr(self, name) is None
            ]
            problems += [
                f"{name}: only verify tasks have it"
                for name in ("task", "expect", "tests")
                if getattr(self, name) is not None
            ]
        else:
            if self.task is None:
                problems.append("task: needed by a verify task")
            if (self.expect is None) == (self.tests is None):
                problems.append("expect/tests: a verify task needs exactly one of them")
            problems += [
                f"{name}: only agent tasks have it"
                for name in ("question", "answers", "tool", "hint", "tools", "workspace", "collection", "corpus")
                if getattr(self, name) is not None
            ]
        if self.tests is not None:
            try:
                compile(self.tests, "tests", "exec")
            except SyntaxError as exc:
                problems.append(f"tests: not valid Python (line {exc.lineno}: {exc.msg})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def prompt(self) -> str:
        """What the model is asked: an agent task's question, a verify task's task."""
        prompt = self.question if self.kind == "agent" else self.task
        assert prompt is not None  # _fits_kind: each kind has its prompt field
        return prompt

    @property
    def effective_split(self) -> str:
        return self.split or split_of(self.id)

    def record(self, source: str) -> dict:
        """What a run records about its task (the split decides whether its data may be trained on)."""
        return {
            "id": self.id,
            "split": self.effective_split,
            "set": source,
            "category": self.category,
            **({"answers": self.answers, "tool": self.tool, "question": self.question} if self.kind == "agent" else {}),
        }

    def hinted_question(self) -> str:
        """The question as a hinted collection asks it (STaR-style rationalization: the hint helps the model find a
        verified trace; the training data asks the plain question)."""
        return f"{self.prompt}\nHint: {self.hint}" if self.hint else self.prompt


class TaskFile(BaseModel):
    """A loaded task file: its tasks and where relative paths point."""

    path: Path
    tasks: list[Task]

    @property
    def name(self) -> str:
        return self.path.stem

    def resolve(self, relative: str | None) -> Path | None:
        return None if relative is None else (self.path.parent / relative).resolve()

    def select(self, kind: str | None = None, split: str | None = None, limit: int | None = None) -> list[Task]:
        """Tasks of `kind` and `split` ("all" or None: both); `limit` keeps the first N of each category, so a
        quick run still covers every kind of question."""
        chosen = [
            t
            for t in self.tasks
            if (kind is None or t.kind == kind) and (split in (None, "all") or t.effective_split == split)
        ]
        if not limit:
            return chosen
        seen: dict[str, int] = {}
        kept = []
        for task in chosen:
            key = task.category or task.kind
            seen[key] = seen.get(key, 0) + 1
            if seen[key] <= limit:
                kept.append(task)
        return kept


def split_of(task_id: str, heldout_fraction: float = HELDOUT_FRACTION) -> str:
    """A task's split from its id alone (stable across machines and runs)."""
    bucket = int(hashlib.sha256(task_id.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "heldout" if bucket < heldout_fraction else "train"


def load_tasks(path: str | Path) -> TaskFile:
    """Read and validate a task file; BadInput lists every bad line (file:line: field: what is expected)."""
    path = Path(path).expanduser()
    tasks: list[Task] = []
    problems: list[str] = []
    seen: dict[str, int] = {}  # task id: the line it is on
    lines = read_lines_file(path, "--tasks", "a JSON lines file of tasks", MAX_TASK_FILE_BYTES)
    for number, where, raw in json_object_rows(lines, path.name, problems):
        try:
            task = Task(**raw)
        except ValidationError as exc:
            hint = f"a task has {', '.join(Task.model_fields)}"
            problems += [pydantic_problem(where, error, hint) for error in exc.errors()]
            continue
        if task.id in seen:
            problems.append(f"{where}: id {task.id!r} already used on line {seen[task.id]}")
            continue
        seen[task.id] = number
        tasks.append(task)
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise BadInput(f"{path}: {len(problems)} bad task(s): " + "; ".join(problems[:20]) + more)
    if not tasks:
        raise BadInput(f"{path}: no tasks (expected JSON lines with id, kind and a question or task)")
    return TaskFile(path=path.resolve(), tasks=tasks)


MAX_TASK_FILE_BYTES = 64 * 1024 * 1024


NUMBER = re.compile(r"(?<![\d.])-?\d+(?:\.\d+)?")  # "3.5" is one number; the "-" of "8-14" is no sign


def correct(answer: str, expected: list[str]) -> bool:
    """A number must be the answer's first or last number (commas ignored: "1,200" is 1200); a sequence of
    numbers ("3 7 19") must open or close the answer's numbers, in that order ("[3, 7, 19]", "3, 7 and 19"); text
    must appear as a word, case-insensitively. First or last: "19 * 8 - 14 = 138" and "138, since 19 * 8 = 152"
    are right, a list of numbers that only holds the answer somewhere ("apples: 75, pears: 44, plums: 82") is not
    (a loop would train on such a guess). A tool's error or refusal echoed as the answer is never correct."""
    if answer.startswith(("Error:", "Refused:")):
        return False
    text = answer.lower().replace(",", "")
    numbers = NUMBER.findall(text)
    for value in expected:
        wanted = value.split(" ")
        if all(NUMBER.fullmatch(part) for part in wanted):
            if numbers[: len(wanted)] == wanted or numbers[-len(wanted) :] == wanted:
                return True
        elif re.search(r"(?<![a-z0-9])" + re.escape(value.lower()) + r"(?![a-z0-9])", text):
            return True
    return False


def first_action(events: Iterable[RunEvent]) -> str:
    """The first step's action: a tool name, or final_answer."""
    for event in events:
        if isinstance(event, ToolCalled):
            return event.name
        if isinstance(event, AgentAnswered):
            return "final_answer"
    return "final_answer"


def decided_steps(events: Iterable[RunEvent]) -> list[ToolCalled | AgentAnswered]:
    """The steps that chose an action: the tool calls and the answer."""
    return [event for event in events if isinstance(event, (ToolCalled, AgentAnswered))]


def grade_agent(task: Task, events: Sequence[RunEvent], answer: str | None) -> dict:
    """An agent attempt's verdict: the answer's correctness, the first action's, and both together."""
    action = first_action(events)
    answer_ok = correct(answer or "", task.answers or [])
    tool_ok = task.tool is None or action == task.tool
    steps = decided_steps(events)
    return {
        "passed": answer_ok and tool_ok,
        "correct": answer_ok,
        "tool_ok": tool_ok,
        "first_action": action,
        "well_formed": all(step.well_formed for step in steps),
        "steps": len(steps),
    }


def agent_tools(task: Task) -> list[str]:
    """The tools an agent task offers (rag_search only where there is a collection)."""
    tools = task.tools or DEFAULT_AGENT_TOOLS
    return [name for name in tools if name != "rag_search" or task.collection]


def prepare_fixtures(task_file: TaskFile, tasks: list[Task]) -> None:
    """Check workspaces exist and ingest each corpus into its collection (unchanged files are skipped)."""
    done = set()
    for task in tasks:
        workspace = task_file.resolve(task.workspace)
        if workspace is not None and not workspace.is_dir():
            raise BadInput(f"{task_file.path.name}: task {task.id}: workspace {workspace} is not a directory")
        if task.collection and (task.collection, task.corpus) not in done:
            done.add((task.collection, task.corpus))
            corpus = task_file.resolve(task.corpus)
            if corpus is not None:
                if not corpus.is_dir():
                    raise BadInput(f"{task_file.path.name}: task {task.id}: corpus {corpus} is not a directory")
                from llmdeck.rag.ingest import ingest

                ingest([corpus], task.collection, prune=True, progress=False)
