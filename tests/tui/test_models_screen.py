"""The models screen with the Pilot: the store table, details (metadata, chat template, lineage), default,
the Ollama Modelfile, import through the file picker, delete with a confirmation; quantize with progress,
and a requantize only after a yes (slow: llama.cpp quantizes in a child process)."""

from __future__ import annotations

import shutil

import pytest

from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME
from llmdeck.core.settings import load_settings, update_settings
from llmdeck.core.store import Lineage, ModelStore
from llmdeck.tui.app import LlmdeckApp
from llmdeck.tuning.registry import Registry
from tests.tui.helpers import text_of, wait_for

SIZE = (140, 36)


@pytest.mark.slow  # end to end through the app or the training stack: seconds
async def test_table_details_lineage_and_default(fake_model, tmp_path, embedded_gguf):
    run = Registry().create("tune-1", "sft", EMBEDDED_CHAT_MODEL_NAME, "sample", {}, "local")
    Registry().update(run.id, status="completed", last_metrics={"loss": 0.8125})
    shutil.copyfile(embedded_gguf, tmp_path / "tuned.gguf")
    ModelStore().register(tmp_path / "tuned.gguf", name="tuned", base_model=EMBEDDED_CHAT_MODEL_NAME, run_id=run.id)
    shutil.copyfile(embedded_gguf, tmp_path / "exported.gguf")  # as `llmdeck export` registers a quant of a run
    ModelStore().register(
        tmp_path / "exported.gguf",
        name="tuned.q4_1",
        lineage=Lineage(
            base_model=EMBEDDED_CHAT_MODEL_NAME,
            run_id=run.id,
            quant_source=str(run.path / "adapter"),
            quant_type="q4_1",
        ),
    )
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        screen = app.screen
        table = screen.query_one("#models-table")
        await wait_for(pilot, lambda: table.row_count == 3)
        rows = {table.get_row_at(i)[1]: table.get_row_at(i) for i in range(3)}
        assert rows["tuned"][7] == "run tune-1" and rows["tuned"][8] == "0.8125"
        assert rows["tuned.q4_1"][7] == "run tune-1, q4_1"  # the run, not the adapter's path
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
        # the Ollama Modelfile of the highlighted model: FROM its file, TEMPLATE from its chat template
        await pilot.press("m")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ModelfileScreen", what="the Modelfile")
        shown = text_of(app.screen.query_one("#modelfile-text"))
        assert f"FROM {ModelStore().get('tuned').path}" in shown.splitlines()
        assert "<|im_start|>{{ .Role }}" in shown and 'PARAMETER stop "<|im_end|>"' in shown
        await pilot.press("escape")
        assert screen.busy_with is None and app.screen is screen


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


@pytest.mark.slow  # llama.cpp quantizes in a child process (seconds each)
async def test_quantize_with_progress_and_a_requantize_only_after_a_yes(fake_model, tmp_path):
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        screen = app.screen
        table = screen.query_one("#models-table")
        await wait_for(pilot, lambda: table.row_count == 1)

        async def quantize(quant: str, name: str = "") -> None:
            await pilot.press("q")
            await wait_for(pilot, lambda: app.screen.__class__.__name__ == "QuantPickerScreen")
            types = app.screen.query_one("#quant-types")
            assert list(types.selected) == ["q4_k_m"]
            types.highlighted = [types.get_option_at_index(i).value for i in range(types.option_count)].index(quant)
            await pilot.press("space")
            assert list(types.selected) == [quant]  # one at a time: picking another drops the first
            app.screen.query_one("#quant-name").value = name
            await pilot.press("ctrl+s")

        # the embedded model is already quantized (Q4_1): no means nothing happens
        await quantize("f16")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("n")
        await pilot.pause(0.3)
        assert screen.busy_with is None and [e.name for e in ModelStore().list()] == [EMBEDDED_CHAT_MODEL_NAME]
        # yes: requantized to f16, with the tensors counted on the progress line
        await quantize("f16")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("y")
        progress = set()
        while table.row_count < 2:
            progress.add(text_of(screen.query_one("#models-progress-label")))
            await pilot.pause(0.02)
        assert any(
            line.startswith(f"Requantizing {EMBEDDED_CHAT_MODEL_NAME} to f16: ") and line.endswith("/272 tensors")
            for line in progress
        ), progress
        f16 = ModelStore().get(f"{EMBEDDED_CHAT_MODEL_NAME}.f16")
        assert f16.file_type == "F16" and f16.quant_source == EMBEDDED_CHAT_MODEL_NAME
        # an f16 model quantizes without a question, under the name given
        names = [table.get_row_at(i)[1] for i in range(table.row_count)]
        table.move_cursor(row=names.index(f16.name))
        await wait_for(pilot, lambda: screen.selected == f16.name)
        await quantize("q4_0", "small")
        await wait_for(pilot, lambda: table.row_count == 3, timeout_s=60, what="the quantization")
        small = ModelStore().get("small")
        assert (small.file_type, small.quant_source) == ("Q4_0", f16.name)
        rows = {table.get_row_at(i)[1]: table.get_row_at(i) for i in range(3)}
        assert rows["small"][4] == "Q4_0" and rows["small"][7] == f"quant of {f16.name}"
        assert any("quantized" in n.message and "small" in n.message for n in app._notifications)
        # the Modelfile saved to a file
        table.move_cursor(row=list(rows).index("small"))
        await wait_for(pilot, lambda: screen.selected == "small")
        await pilot.press("m")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ModelfileScreen")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "TextPromptScreen")
        target = tmp_path / "Modelfile"
        app.screen.query_one("#text-prompt-input").value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, lambda: target.exists(), what="the saved Modelfile")
        assert f"FROM {small.path}" in target.read_text().splitlines()


@pytest.mark.slow  # end to end through the app or the training stack: seconds
async def test_export_a_run_from_the_models_screen_opens_the_train_screens_export(fake_model):
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: app.screen.query_one("#models-table").row_count >= 1, what="the models table")
        app.screen.query_one("#models-table").focus()
        await pilot.press("e")  # no completed run yet: said, nothing opens
        await wait_for(
            pilot,
            lambda: any("no completed training run" in str(n.message) for n in app._notifications),
            what="the notification",
        )
        assert type(app.screen).__name__ == "ModelsScreen"
        Registry().create("running-one", "sft", EMBEDDED_CHAT_MODEL_NAME, "sample", {}, "local")
        done = Registry().create("tune-2", "sft", EMBEDDED_CHAT_MODEL_NAME, "sample", {}, "local")
        Registry().update(done.id, status="completed")
        await pilot.press("e")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ChoiceScreen", what="the run picker")
        options = app.screen.query_one("#choices")
        assert options.option_count == 1 and "tune-2" in str(options.get_option_at_index(0).prompt)
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "QuantPickerScreen", what="the quant picker")
        assert app.current_mode == "train" and "tune-2" in text_of(app.screen.query_one(".dialog-title"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TrainScreen", what="the train screen")
        assert app.screen.query_one("#export-panel").exporting is None
