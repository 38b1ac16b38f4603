"""The typed service events and their `--json` lines: every event class has an example here, its JSON form is
generated from its fields ("type" first, then each field in order) and reads back as the same event, the run
records still read the stored JSON forms, and every event class is handled by the CLI
printer of its stream (an event the printer does not know is a TypeError, not a silent blank)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from llmdeck.agents import records
from llmdeck.agents.events import (
    AGENT_EVENTS,
    VERIFY_EVENTS,
    AgentAnswered,
    AgentFailed,
    CodeExecuted,
    CodeWritten,
    MessageSent,
    ThoughtWritten,
    ToolCalled,
    ToolReturned,
    VerdictReached,
    run_event,
)
from llmdeck.cli import agent as agent_cli
from llmdeck.cli import bench as bench_cli
from llmdeck.cli import evaluate as eval_cli
from llmdeck.cli import loop as loop_cli
from llmdeck.cli import rag_synth as synth_cli
from llmdeck.cli import serve as serve_cli
from llmdeck.cli import sweeps as sweeps_cli
from llmdeck.cli import verify as verify_cli
from llmdeck.cli.output import emit_event
from llmdeck.core import db
from llmdeck.core.events import Event
from llmdeck.core.serving import SERVE_EVENTS, ModelLoaded, ModelUnloaded
from llmdeck.services.agent_bench import BENCH_EVENTS, AttemptBenched, BenchReported
from llmdeck.services.chat import CHAT_EVENTS, AnswerEnded, AnswerFinished, AnswerStarted, TokenStreamed
from llmdeck.services.collect import SWEEP_EVENTS, AttemptRecorded, SweepFinished, SweepStarted
from llmdeck.services.evaluate import EVAL_EVENTS, EvalReported, EvalStarted, RowScored
from llmdeck.services.loop import LOOP_EVENTS, LoopFinished, RoundFinished, StageEnded, StageProgressed, StageStarted
from llmdeck.services.rag_synth import SYNTH_EVENTS, QuestionSynthesized, SynthFinished, SynthStarted

EXAMPLES = [
    ThoughtWritten(1, "Add them."),
    ToolCalled(1, "calculator", {"expression": "2 + 2"}, "call_1", "Action: calculator\nAction Input: {}"),
    ToolCalled(2, "files", {"operation": "list"}, "call_2", "files list", well_formed=False),
    ToolReturned(1, "calculator", "4", False),
    AgentAnswered("4", 2, None, 0.5, 'Action: final_answer\nAction Input: {"answer": "4"}'),
    AgentAnswered("(no answer)", 6, "max_steps", 9.5, "...", well_formed=False),
    AgentFailed("RuntimeError: the model fell over"),
    CodeWritten(1, "print(42)", "```python\nprint(42)\n```"),
    CodeExecuted(1, 0, "42\n", "", 0.12, "process", None, "passed", "stdout is '42'", True),
    CodeExecuted(2, None, "", "killed", 10.0, "bubblewrap", "wall_time", "not run", None, False),
    MessageSent(1, "executor", "VERIFIED: stdout is '42'"),
    VerdictReached(True, "verified", 1, "print(42)", "expect", "process", "a plain subprocess", 0.5),
    SweepStarted("c1", "agent", 2, 2, 4, 1),
    AttemptRecorded(
        "c1", "add", 0, "arithmetic", True, "a1", 1.5, {"passed": True, "first_action": "calculator"}, 2, 4, 1, 1.0
    ),
    SweepFinished("c1", "agent", 2, 4, 1, 3, 2, 0.6667, {"arithmetic": {"attempts": 3, "passed": 2}}, 4.2, False),
    AttemptBenched("base", "verify", 1, 2, "h1", True),
    BenchReported(
        ["base"],
        "heldout",
        [
            {
                "metric": "verify pass@1",
                "higher_is_better": True,
                "models": {"base": {"value": 0.5, "n": 2, "low": 0.1, "high": 0.9}},
                "deltas": {},
            }
        ],
        {"base": {"verify": "c2"}},
        {"base": 3.0},
    ),
    StageStarted(1, "sft"),
    StageEnded(1, "sft", "done", {"run_id": "r1", "steps": 2, "loss": 0.5, "seconds": 3.0}),
    StageEnded(1, "preference", "skip", None),
    StageProgressed(1, "sft", 1, 2, "loss 0.5"),
    RoundFinished(1, {"round": 1, "model": "m", "output": "m-r1.q8_0"}),
    LoopFinished("demo", "completed", [{"round": 1, "model": "m"}], 61.0, 120.5),
    TokenStreamed("Paris"),
    AnswerFinished("m", 2, 0.01, 50.0, 0.05, "stop"),
    AnswerFinished(
        "m",
        2,
        0.01,
        50.0,
        0.05,
        "stop",
        adapter="run-1",
        session="s1",
        sources=[{"n": 1, "source": "a.md", "chunk": 0}],
        standalone_question="What is it?",
    ),
    AnswerStarted("m"),
    AnswerStarted("m", "completion", adapter="run-1", session="s1", warning="no chat template"),
    AnswerEnded("m", 2, 0.01, 50.0, 0.05, "stop", prompt_tokens=12, n_ctx=2048),
    AnswerEnded("m", 1, 0.01, 0.0, 0.02, None, stopped=True, sources=[{"n": 1, "source": "a.md", "text": "x"}]),
    EvalStarted("evals.jsonl", ["m", "m+run-1"], 3, 6, 2),
    RowScored("m", "capital", "exact", 1.0, True, "Paris", {"matched": "Paris"}, 0.2, False, 1, 6),
    EvalReported(["m"], "evals.jsonl", [{"metric": "exact match", "kind": "rate", "models": {}, "deltas": {}}]),
    ModelLoaded("m", 1.2),
    ModelUnloaded("m", "keep-alive"),
    SynthStarted("docs", "m", "hybrid", 40, 5, 15),
    QuestionSynthesized("c1", "/d/tides.md", "Why is the sea high?", "The Moon.", 0.2, 1, True, None, 1, 1, 5, 0.4),
    QuestionSynthesized("c2", "/d/bees.md", "", None, None, None, False, "no question", 2, 1, 5, 0.3),
    SynthFinished("docs", "m", "hybrid", 2, 1, {"no question": 1}, "qa.jsonl", "sft.jsonl", 1, 0.7),
    SynthFinished("docs", "m", "hybrid", 1, 0, {}, None, None, 0, 0.2, stopped=True),
]
STREAMS = {  # each stream's events, and the CLI printer that shows them
    "agent": (AGENT_EVENTS, agent_cli.render_event),
    "verify": (VERIFY_EVENTS, verify_cli.render_event),
    "sweep": (SWEEP_EVENTS, sweeps_cli.render),
    "loop": (LOOP_EVENTS, lambda event: loop_cli.show_event(event, {})),
    "bench": (BENCH_EVENTS, bench_cli.show_event),
    "eval": (EVAL_EVENTS, eval_cli.show_event),
    "serve": (SERVE_EVENTS, serve_cli.print_event),
    "synth": (SYNTH_EVENTS, synth_cli.show_event),
    "chat": (CHAT_EVENTS, emit_event),  # chat prints its text as it comes; only --json shows its events
}


def event_classes(base: type = Event) -> set[type]:
    found = set()
    for cls in base.__subclasses__():
        found |= {cls} | event_classes(cls)
    return found


def event_classes_in_the_source() -> set[str]:
    """Every class of the packages' source that derives from Event, imported by this test or not (the subclass
    walk sees only the modules imported so far, which differs from worker to worker)."""
    import ast
    from pathlib import Path

    import llmdeck

    found = set()
    packages = [sub.resolve() for root in llmdeck.__path__ for sub in Path(root).iterdir() if sub.is_dir()]
    for package in packages:  # the subpackages are links to the top-level folders, which rglob does not follow
        for path in package.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and any(
                    getattr(base, "id", getattr(base, "attr", None)) == "Event" for base in node.bases
                ):
                    found.add(f"{path.stem}.{node.name}")
    return found


def example_id(event: Event) -> str:
    return type(event).__name__


def test_every_event_class_has_an_example_and_a_stream():
    assert event_classes() == {type(e) for e in EXAMPLES}
    assert {f"{cls.__module__.rpartition('.')[2]}.{cls.__name__}" for cls in event_classes()} == (
        event_classes_in_the_source()
    )
    in_streams = [cls for classes, _ in STREAMS.values() for cls in classes]
    assert sorted(in_streams, key=str) == sorted(event_classes(), key=str)  # each class in exactly one stream


@pytest.mark.parametrize("event", EXAMPLES, ids=example_id)
def test_the_json_form_is_generated_from_the_fields_and_reads_back(event):
    data = event.to_json()
    shown = [
        f.name
        for f in dataclasses.fields(event)
        if not ("omitted_when" in f.metadata and getattr(event, f.name) == f.metadata["omitted_when"])
    ]
    assert list(data) == ["type", *shown] and data["type"] == type(event).type
    assert all(data[name] is getattr(event, name) for name in shown)
    assert type(event).from_json(json.loads(json.dumps(data))) == event


def test_the_json_forms_of_the_streams_are_the_documented_lines():
    assert ToolCalled(1, "calculator", {"x": 1}, "c1", "t").to_json() == {
        "type": "tool_call",
        "step": 1,
        "name": "calculator",
        "args": {"x": 1},
        "id": "c1",
        "text": "t",
    }
    assert ToolCalled(1, "calculator", {}, "c1", "t", well_formed=False).to_json()["well_formed"] is False
    assert StageStarted(2, "data").to_json() == {"type": "stage", "round": 2, "stage": "data", "status": "start"}
    assert StageEnded(2, "data", "skip", None).to_json() == {
        "type": "stage",
        "round": 2,
        "stage": "data",
        "status": "skip",
        "result": None,
    }
    assert list(AnswerFinished("m", 1, 0.1, 2.0, 0.5, "stop").to_json()) == [
        "type",
        "model",
        "tokens",
        "ttft_s",
        "tokens_per_s",
        "total_s",
        "finish_reason",
    ]


@pytest.mark.parametrize("event", [e for e in EXAMPLES if isinstance(e, AGENT_EVENTS + VERIFY_EVENTS)], ids=example_id)
def test_a_recorded_event_decodes_to_its_class(event):
    assert run_event(json.loads(json.dumps(event.to_json()))) == event
    assert run_event({**event.to_json(), "at": 1.0}) == event  # a key the event does not declare is ignored


def test_stored_events_still_load_and_show_as_they_were_stored():
    """Rows as the records have always held them (the JSON forms): read back as events, and `runs show --json`
    gives each stored form with its time."""
    run_id = records.start_run("agent", "What is 2 + 2?", "m", {})
    stored = [
        {
            "type": "tool_call",
            "step": 1,
            "name": "calculator",
            "args": {"expression": "2 + 2"},
            "id": "c1",
            "text": "Action: calculator",
        },
        {"type": "observation", "step": 1, "name": "calculator", "content": "4", "error": False},
        {"type": "final", "answer": "4", "steps": 2, "limit": None, "seconds": 0.2, "text": "t", "well_formed": False},
    ]
    with db.transaction(records._connect()) as conn:
        for seq, data in enumerate(stored, start=1):
            conn.execute(
                "INSERT INTO agent_events (run_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)",
                (run_id, seq, data["type"], json.dumps(data), 100.0 + seq),
            )
    run = records.get_run(run_id)
    assert [type(e) for e in run.events] == [ToolCalled, ToolReturned, AgentAnswered]
    assert run.events[2].well_formed is False and run.events[0].args == {"expression": "2 + 2"}
    assert run.to_dict()["events"] == [{**data, "at": 100.0 + seq} for seq, data in enumerate(stored, start=1)]
    assert "events" not in run.to_dict(with_events=False)


def test_an_event_type_the_records_do_not_know_is_refused():
    with pytest.raises(ValueError, match="unknown event type 'teleport'"):
        run_event({"type": "teleport"})


@pytest.mark.parametrize("event", EXAMPLES, ids=example_id)
def test_every_event_is_handled_by_its_cli_printer(event, capsys):
    name, (_, printer) = next((name, s) for name, s in STREAMS.items() if isinstance(event, s[0]))
    printer(event)  # raises TypeError for an event it does not handle
    for other, (_, other_printer) in STREAMS.items():
        if other not in (name, "chat"):
            with pytest.raises(TypeError):
                other_printer(event)
