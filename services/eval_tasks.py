"""The eval file of `llmdeck eval --tasks FILE`: JSON lines, one prompt per row, with exactly one scorer and what
it expects.

    {"id": "capital", "prompt": "What is the capital of France?", "exact": "Paris"}
    {"prompt": "Name a primary colour.", "contains": ["red", "blue", "yellow"]}
    {"prompt": "What is 6 * 7?", "regex": "\\b42\\b"}
    {"prompt": "The largest planet?", "choice": ["Mars", "Jupiter", "Venus"], "answer": "Jupiter"}
    {"prompt": "Write add(a, b).", "code": {"tests": "assert add(2, 3) == 5"}}
    {"prompt": "Print the squares of 1..3.", "code": {"stdout": "1\\n4\\n9"}}
    {"prompt": "Explain recursion in two sentences.", "judge": true, "reference": "A function that calls itself..."}

Optional on every row: `id` (default: `line-N`), `system` (the system prompt), `max_tokens` (the answer's cap).
Every bad row is reported at once, each as `FILE:LINE: field: what is expected`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, StrictBool, StrictInt, ValidationError, field_validator, model_validator

from llmdeck.core.errors import BadInput
from llmdeck.core.validate import json_object_rows, pydantic_problem, read_lines_file

SCORERS = ("exact", "contains", "regex", "choice", "code", "judge")
MAX_EVAL_FILE_BYTES = 64 * 1024 * 1024
MAX_PROBLEMS_SHOWN = 20


class CodeCheck(BaseModel):
    """What makes a written program pass: assert-based `tests` run against it, or its exact `stdout`."""

    model_config = {"extra": "forbid"}

    tests: str | None = Field(None, min_length=1, description="Python asserts run against the program's code.")
    stdout: str | None = Field(None, description="What the program must print (compared line by line).")

    @model_validator(mode="after")
    def _one_check(self) -> CodeCheck:
        if (self.tests is None) == (self.stdout is None):
            raise ValueError("expected exactly one of tests (asserts) or stdout (the expected output)")
        return self


class EvalRow(BaseModel):
    """One prompt and how its answer is scored."""

    model_config = {"extra": "forbid"}

    id: str | None = Field(None, min_length=1, description="The row's name (default: line-N).")
    prompt: str = Field(min_length=1, description="What the model is asked.")
    system: str | None = Field(None, description="A system prompt for this row.")
    max_tokens: StrictInt | None = Field(None, ge=1, le=8192, description="The answer's token cap for this row.")
    exact: str | list[str] | None = Field(None, description="The answer equals one of these (normalized).")
    contains: str | list[str] | None = Field(None, description="The answer contains one of these (any case).")
    regex: str | None = Field(None, description="A Python regular expression found in the answer.")
    choice: list[str] | None = Field(None, description="Options, ranked by their log-likelihood.")
    answer: str | StrictInt | None = Field(
        None, description="choice: the right option (its text or its 0-based index)."
    )
    code: CodeCheck | None = Field(None, description="The answer's program is run in the sandbox and checked.")
    judge: StrictBool | None = Field(None, description="The --judge model grades the answer 1-10.")
    reference: str | None = Field(None, description="judge: a reference answer the judge compares with.")

    @field_validator("exact", "contains")
    @classmethod
    def _texts(cls, value: str | list[str] | None) -> str | list[str] | None:
        texts = [value] if isinstance(value, str) else value
        if texts is not None and (not texts or not all(t.strip() for t in texts)):
            raise ValueError("expected a non-empty text or a non-empty list of non-empty texts")
        return value

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression ({exc})") from None
        return value

    @field_validator("choice")
    @classmethod
    def _options(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if len(value) < 2 or not all(option.strip() for option in value):
                raise ValueError("expected at least two non-empty options")
            if len(set(value)) < len(value):
                raise ValueError("expected different options (one is repeated)")
        return value

    @field_validator("judge")
    @classmethod
    def _judged(cls, value: bool | None) -> bool | None:
        if value is False:
            raise ValueError("expected true (leave it out for a row the judge does not grade)")
        return value

    @model_validator(mode="after")
    def _one_scorer(self) -> EvalRow:
        given = [name for name in SCORERS if getattr(self, name) is not None]
        if len(given) != 1:
            found = f"found {', '.join(given)}" if given else "found none"
            raise ValueError(f"expected exactly one scorer of {', '.join(SCORERS)} ({found})")
        if self.answer is not None and self.choice is None:
            raise ValueError("answer: only a choice row has an answer (the right option)")
        if self.choice is not None:
            if self.answer is None:
                raise ValueError("answer: a choice row needs its right option (text or 0-based index)")
            if isinstance(self.answer, int) and not 0 <= self.answer < len(self.choice):
                raise ValueError(f"answer: index {self.answer} is not an option (0 to {len(self.choice) - 1})")
            if isinstance(self.answer, str) and self.answer not in self.choice:
                raise ValueError(f"answer: {self.answer!r} is not one of the options")
        if self.reference is not None and self.judge is None:
            raise ValueError("reference: only a judge row has a reference answer")
        return self

    @property
    def scorer(self) -> str:
        return next(name for name in SCORERS if getattr(self, name) is not None)

    @property
    def right_option(self) -> int:
        """choice: the index of the right option."""
        assert self.choice is not None and self.answer is not None  # _one_scorer: a choice row has its answer
        return self.answer if isinstance(self.answer, int) else self.choice.index(self.answer)


@dataclass(frozen=True)
class EvalTask:
    """A validated row, its id and line, and a digest of what decides its score (for resuming)."""

    id: str
    line: int
    row: EvalRow

    @property
    def digest(self) -> str:
        material = json.dumps(self.row.model_dump(exclude={"id"}), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class EvalFile:
    path: Path
    tasks: list[EvalTask]

    @property
    def scorers(self) -> list[str]:
        """The scorers the file uses, in SCORERS order."""
        used = {task.row.scorer for task in self.tasks}
        return [name for name in SCORERS if name in used]


def load_eval_file(path: str | Path) -> EvalFile:
    """Read and validate an eval file; BadInput lists every bad row (`FILE:LINE: field: what is expected`)."""
    source = Path(path).expanduser()
    tasks: list[EvalTask] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    lines = read_lines_file(source, "--tasks", "a JSON lines eval file", MAX_EVAL_FILE_BYTES)
    for number, where, raw in json_object_rows(lines, str(source), problems):
        try:
            row = EvalRow(**raw)
        except ValidationError as exc:
            problems += [pydantic_problem(where, error) for error in exc.errors()]
            continue
        task_id = row.id or f"line-{number}"
        if task_id in seen:
            problems.append(f"{where}: id: {task_id!r} is already used on line {seen[task_id]}")
            continue
        seen[task_id] = number
        tasks.append(EvalTask(task_id, number, row))
    if problems:
        more = f" (and {len(problems) - MAX_PROBLEMS_SHOWN} more)" if len(problems) > MAX_PROBLEMS_SHOWN else ""
        raise BadInput("; ".join(problems[:MAX_PROBLEMS_SHOWN]) + more)
    if not tasks:
        raise BadInput(f"--tasks {source}: no rows (expected JSON lines with a prompt and one of {', '.join(SCORERS)})")
    return EvalFile(source.resolve(), tasks)
