"""The bundled task sets, generated from a seed so every answer is exact, and their fixtures:

- `tool_tasks.jsonl`: questions for the ReAct agent in ten families (`task_gen.agent`, `task_gen.fixtures`):
  arithmetic and unit conversions (calculator); dates, strings, lists, parsing and small algorithms (the python
  tool); lookups in a fixture workspace (files) and in a fixture RAG collection (rag_search); questions that
  need no tool. Each tool question carries a `hint` (the tool call to make), shown only when a collection asks
  for hints;
- `code_tasks.jsonl`: Python tasks for the verify pair (`task_gen.code`), graded 1 (print one computed value),
  2 (loops, several values or lines) and 3 (functions checked by asserts);
- `workspace/` (the files tool's directory) and `corpus/` (ingested into the collection `llmdeck-tasks`).

A task's id is its family and a hash of its prompt; its split is `agents.tasks.split_of(id)` (a hash of the id:
30% held out), recorded in each line. So a question keeps its split however the families grow, and no question
is in both splits. `python -m llmdeck.agents.task_sets` rewrites the files; a test checks that regenerating
gives the committed files byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from llmdeck.agents.task_gen import Draft, Family, generate, task_id
from llmdeck.agents.task_gen import agent as agent_gen
from llmdeck.agents.task_gen import code as code_gen
from llmdeck.agents.task_gen import fixtures as fixture_families
from llmdeck.agents.tasks import HELDOUT_FRACTION, correct, split_of

SEED = 20260314
DATA_DIR = Path(__file__).resolve().parent / "task_data"
TOOL_TASKS = "tool_tasks.jsonl"
CODE_TASKS = "code_tasks.jsonl"
COLLECTION = "llmdeck-tasks"
FIXTURES = {"workspace": "workspace", "collection": COLLECTION, "corpus": "corpus"}  # every question: the same tools
__all__ = ["HELDOUT_FRACTION", "bundled", "code_tasks", "generated_files", "tool_tasks", "write"]


def agent_families(seed: int = SEED) -> tuple[list[Family], dict[str, str], dict[str, str]]:
    """The agent families, and the workspace files and corpus documents their lookups are about."""
    fixtures = fixture_families.build(seed)
    return [*agent_gen.FAMILIES, *fixtures.families], fixtures.workspace, fixtures.corpus


def _counted(families: list[Family], counts: Mapping[str, int] | None) -> list[Family]:
    """The families with `counts` overriding their sizes (tests grow a family to check the split holds)."""
    if not counts:
        return families
    return [Family(f.name, counts.get(f.name, f.count), f.draw, f.table, f.topic, f.notes) for f in families]


def _not_echoed(draft: Draft) -> bool:
    """An agent question whose text, echoed back as the answer, would already be graded right measures nothing."""
    return not correct(draft.prompt, list(draft.answers))


def tool_tasks(
    seed: int = SEED, counts: Mapping[str, int] | None = None
) -> tuple[list[dict], dict[str, str], dict[str, str]]:
    """The agent questions (split assigned), the workspace files and the corpus documents they are about."""
    families, workspace, corpus = agent_families(seed)
    seen: set[str] = set()
    tasks = []
    for family in _counted(families, counts):
        for draft in generate(family, seed, seen, _not_echoed).drafts:
            hint = {"hint": f"Use {draft.tool} with {json.dumps(draft.call)}, then answer from its result."}
            tasks.append(
                {
                    "id": task_id(family.name, draft.prompt),
                    "kind": "agent",
                    "category": family.name,
                    "difficulty": draft.difficulty,
                    "question": draft.prompt,
                    "answers": list(draft.answers),
                    "tool": draft.tool,
                    **(hint if draft.call is not None else {}),
                    **FIXTURES,
                }
            )
    return assign_splits(tasks), workspace, corpus


def code_drafts(seed: int = SEED, counts: Mapping[str, int] | None = None) -> list[tuple[Family, Draft]]:
    """Every coding task's family and draft (with its reference program, which the task file leaves out)."""
    seen: set[str] = set()
    return [
        (family, draft)
        for family in _counted(list(code_gen.FAMILIES), counts)
        for draft in generate(family, seed, seen, lambda _: True).drafts
    ]


def code_tasks(seed: int = SEED, counts: Mapping[str, int] | None = None) -> list[dict]:
    """Coding tasks with expected stdout (levels 1-2) or asserts (level 3), split assigned."""
    tasks = []
    for family, draft in code_drafts(seed, counts):
        check = {"expect": draft.expect} if draft.expect is not None else {"tests": draft.tests}
        tasks.append(
            {
                "id": task_id(family.name, draft.prompt),
                "kind": "verify",
                "category": family.topic or family.name,
                "difficulty": draft.difficulty,
                "task": draft.prompt,
                **check,
            }
        )
    return assign_splits(tasks)


def assign_splits(tasks: list[dict]) -> list[dict]:
    """Each task's split from its id alone (`split_of`): adding tasks never moves another one."""
    for task in tasks:
        task["split"] = split_of(task["id"])
    return tasks


def generated_files(seed: int = SEED) -> dict[str, str]:
    """Every bundled file's relative path and text."""
    tools, workspace, corpus = tool_tasks(seed)
    files = {TOOL_TASKS: _jsonl(tools), CODE_TASKS: _jsonl(code_tasks(seed))}
    files.update({f"workspace/{name}": text for name, text in workspace.items()})
    files.update({f"corpus/{name}": text for name, text in corpus.items()})
    return files


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def bundled(kind: str = "agent") -> Path:
    """The bundled task file for agent questions or coding (verify) tasks."""
    return DATA_DIR / (TOOL_TASKS if kind == "agent" else CODE_TASKS)


def write(directory: Path = DATA_DIR) -> list[Path]:
    """Rewrite the bundled files; fixture files no longer generated are removed."""
    files = generated_files()
    for folder in ("workspace", "corpus"):
        for stale in sorted((directory / folder).glob("*")):
            if f"{folder}/{stale.name}" not in files:
                stale.unlink()
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(path)
