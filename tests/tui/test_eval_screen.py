"""The eval screen (`v` on the models screen) on the scripted fake model: it runs the eval, shows every scored
row and the table with intervals and the paired difference; a second run resumes from the stored scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable

from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME, embedded_chat_model_path
from llmdeck.core.store import ModelStore
from llmdeck.services.eval_report import wilson
from llmdeck.tui import app as app_module
from llmdeck.tui.app import LlmdeckApp
from llmdeck.tui.screens.evaluate import EvalScreen
from llmdeck.tui.screens.models import ModelsScreen
from tests.tui.helpers import text_of, wait_for

SIZE = (140, 36)
M = EMBEDDED_CHAT_MODEL_NAME


class EvalHost(App):
    """A bare app showing only the eval screen."""

    CSS_PATH = Path(app_module.__file__).parent / "app.tcss"

    def __init__(self, screen: EvalScreen):
        super().__init__()
        self.eval_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self.eval_screen)


def cells(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


async def test_the_eval_runs_and_shows_the_rows_and_the_table(fake_model, tmp_path):
    ModelStore().register(embedded_chat_model_path(), name="tuned")
    evals = tmp_path / "evals.jsonl"
    rows = [
        {"id": "capital", "prompt": "Capital of France?", "exact": "Paris"},
        {"id": "six", "prompt": "6*7?", "regex": "42"},
    ]
    evals.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fake_model.enqueue("Lyon", "42", "Paris", "42")
    async with EvalHost(EvalScreen(models=[M, "tuned"], tasks_file=str(evals))).run_test(size=SIZE) as pilot:
        screen = pilot.app.eval_screen
        await wait_for(pilot, lambda: screen.is_attached)
        await pilot.click("#eval-models")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.running and screen.query_one("#eval-table", DataTable).row_count)
        assert cells(screen.query_one("#eval-rows", DataTable)) == [
            [M, "capital", "exact", "fail", cells(screen.query_one("#eval-rows", DataTable))[0][4]],
            [M, "six", "regex", "pass", cells(screen.query_one("#eval-rows", DataTable))[1][4]],
            ["tuned", "capital", "exact", "pass", cells(screen.query_one("#eval-rows", DataTable))[2][4]],
            ["tuned", "six", "regex", "pass", cells(screen.query_one("#eval-rows", DataTable))[3][4]],
        ]
        table = cells(screen.query_one("#eval-table", DataTable))
        assert [row[0] for row in table] == ["exact match", "regex match", "all checks"]
        low, high = wilson(1, 2)
        assert table[2][:4] == ["all checks", "2", f"0.500 [{low:.3f}, {high:.3f}]", "1.000 [0.342, 1.000]"]
        assert table[2][4].startswith("+0.500 [")
        assert text_of(screen.query_one("#eval-progress-label")) == "4/4"

        await pilot.press("ctrl+r")  # again: every score is re-read (no reply is queued for the model)
        await wait_for(pilot, lambda: not screen.running and "done" in text_of(screen.query_one("#eval-status")))
        assert [row[4] for row in cells(screen.query_one("#eval-rows", DataTable))] == ["stored"] * 4
        assert cells(screen.query_one("#eval-table", DataTable)) == table


async def test_a_bad_eval_file_is_a_notification_not_a_crash(fake_model, tmp_path):
    evals = tmp_path / "evals.jsonl"
    evals.write_text('{"prompt": "Q"}\n')
    async with EvalHost(EvalScreen(models=[M], tasks_file=str(evals))).run_test(size=SIZE) as pilot:
        screen = pilot.app.eval_screen
        await wait_for(pilot, lambda: screen.is_attached)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "eval failed" in text_of(screen.query_one("#eval-status")))
        assert not screen.running
        assert any("evals.jsonl:1: expected exactly one scorer" in n.message for n in pilot.app._notifications)


async def test_v_on_the_models_screen_opens_it_with_the_highlighted_model(fake_model):
    async with LlmdeckApp().run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        models = pilot.app.screen
        await wait_for(pilot, lambda: isinstance(models, ModelsScreen) and models.selected)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, EvalScreen))
        screen = pilot.app.screen
        assert screen.query_one("#eval-models").value == M
        assert screen.query_one("#eval-tasks").value.endswith("sample_evals.jsonl")
        await pilot.press("escape")
        await wait_for(pilot, lambda: pilot.app.screen is models)


@pytest.mark.slow  # the train screen's first layout takes seconds on a loaded 2-core machine
async def test_v_on_the_train_screen_compares_the_run_with_its_base(fake_model):
    from llmdeck.tuning.registry import Registry

    registry = Registry()
    run = registry.create("tuned", "sft", M, "sample", {"base_model": M}, "local")
    registry.update(run.id, status="completed", last_metrics={"loss": 1.0})
    async with LlmdeckApp().run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        train = pilot.app.screen
        await wait_for(pilot, lambda: run.id in train.query_one("#runs-table").runs_by_id)
        train.query_one("#runs-table").focus()
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, EvalScreen))
        assert pilot.app.screen.query_one("#eval-models").value == f"{M} +{run.id}"


def test_a_run_is_compared_with_the_base_llama_cpp_can_run(tmp_path):
    from llmdeck.services.evaluate import run_models

    assert run_models("r1", M) == [M, "+r1"]
    assert run_models("r1", None) == [M, "+r1"]  # the default store model
    assert run_models("r1", str(embedded_chat_model_path())) == [str(embedded_chat_model_path()), "+r1"]
    (tmp_path / "hf-model").mkdir()
    assert run_models("r1", str(tmp_path / "hf-model")) == ["+r1"]  # a Hugging Face directory: +RUN alone
    assert run_models("r1", "HuggingFaceTB/SmolLM2-135M") == ["+r1"]


@pytest.mark.slow  # the real model answers in a child process
async def test_the_screen_runs_the_real_model_in_a_child_process(tmp_path):
    import llmdeck.core.runtime as runtime
    from llmdeck.core.settings import update_settings

    update_settings(n_threads=1)  # the child reads config.toml: one thread decodes faster on a loaded machine
    evals = tmp_path / "evals.jsonl"
    evals.write_text(
        json.dumps({"id": "capital", "prompt": "Capital of France?", "contains": "Paris", "max_tokens": 8})
    )
    async with EvalHost(EvalScreen(models=[M], tasks_file=str(evals))).run_test(size=SIZE) as pilot:
        screen = pilot.app.eval_screen
        await wait_for(pilot, lambda: screen.is_attached)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.evaluation is not None)
        child = screen.evaluation.process  # type: ignore[union-attr]  # the real loader: an ApartEvaluation
        await wait_for(pilot, lambda: screen.evaluation is None, timeout_s=240, what="the child's eval")
        assert child.returncode == 0
        assert [row[:3] for row in cells(screen.query_one("#eval-rows", DataTable))] == [[M, "capital", "contains"]]
        assert cells(screen.query_one("#eval-table", DataTable))[0][:2] == ["contains", "1"]
    assert runtime._cache is None or len(runtime._cache) == 0  # nothing was loaded (or decoded) in this process
