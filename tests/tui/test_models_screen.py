"""The models screen with the Pilot: the store table, details (metadata, chat template, lineage), default,
import through the file picker, delete with a confirmation."""

from __future__ import annotations

import shutil

import pytest

from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME
from llmdeck.core.settings import load_settings, update_settings
from llmdeck.core.store import ModelStore
from llmdeck.tui.app import LlmdeckApp
from llmdeck.tuning.registry import Registry
from tests.tui.helpers import text_of, wait_for

SIZE = (140, 36)


async def test_table_details_lineage_and_default(fake_model, tmp_path, embedded_gguf):
    run = Registry().create("tune-1", "sft", EMBEDDED_CHAT_MODEL_NAME, "sample", {}, "local")
    Registry().update(run.id, status="completed", last_metrics={"loss": 0.8125})
    shutil.copyfile(embedded_gguf, tmp_path / "tuned.gguf")
    ModelStore().register(tmp_path / "tuned.gguf", name="tuned", base_model=EMBEDDED_CHAT_MODEL_NAME, run_id=run.id)
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        screen = app.screen
        table = screen.query_one("#models-table")
        await wait_for(pilot, lambda: table.row_count == 2)
        rows = {table.get_row_at(i)[1]: table.get_row_at(i) for i in range(2)}
        assert rows["tuned"][7] == "run tune-1" and rows["tuned"][8] == "0.8125"
        assert rows[EMBEDDED_CHAT_MODEL_NAME][0] == "*" and rows[EMBEDDED_CHAT_MODEL_NAME][7] == "embedded"
        meta = screen.query_one("#model-meta")
        await wait_for(pilot, lambda: EMBEDDED_CHAT_MODEL_NAME in text_of(meta))
        assert "<|im_start|>" in text_of(screen.query_one("#model-template"))
        table.move_cursor(row=list(rows).index("tuned"))
        await wait_for(pilot, lambda: "recorded loss" in text_of(meta))
        tree = screen.query_one("#model-lineage")
        assert str(tree.root.label).startswith(EMBEDDED_CHAT_MODEL_NAME)
        run_node = tree.root.children[0]
        assert str(run_node.label).startswith("run tune-1") and str(run_node.children[0].label).startswith("tuned")
        await pilot.press("d")
        await wait_for(pilot, lambda: load_settings().default_model == "tuned")
        await wait_for(pilot, lambda: table.get_row_at(list(rows).index("tuned"))[0] == "*")


@pytest.mark.slow  # Pilot-heavy: file picker and confirmation dialogs
async def test_import_with_the_file_picker_then_delete_after_confirming(fake_model, copied_gguf):
    update_settings(default_model=None)
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        screen = app.screen
        table = screen.query_one("#models-table")
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.press("i")
        picker = app.screen
        picker.query_one("#picker-path").value = str(copied_gguf)
        await pilot.click("#picker-path")
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.row_count == 2, what="the import")
        assert "my-model.q4_1" in [e.name for e in ModelStore().list()]
        table.move_cursor(row=[table.get_row_at(i)[1] for i in range(2)].index("my-model.q4_1"))
        await pilot.press("x")
        await pilot.press("n")  # cancelled: still there
        assert table.row_count == 2
        await pilot.press("x")
        await pilot.press("y")
        await wait_for(pilot, lambda: table.row_count == 1, what="the removal")
        assert copied_gguf.exists()  # registered by reference: the file stays
        # a failing action is a notification and the screen goes on
        picker_target = copied_gguf.parent / "not-a-model.gguf"
        picker_target.write_text("nope")
        await pilot.press("i")
        app.screen.query_one("#picker-path").value = str(picker_target)
        await pilot.click("#picker-path")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("not-a-model" in n.message for n in app._notifications))
        assert screen.busy_with is None and table.row_count == 1
