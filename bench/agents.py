"""Agents on the embedded SmolLM2-135M: the ReAct agent on tool questions with known answers and the verify
pair on small coding tasks with checks. The baseline a later issue (fine-tuning on the model's own traces)
must beat.

- 42 tool questions, generated from a seed so every answer is exact: arithmetic (calculator), lookups in a
  generated fixture workspace (files), lookups in a generated RAG collection (rag_search), and questions
  that need no tool. Every run offers the same tools: calculator, files, rag_search, datetime.
  Metrics: well-formed steps with constraints (every step of every run) vs without (the first step decoded
  freely and parsed), tool-choice accuracy (first action), answer accuracy vs plain chat (no tools), seconds.
- 22 coding tasks (bench/data/agent_coding_tasks.jsonl, expected stdout or assert tests): verify pass rate and
  mean rounds vs one unconstrained greedy answer run once against the same checks.

    python bench/agents.py [--limit N] [--threads 1] [--thoughts] [--max-rounds 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from llmdeck.agents.tasks import correct  # the grading the loop and `llmdeck bench agents` use

BENCH_DIR = Path(__file__).resolve().parent
TOOLS = ["calculator", "files", "rag_search", "datetime"]
NO_TOOL_QUESTIONS = [
    ("Say hello.", ["hello", "hi"]),
    ("Repeat the word banana.", ["banana"]),
    ("What is the opposite of hot?", ["cold"]),
    ("What color is the sky on a clear day?", ["blue"]),
    ("How many days are there in a week?", ["7", "seven"]),
    ("What is the capital of France?", ["paris"]),
    ("What animal says meow?", ["cat"]),
    ("What is the plural of mouse?", ["mice"]),
    ("Is ice hot or cold?", ["cold"]),
    ("What do bees make?", ["honey"]),
]
FRUITS = ["apples", "pears", "plums", "cherries", "lemons", "mangos"]
PEOPLE = ["Alice", "Bruno", "Chen", "Dana"]
PROJECTS = [
    ("Zorblat", "BLUE-HERON"),
    ("Quillon", "RED-FALCON"),
    ("Marrow", "GREEN-OTTER"),
    ("Tessel", "GOLD-LYNX"),
    ("Vantor", "GREY-WHALE"),
    ("Brisk", "PINK-CRANE"),
]


def tool_questions(seed: int, workspace: Path, corpus: Path) -> list[dict]:
    """Questions with exact answers; writes the fixture workspace and corpus they are about."""
    rng = random.Random(seed)
    questions = []
    for _ in range(16):
        a, b, c = rng.randint(12, 99), rng.randint(12, 99), rng.randint(2, 9)
        op = rng.choice(["+", "-", "*", "mix"])
        text, value = (
            (f"What is ({a} + {b}) * {c}?", (a + b) * c)
            if op == "mix"
            else (f"What is {a} {op} {b}?", eval(f"{a}{op}{b}"))
        )  # noqa: S307 (our own literals)
        questions.append({"kind": "arithmetic", "question": text, "tool": "calculator", "answers": [str(value)]})
    counts = {fruit: rng.randint(3, 60) for fruit in FRUITS}
    (workspace / "inventory.txt").write_text("".join(f"{fruit}: {n}\n" for fruit, n in counts.items()))
    phones = {person: f"555-{rng.randint(1000, 9999)}" for person in PEOPLE}
    (workspace / "contacts.txt").write_text("".join(f"{p}: {n}\n" for p, n in phones.items()))
    for fruit in FRUITS:
        questions.append(
            {
                "kind": "files",
                "question": f"How many {fruit} are listed in inventory.txt?",
                "tool": "files",
                "answers": [str(counts[fruit])],
            }
        )
    for person in PEOPLE:
        questions.append(
            {
                "kind": "files",
                "question": f"What is {person}'s phone number in contacts.txt?",
                "tool": "files",
                "answers": [phones[person]],
            }
        )
    for name, codename in PROJECTS:
        (corpus / f"{name.lower()}.md").write_text(
            f"# Project {name}\n\nProject {name} is an internal effort. The codename of project {name} is {codename}."
            f" It started in the spring and is run by a small team.\n"
        )
        questions.append(
            {
                "kind": "rag",
                "question": f"What is the codename of project {name}?",
                "tool": "rag_search",
                "answers": [codename.lower()],
            }
        )
    for text, answers in NO_TOOL_QUESTIONS:
        questions.append({"kind": "no tool", "question": text, "tool": "final_answer", "answers": answers})
    return questions


def run_agent_questions(questions: list[dict], args, workspace: Path, collection: str) -> list[dict]:
    from llmdeck.agents.react import AgentOptions
    from llmdeck.agents.tasks import decided_steps, first_action
    from llmdeck.services.agent import ask

    results = []
    for n, item in enumerate(questions, start=1):
        start = time.perf_counter()
        response = ask(
            item["question"],
            tools=TOOLS,
            workspace=workspace,
            collection=collection,
            options=AgentOptions(max_steps=args.max_steps),
            thoughts=args.thoughts,
            n_threads=args.threads,
        )
        events = list(response)
        seconds = time.perf_counter() - start
        steps = decided_steps(events)
        first = first_action(events)
        results.append(
            {
                **item,
                "answer": response.answer,
                "first_action": first,
                "seconds": seconds,
                "steps": len(steps),
                "well_formed": sum(step.well_formed for step in steps),
                "correct": correct(response.answer or "", item["answers"]),
                "limit": response.limit,
            }
        )
        print(
            f"[{n}/{len(questions)}] {item['kind']:10} {first:12} {'ok ' if results[-1]['correct'] else 'no '}"
            f"{seconds:5.1f}s {item['question']!r} -> {str(response.answer)[:60]!r}",
            file=sys.stderr,
            flush=True,
        )
    return results


def free_first_steps(questions: list[dict], args, workspace: Path, collection: str) -> list[bool]:
    """Is the first step well formed when decoded without any grammar (same prompt, same model)?"""
    from langchain_core.messages import HumanMessage

    from llmdeck.agents.chat_model import ConstrainedChatModel, to_chat, tool_specs
    from llmdeck.agents.tools import ToolCatalog, ToolSettings
    from llmdeck.core.runtime import load_model

    tools = ToolCatalog(settings=ToolSettings(workspace=workspace, collection=collection)).build(TOOLS)
    specs = tool_specs(tools)
    model = ConstrainedChatModel(
        loaded=load_model(None, n_threads=args.threads), thoughts=args.thoughts, constrained=False
    )
    return [
        model.decoder.next_step(to_chat([HumanMessage(item["question"])], specs, args.thoughts), specs).well_formed
        for item in questions
    ]


def plain_chat_answers(questions: list[dict], args) -> list[tuple[bool, float]]:
    """The baseline: the same model answers each question directly (no tools), greedy."""
    from llmdeck.core.runtime import Sampling
    from llmdeck.services.chat import chat

    outcomes = []
    for item in questions:
        start = time.perf_counter()
        text = chat(item["question"], sampling=Sampling(temperature=0.0, max_tokens=64), n_threads=args.threads).read()
        outcomes.append((correct(text, item["answers"]), time.perf_counter() - start))
    return outcomes


def coding_tasks(limit: int | None) -> list[dict]:
    lines = (BENCH_DIR / "data" / "agent_coding_tasks.jsonl").read_text().splitlines()
    tasks = [json.loads(line) for line in lines if line.strip()]
    return tasks[:limit] if limit else tasks


def run_verify_tasks(tasks: list[dict], args, tmp: Path) -> list[dict]:
    from llmdeck.agents.verify import VerifyOptions
    from llmdeck.services.verify import verify

    results = []
    for n, task in enumerate(tasks, start=1):
        tests = None
        if "tests" in task:
            tests = tmp / f"tests_{n}.py"
            tests.write_text(task["tests"])
        start = time.perf_counter()
        response = verify(
            task["task"],
            expect=task.get("expect"),
            tests=tests,
            n_threads=args.threads,
            options=VerifyOptions(max_rounds=args.max_rounds),
        )
        response.read()
        results.append(
            {
                "task": task["task"],
                "passed": response.passed,
                "rounds": response.rounds,
                "status": response.status,
                "seconds": time.perf_counter() - start,
            }
        )
        print(
            f"[{n}/{len(tasks)}] {response.status:16} rounds {response.rounds} {results[-1]['seconds']:5.1f}s"
            f" {task['task'][:70]!r}",
            file=sys.stderr,
            flush=True,
        )
    return results


def single_shot_code(tasks: list[dict], args) -> list[bool]:
    """The baseline: one greedy, unconstrained answer; its first python block run once against the checks."""
    from llmdeck.agents.executor import Checks, check_code
    from llmdeck.agents.verify import WRITER_SYSTEM, extract_code, task_prompt
    from llmdeck.core.runtime import Sampling, load_model, stream_chat

    loaded = load_model(None, n_threads=args.threads)
    passed = []
    for task in tasks:
        checks = Checks(expect=task.get("expect"), tests=task.get("tests"))
        messages = [
            {"role": "system", "content": WRITER_SYSTEM},
            {"role": "user", "content": task_prompt(task["task"], checks)},
        ]
        text = "".join(stream_chat(loaded, messages, Sampling(temperature=0.0, max_tokens=512)))
        code = extract_code(text)
        passed.append(bool(code) and check_code(code, checks).passed)
    return passed


def rate(values) -> float:
    values = list(values)
    return round(sum(values) / len(values), 3) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, help="At most this many questions per kind and coding tasks.")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (1 is fastest on a busy 2-core box).")
    parser.add_argument("--thoughts", action="store_true", help="Decode a Thought line before each action.")
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--max-rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--keep", action="store_true", help="Keep the temp dir (recorded runs, workspace, corpus).")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmdeck-bench-agents-"))
    os.environ["LLMDECK_HOME"] = str(tmp / "home")  # runs recorded here, not in the user's history
    workspace, corpus = tmp / "workspace", tmp / "corpus"
    workspace.mkdir()
    corpus.mkdir()
    questions = tool_questions(args.seed, workspace, corpus)
    if args.limit:
        kinds = {}
        questions = [
            q for q in questions if kinds.setdefault(q["kind"], []).append(q) or len(kinds[q["kind"]]) <= args.limit
        ]

    from llmdeck.rag.ingest import ingest

    ingest([corpus], "bench-facts")
    bench_start = time.perf_counter()
    print(f"== {len(questions)} tool questions (thoughts {'on' if args.thoughts else 'off'})", file=sys.stderr)
    agent = run_agent_questions(questions, args, workspace, "bench-facts")
    free = free_first_steps(questions, args, workspace, "bench-facts")
    plain = plain_chat_answers(questions, args)
    steps = sum(r["steps"] for r in agent)
    well_formed = sum(r["well_formed"] for r in agent) / steps
    by_kind = {}
    for result, (plain_ok, _) in zip(agent, plain):
        row = by_kind.setdefault(result["kind"], {"n": 0, "tool": 0, "agent": 0, "plain": 0})
        row["n"] += 1
        row["tool"] += result["first_action"] == result["tool"]
        row["agent"] += result["correct"]
        row["plain"] += plain_ok
    for kind, row in by_kind.items():
        print(
            f"{kind:10} n={row['n']:2}  tool choice {row['tool']}/{row['n']}  agent correct {row['agent']}/{row['n']}"
            f"  plain chat correct {row['plain']}/{row['n']}",
            file=sys.stderr,
        )
    rows = [
        {
            "metric": "well-formed steps: constrained (every step) vs free first steps",
            "ours": round(well_formed, 3),
            "baseline": rate(free),
            "ratio": round(well_formed / rate(free), 2) if rate(free) else None,
            "target": "1.0",
        },
        {
            "metric": "tool-choice accuracy (first action)",
            "ours": rate(r["first_action"] == r["tool"] for r in agent),
            "baseline": None,
            "ratio": None,
            "target": "",
        },
        {
            "metric": "answer accuracy: agent vs plain chat",
            "ours": rate(r["correct"] for r in agent),
            "baseline": rate(ok for ok, _ in plain),
            "ratio": None,
            "target": "",
        },
        {
            "metric": "seconds per question (median): agent vs plain chat",
            "ours": round(statistics.median(r["seconds"] for r in agent), 2),
            "baseline": round(statistics.median(s for _, s in plain), 2),
            "ratio": None,
            "target": "",
        },
        {
            "metric": "mean steps per question",
            "ours": round(steps / len(agent), 2),
            "baseline": None,
            "ratio": None,
            "target": "",
        },
    ]
    if not args.skip_verify:
        tasks = coding_tasks(args.limit)
        print(f"== {len(tasks)} coding tasks (max {args.max_rounds} rounds)", file=sys.stderr)
        results = run_verify_tasks(tasks, args, tmp)
        baseline = single_shot_code(tasks, args)
        rows += [
            {
                "metric": "verify pass rate vs one unconstrained answer",
                "ours": rate(r["passed"] for r in results),
                "baseline": rate(baseline),
                "ratio": None,
                "target": "",
            },
            {
                "metric": "verify mean rounds",
                "ours": round(statistics.mean(r["rounds"] for r in results), 2),
                "baseline": 1,
                "ratio": None,
                "target": "",
            },
            {
                "metric": "verify seconds per task (median)",
                "ours": round(statistics.median(r["seconds"] for r in results), 2),
                "baseline": None,
                "ratio": None,
                "target": "",
            },
        ]
    print(f"total {time.perf_counter() - bench_start:.0f} s", file=sys.stderr)
    if args.keep:
        print(f"kept {tmp} (LLMDECK_HOME={tmp / 'home'} llmdeck agent runs list)", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print("SUMMARY " + json.dumps({"bench": "agents", "rows": rows}))


if __name__ == "__main__":
    main()
