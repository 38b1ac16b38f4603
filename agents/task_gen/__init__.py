"""Task generators: deterministic code that writes the bundled task sets (`agents.task_sets`).

Each family is a function of its own random stream (seeded by the set's seed and the family's name), so growing
one family's count appends tasks to it and changes no other family. Every expected answer is computed here
(never typed in): agent answers by Python, programs' expected output by running the task's reference program,
function tests by calling the reference function. A task's id is its family and a hash of its prompt, so the
same question always has the same id, and so the same split (`agents.tasks.split_of`), however the files grow.

A draw is refused (and another one made) when it repeats an earlier prompt, or when echoing the question back
would already count as a right answer (`agents.tasks.correct`): such a task measures nothing.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

MAX_DRAWS_PER_TASK = 50  # a family that cannot find new prompts stops instead of looping


@dataclass(frozen=True)
class Draft:
    """One generated task before it is given an id and a split."""

    prompt: str  # the agent question or the coding task
    difficulty: int
    answers: tuple[str, ...] = ()  # agent: accepted answers (any one counts)
    tool: str | None = None  # agent: the tool a good first step calls (final_answer: none)
    call: dict | None = None  # agent: the arguments of that first call (the hint), None for final_answer
    expect: str | None = None  # verify: the exact stdout
    tests: str | None = None  # verify: asserts run against the program
    reference: str | None = None  # verify: a program that passes (the tests' source of truth)


@dataclass(frozen=True)
class Family:
    """A named task family: `count` drafts from `draw` (called with the family's own random stream), or the
    whole list from `table` for families over a finite table (fixture lookups, facts)."""

    name: str  # also the id prefix and the task's category
    count: int
    draw: Callable[[random.Random], Draft | None] | None = None
    table: Callable[[random.Random], list[Draft]] | None = None
    topic: str | None = None  # the category when several families share one (code tasks)
    notes: str = ""  # what the family asks, for the docs


@dataclass
class Generated:
    """The drafts a family produced, in order."""

    family: Family
    drafts: list[Draft] = field(default_factory=list)


def family_rng(seed: int, name: str) -> random.Random:
    """The family's own random stream: a function of the set's seed and the family's name only."""
    return random.Random(int(hashlib.sha256(f"{seed}/{name}".encode()).hexdigest()[:16], 16))


def task_id(prefix: str, prompt: str) -> str:
    """A stable id: the family's prefix and the first 8 hex digits of the prompt's SHA-256."""
    return f"{prefix}-{hashlib.sha256(prompt.encode('utf-8')).hexdigest()[:8]}"


def generate(family: Family, seed: int, seen: set[str], accept: Callable[[Draft], bool]) -> Generated:
    """Draw the family's tasks; repeated prompts (across every family, via `seen`) and drafts `accept` refuses
    are skipped."""
    rng = family_rng(seed, family.name)
    out = Generated(family)

    def candidates() -> Iterator[Draft | None]:
        if family.table is not None:
            yield from family.table(rng)
            return
        assert family.draw is not None
        for _ in range(family.count * MAX_DRAWS_PER_TASK):
            yield family.draw(rng)

    for draft in candidates():
        if len(out.drafts) >= family.count:
            break
        if draft is None or draft.prompt in seen or not accept(draft):
            continue
        seen.add(draft.prompt)
        out.drafts.append(draft)
    return out


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def spaced(numbers) -> str:
    """A sequence as an answer: space-separated (the grader ignores commas, so "[3, 7]" matches "3 7")."""
    return " ".join(str(n) for n in numbers)
