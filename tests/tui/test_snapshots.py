"""Snapshot tests (pytest-textual-snapshot) of the main layouts, on the scripted fake model.

Every screen has one: the five mode screens and the help (F10) in the real app; the screens pushed over them (the
dialogs, the loop screen) alone in a bare app with llmdeck's stylesheet, given what their screen would give them.

Snapshots depend on Textual's rendering: they were recorded with the Textual version pinned in pyproject's
`dev` extra. Update them after a deliberate layout change with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Select

from llmdeck.tui import app as app_module
from llmdeck.tui.app import LlmdeckApp
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.registry import Registry

SIZE = (120, 34)
STARTED_AT = 1767261600.0  # 2026-01-01 10:00 UTC: past runs show a fixed start time


@pytest.fixture
def utc(monkeypatch):
    """Start times render in UTC, so the snapshots do not depend on the machine's time zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def recorded_run(
    run_id: str,
    kind: str,
    prompt: str,
    options: dict,
    events: list[dict],
    status: str,
    steps: int,
    answer: str | None = None,
    passed: bool | None = None,
    isolation: str | None = None,
) -> None:
    """A finished agent/verify run as `agents.records` stores it, with fixed ids and times."""
    from llmdeck.agents import records
    from llmdeck.core import db

    with db.transaction(records._connect()) as conn:
        conn.execute(
            "INSERT INTO agent_runs (id, kind, prompt, model, options, status, answer, passed, steps,"
            " isolation, started_at, finished_at, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                kind,
                prompt,
                "smollm2-135m-instruct",
                json.dumps(options),
                status,
                answer,
                None if passed is None else int(passed),
                steps,
                isolation,
                STARTED_AT,
                STARTED_AT + 2.5,
                2.5,
            ),
        )
        for seq, event in enumerate(events, start=1):
            conn.execute(
                "INSERT INTO agent_events (run_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)",
                (run_id, seq, event["type"], json.dumps(event), STARTED_AT + seq),
            )


async def reopen_first_run(pilot, table_id: str, rendered) -> None:
    screen = pilot.app.screen
    table = screen.query_one(table_id)
    await settled(pilot, lambda: table.row_count == 1 and screen.query_one("Select").value != Select.NULL)
    table.focus()
    await pilot.press("enter")
    await settled(pilot, rendered)
    await steady(pilot)


async def steady(pilot) -> None:
    """Stop cursors blinking (hidden): a shot taken half a second later would otherwise differ."""
    for widget in pilot.app.screen.query("*"):
        if getattr(widget, "cursor_blink", None):
            widget.cursor_blink = False
    await pilot.pause()


async def settled(pilot, predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the screen"
        await pilot.pause(0.05)


def test_chat_screen_after_one_answer(snap_compare, fake_model):
    fake_model.enqueue("Two plus two is **four**:\n\n```python\nprint(2 + 2)\n```")

    async def run_before(pilot) -> None:
        screen = pilot.app.screen
        await settled(pilot, lambda: screen.model_name is not None)
        screen.query_one("#prompt").value = "2+2?"
        await pilot.click("#prompt")
        await pilot.press("enter")
        await settled(pilot, lambda: not screen.busy and "tok/s" in str(screen.query_one("#chat-status").render()))
        await settled(pilot, lambda: "2 messages" in str(screen.query_one("SessionItem Label").render()))
        # timings vary run to run: show the model and token count only
        screen.query_one("#chat-status").update("model: smollm2-135m-instruct - 19 tokens, context 40/2048 (2%)")
        await steady(pilot)

    assert snap_compare(LlmdeckApp(), terminal_size=SIZE, run_before=run_before)


def test_models_screen(snap_compare, fake_model):
    async def run_before(pilot) -> None:
        await pilot.press("f2")
        screen = pilot.app.screen
        table = screen.query_one("#models-table")
        await settled(
            pilot, lambda: table.row_count == 1 and "smollm2" in str(screen.query_one("#model-meta").render())
        )
        # the file's path is this machine's: show the rest
        meta = str(screen.query_one("#model-meta").render()).splitlines()
        screen.query_one("#model-meta").update("\n".join(line for line in meta if not line.startswith("file")))
        await steady(pilot)

    assert snap_compare(LlmdeckApp(), terminal_size=SIZE, run_before=run_before)


@pytest.mark.slow  # the train screen takes a few seconds to lay out on a loaded 2-core machine
def test_train_screen_monitor(snap_compare, fake_model):
    registry = Registry()
    run = registry.create(
        "demo-run", "sft", "smollm2-135m-instruct", "sample", TrainConfig(max_steps=20).model_dump(), "local"
    )
    registry.conn.execute(
        "UPDATE runs SET id = 'run-1', status = 'completed', global_step = 20, max_steps = 20,"
        " last_metrics_json = ? WHERE id = ?",
        (json.dumps({"loss": 1.2, "step": 20}), run.id),
    )
    rows = [
        {
            "step": s,
            "loss": 2.5 * 0.95**s + 0.05 * (s % 3),
            "learning_rate": 2e-4 * (1 - s / 20),
            "grad_norm": 1.5 - s / 40,
            "tokens_per_s": 150.0,
            "elapsed_s": 3.0 * s,
            "peak_rss_bytes": 1536 * 2**20,
            "max_steps": 20,
        }
        for s in range(1, 21)
    ]
    rows[9]["eval_loss"], rows[19]["eval_loss"] = 1.9, 1.5
    (run.path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run.path / "train.log").write_text("llmdeck worker: run started\nllmdeck worker: run completed\n")

    async def run_before(pilot) -> None:
        await pilot.press("f3")
        screen = pilot.app.screen
        monitor = screen.query_one("#monitor")
        await settled(pilot, lambda: len(monitor.metrics_rows) == 20 and screen.query_one("#monitor-log").lines)
        await steady(pilot)

    assert snap_compare(LlmdeckApp(), terminal_size=(140, 44), run_before=run_before)


@pytest.mark.slow  # seconds of layout on a loaded 2-core machine: the fast tier keeps the chat and models shots
def test_agents_screen_with_a_reopened_trace(snap_compare, fake_model, utc):
    events = [
        {"type": "thought", "step": 1, "text": "I should multiply."},
        {
            "type": "tool_call",
            "step": 1,
            "name": "calculator",
            "args": {"expression": "17 * 23"},
            "id": "c1",
            "text": "Action: calculator",
        },
        {"type": "observation", "step": 1, "name": "calculator", "content": "391", "error": False},
        {"type": "thought", "step": 2, "text": "I have the answer."},
        {"type": "final", "answer": "17 * 23 = 391", "steps": 2, "limit": None, "seconds": 2.5, "text": "..."},
    ]
    recorded_run(
        "a-demo",
        "agent",
        "What is 17 * 23?",
        {"tools": ["calculator"], "max_steps": 6, "thoughts": True},
        events,
        "answered",
        2,
        answer="17 * 23 = 391",
    )

    async def run_before(pilot) -> None:
        await pilot.press("f4")
        screen = pilot.app.screen
        await reopen_first_run(pilot, "#agent-runs", lambda: len(screen.query_one("#agent-trace").blocks()) == 6)

    assert snap_compare(LlmdeckApp(), terminal_size=(130, 40), run_before=run_before)


@pytest.mark.slow  # as above
def test_verify_screen_with_reopened_rounds_and_verdict(snap_compare, fake_model, utc):
    def execution(round_number: int, code: str, exit_code: int, stdout: str, stderr: str, passed: bool) -> dict:
        return {
            "type": "execution",
            "round": round_number,
            "exit_code": exit_code,
            "stdout": stdout,
            "stderr": stderr,
            "seconds": 0.04,
            "isolation": "bubblewrap",
            "limit": None,
            "checks": "passed" if passed else "not run",
            "check_message": "stdout is '1\\n2\\n3'" if passed else None,
            "passed": passed,
            "code": code,
        }

    first, second = "print(1 / 0)", "for i in range(1, 4):\n    print(i)"
    events = [
        {"type": "code", "round": 1, "code": first, "text": f"```python\n{first}\n```"},
        execution(
            1,
            first,
            1,
            "",
            'Traceback (most recent call last):\n  File "solution.py", line 1, in <module>\n'
            "ZeroDivisionError: division by zero\n",
            False,
        ),
        {"type": "code", "round": 2, "code": second, "text": f"```python\n{second}\n```"},
        execution(2, second, 0, "1\n2\n3\n", "", True),
        {
            "type": "verdict",
            "passed": True,
            "status": "verified",
            "rounds": 2,
            "code": second,
            "checks": "expect",
            "isolation": "bubblewrap",
            "isolation_note": "bubblewrap: no network, read-only system dirs",
            "seconds": 2.5,
        },
    ]
    recorded_run(
        "v-demo",
        "verify",
        "Print 1 to 3, one per line.",
        {"max_rounds": 3, "checks": {"expect": "1\n2\n3", "tests": None, "tests_file": None}},
        events,
        "verified",
        2,
        passed=True,
        isolation="bubblewrap",
    )

    async def run_before(pilot) -> None:
        await pilot.press("f5")
        screen = pilot.app.screen
        await reopen_first_run(pilot, "#verify-runs", lambda: screen.query_one("#verify-rounds").query(".verdict"))

    assert snap_compare(LlmdeckApp(), terminal_size=(130, 46), run_before=run_before)


# -- the dialogs and the screens pushed over the mode screens -------------------------------------------------------
class DialogHost(App):
    """A bare app with llmdeck's stylesheet showing one screen pushed over the mode screens (a dialog, the loop
    screen): shot without starting the chat screen behind it."""

    CSS_PATH = Path(app_module.__file__).parent / "app.tcss"
    TITLE = LlmdeckApp.TITLE

    def __init__(self, dialog) -> None:
        super().__init__()
        self.dialog = dialog

    def on_mount(self) -> None:
        self.push_screen(self.dialog)


async def dialog_shown(pilot) -> None:
    await settled(pilot, lambda: pilot.app.screen is pilot.app.dialog)
    await steady(pilot)


def test_confirm_dialog(snap_compare):
    from llmdeck.tui.screens.confirm import ConfirmScreen

    dialog = ConfirmScreen("Delete the session 'trip plans' and its messages?")
    assert snap_compare(DialogHost(dialog), terminal_size=SIZE, run_before=dialog_shown)


def test_text_prompt_dialog(snap_compare):
    from llmdeck.tui.screens.text_prompt import TextPromptScreen

    dialog = TextPromptScreen("New title for this session", "trip plans")
    assert snap_compare(DialogHost(dialog), terminal_size=SIZE, run_before=dialog_shown)


def test_choice_dialog(snap_compare):
    from llmdeck.tui.screens.choice import ChoiceScreen

    dialog = ChoiceScreen(
        "Export which completed run into the store? (Enter picks, Esc cancels)",
        [("run-1", "run-1  demo-run (sft, 20 steps)"), ("run-2", "run-2  dpo-run (dpo, 40 steps)")],
    )
    assert snap_compare(DialogHost(dialog), terminal_size=SIZE, run_before=dialog_shown)


def test_quant_picker_dialog(snap_compare):
    from llmdeck.tui.screens.quant_picker import QuantPickerScreen

    dialog = QuantPickerScreen(
        "Export run demo-run into the model store",
        multiple=True,
        name_hint="(default: from the run name, demo-run)",
        scoring=True,
    )
    assert snap_compare(DialogHost(dialog), terminal_size=(120, 44), run_before=dialog_shown)


def test_modelfile_dialog(snap_compare):
    from llmdeck.tui.screens.modelfile import ModelfileScreen

    text = (
        'FROM ./smollm2-135m-instruct.gguf\nTEMPLATE """{{ if .System }}<|im_start|>system\n{{ .System }}'
        '<|im_end|>\n{{ end }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n"""\n'
        'PARAMETER stop "<|im_end|>"\nPARAMETER num_ctx 2048\n'
    )
    assert snap_compare(
        DialogHost(ModelfileScreen("smollm2-135m-instruct", text)), terminal_size=SIZE, run_before=dialog_shown
    )


def test_source_dialog(snap_compare):
    from llmdeck.tui.screens.source import SourceScreen

    source = {
        "n": 1,
        "source": "docs/geography.md",
        "chunk": 3,
        "score": 0.82,
        "text": "Paris is the capital and largest city of France.\n\nIt lies on the Seine.",
    }
    assert snap_compare(DialogHost(SourceScreen(source)), terminal_size=SIZE, run_before=dialog_shown)


def test_file_picker_dialog(snap_compare, tmp_path, monkeypatch):
    from llmdeck.tui.screens.file_picker import FilePickerScreen

    monkeypatch.chdir(tmp_path)  # a relative start: the tree's root shows no temp path
    (tmp_path / "data" / "more").mkdir(parents=True)
    for name in ("train.jsonl", "prefs.csv", "notes.md"):
        (tmp_path / "data" / name).write_text("{}\n")
    dialog = FilePickerScreen(
        "Pick a dataset file (or type a directory)", (".json", ".jsonl", ".csv"), Path("data"), directories=True
    )

    async def run_before(pilot) -> None:
        await dialog_shown(pilot)
        tree = pilot.app.screen.query_one("#picker-tree")
        await settled(pilot, lambda: len(tree.root.children) == 3)
        await steady(pilot)

    assert snap_compare(DialogHost(dialog), terminal_size=SIZE, run_before=run_before)


def test_compare_runs_dialog(snap_compare):
    from llmdeck.tui.screens.compare_runs import CompareRunsScreen

    registry = Registry()
    for run_id, lora_r, drop, status in (("run-1", 16, 0.95, "completed"), ("run-2", 8, 0.9, "stopped")):
        run = registry.create(
            run_id,
            "sft",
            "smollm2-135m-instruct",
            "sample",
            TrainConfig(max_steps=20, lora_r=lora_r).model_dump(),
            "local",
        )
        rows = [{"step": s, "loss": 2.5 * drop**s} for s in range(1, 21)]
        (run.path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        registry.conn.execute(
            "UPDATE runs SET id = ?, status = ?, global_step = 20, max_steps = 20 WHERE id = ?",
            (run_id, status, run.id),
        )  # fixed ids: the table's columns are named by them; the statuses differ (a highlighted row)
    first, second = "run-1", "run-2"

    async def run_before(pilot) -> None:
        await dialog_shown(pilot)
        await settled(pilot, lambda: pilot.app.screen.query_one("#compare-diff").row_count > 0)
        await pilot.pause(0.3)  # textual-plot places its legend after the plot's next layouts (a shot came too soon)
        await steady(pilot)

    assert snap_compare(DialogHost(CompareRunsScreen(first, second)), terminal_size=SIZE, run_before=run_before)


@pytest.mark.slow  # the help's Markdown (every screen's keys) takes seconds to lay out on a loaded 2-core machine
def test_help_screen(snap_compare, fake_model):
    async def run_before(pilot) -> None:
        chat = pilot.app.screen
        await settled(pilot, lambda: chat.model_name is not None)
        await pilot.press("f10")
        await settled(pilot, lambda: type(pilot.app.screen).__name__ == "HelpScreen")
        await steady(pilot)

    assert snap_compare(LlmdeckApp(), terminal_size=SIZE, run_before=run_before)


def test_chat_options_dialog(snap_compare):
    from llmdeck.tui.screens.chat_options import ChatOptionsScreen

    dialog = ChatOptionsScreen({"system": None, "temperature": 0.7, "top_p": 0.95, "max_tokens": 512})  # the defaults
    assert snap_compare(DialogHost(dialog), terminal_size=SIZE, run_before=dialog_shown)


def test_ingest_dialog(snap_compare):
    from llmdeck.tui.screens.ingest import IngestScreen

    async def run_before(pilot) -> None:
        pilot.app.animation_level = "none"  # the idle progress bar would otherwise sweep
        await dialog_shown(pilot)

    assert snap_compare(DialogHost(IngestScreen()), terminal_size=SIZE, run_before=run_before)


def test_rag_synth_dialog(snap_compare):
    from llmdeck.tui.screens.rag_synth import RagSynthScreen

    async def run_before(pilot) -> None:
        pilot.app.animation_level = "none"  # the idle progress bar would otherwise sweep
        await dialog_shown(pilot)

    assert snap_compare(DialogHost(RagSynthScreen("docs")), terminal_size=SIZE, run_before=run_before)


def test_loop_screen(snap_compare):
    from llmdeck.tui.screens.loop import LoopScreen

    async def run_before(pilot) -> None:
        await dialog_shown(pilot)
        await pilot.pause(0.2)  # its list of loops (none) is read in a worker
        await steady(pilot)

    assert snap_compare(DialogHost(LoopScreen()), terminal_size=(130, 40), run_before=run_before)


@pytest.mark.slow  # opening the form lays out ~40 fields: seconds on a loaded 2-core machine
def test_train_screen_new_run_form(snap_compare, fake_model, monkeypatch):
    from llmdeck.tuning import runs
    from tests.tuning.test_plan_summary import launch_plan

    monkeypatch.setattr(runs, "plan", lambda config: launch_plan())  # the real plan loads torch (slow tier)

    async def run_before(pilot) -> None:
        pilot.app.animation_level = "none"  # the tab's underline slides otherwise
        await pilot.press("f3")
        screen = pilot.app.screen
        await pilot.press("ctrl+n")
        preview, estimate = screen.query_one("#data-preview"), screen.query_one("#estimate")
        await settled(pilot, lambda: "34 rows" in str(preview.render()) and "peak" in str(estimate.render()))
        # the bundled sample's path is this checkout's: show the rest
        preview.update("\n".join(str(preview.render()).splitlines()[1:]))
        await steady(pilot)

    assert snap_compare(LlmdeckApp(), terminal_size=(140, 44), run_before=run_before)


def test_arena_screen_after_a_vote_with_the_leaderboard(snap_compare, fake_model):
    import random

    from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME, embedded_chat_model_path
    from llmdeck.core.store import ModelStore
    from llmdeck.tui.screens.arena import ArenaScreen

    ModelStore().register(embedded_chat_model_path(), name="tuned")
    fake_model.default_reply = "The capital of France is Paris."  # both sides: which answers first is a race

    async def run_before(pilot) -> None:
        await dialog_shown(pilot)
        screen = pilot.app.screen
        screen.query_one("#arena-prompt").value = "Capital of France?"
        await pilot.click("#arena-prompt")
        await pilot.press("enter")
        await settled(pilot, lambda: screen.finished == {"left", "right"})
        await pilot.press("left")
        await pilot.press("l")
        await settled(pilot, lambda: screen.query_one("#arena-board").row_count == 2)
        await steady(pilot)

    dialog = ArenaScreen(EMBEDDED_CHAT_MODEL_NAME, "tuned", rng=random.Random(0))
    assert snap_compare(DialogHost(dialog), terminal_size=SIZE, run_before=run_before)


def test_eval_screen_with_its_table(snap_compare, fake_model, tmp_path, monkeypatch):
    from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME, embedded_chat_model_path
    from llmdeck.core.store import ModelStore
    from llmdeck.services.evaluate import evaluate
    from llmdeck.tui.screens.evaluate import EvalScreen

    ModelStore().register(embedded_chat_model_path(), name="tuned")
    monkeypatch.chdir(tmp_path)  # the file's path on screen is relative
    rows = [
        {"id": "capital", "prompt": "Capital of France?", "exact": "Paris"},
        {"id": "colour", "prompt": "A primary colour?", "contains": ["red", "blue", "yellow"]},
        {"id": "six", "prompt": "6 * 7?", "regex": "42"},
    ]
    Path("evals.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    fake_model.enqueue("Lyon", "Blue", "42", "Paris", "Red", "42")
    models = [EMBEDDED_CHAT_MODEL_NAME, "tuned"]
    list(evaluate(models, "evals.jsonl"))  # stored: the screen's run re-reads every score (no timings on screen)

    async def run_before(pilot) -> None:
        await dialog_shown(pilot)
        screen = pilot.app.screen
        pilot.app.animation_level = "none"
        await pilot.press("ctrl+r")
        await settled(pilot, lambda: not screen.running and screen.query_one("#eval-table").row_count == 4)
        await steady(pilot)

    assert snap_compare(DialogHost(EvalScreen(models, "evals.jsonl")), terminal_size=SIZE, run_before=run_before)


WEATHER_TOOLS = '''from langchain_core.tools import tool


@tool
def weather(city: str) -> str:
    """Today's weather in a city."""
    return f"sunny in {city}"
'''


def test_tools_screen_with_a_tools_file_and_mcp_servers(snap_compare, llmdeck_home, monkeypatch):
    import sys
    from importlib import metadata

    from llmdeck.core.settings import McpServer, update_settings
    from llmdeck.tui.screens.tools import ToolsScreen

    lite_server = Path(__file__).resolve().parents[2] / "testing" / "mcp_lite_server.py"  # starts in milliseconds
    monkeypatch.chdir(llmdeck_home.parent)
    monkeypatch.setenv("LLMDECK_HOME", llmdeck_home.name)  # relative: the tools file's path on screen is too
    monkeypatch.setattr(metadata, "entry_points", lambda group: [])  # no plugin of this machine's environment
    (llmdeck_home / "tools").mkdir(parents=True)
    (llmdeck_home / "tools" / "weather.py").write_text(WEATHER_TOOLS)  # loaded like a --tools-file
    servers = {
        "lite": McpServer(command=sys.executable, args=[str(lite_server)]),
        "off": McpServer(command="an-mcp-server-turned-off", enabled=False),  # never started: always "disabled"
    }
    update_settings(mcp_servers={name: s.model_dump(exclude_none=True) for name, s in servers.items()})

    async def run_before(pilot) -> None:
        await dialog_shown(pilot)
        screen = pilot.app.screen
        await settled(pilot, lambda: not screen.busy and "server:off" in screen.rows)
        table = screen.query_one("#tools-table")
        table.move_cursor(row=table.get_row_index("tool:add"))  # beside the table: the MCP tool's schema
        await steady(pilot)

    assert snap_compare(DialogHost(ToolsScreen()), terminal_size=SIZE, run_before=run_before)


def test_rag_eval_screen_with_its_table(snap_compare, tmp_path, monkeypatch):
    from llmdeck.services import rag_eval
    from llmdeck.tui.screens.rag_eval import RagEvalScreen
    from tests.tui.helpers import FakeRetriever

    monkeypatch.setattr(rag_eval, "open_retriever", lambda collection, progress=True: FakeRetriever())
    monkeypatch.chdir(tmp_path)  # the QA file by a relative name: no machine path in the shot
    rows = [{"question": "apples?", "sources": ["a.md"]}, {"question": "pears?", "sources": ["a.md"], "id": "pears"}]
    Path("qa.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    dialog = RagEvalScreen("docs", qa_file="qa.jsonl")

    async def run_before(pilot) -> None:
        pilot.app.animation_level = "none"
        await dialog_shown(pilot)
        await pilot.click("#rag-eval-start")
        # Off the button: it is re-enabled under the pointer, and whether it then shows hover raced the shot
        await pilot.hover("#rag-eval-status")
        await settled(pilot, lambda: dialog.report is not None)
        await steady(pilot)

    assert snap_compare(DialogHost(dialog), terminal_size=SIZE, run_before=run_before)
