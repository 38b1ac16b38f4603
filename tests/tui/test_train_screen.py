"""The train screen with the Pilot: the monitor follows a run's metrics file as it grows (fast, no
training), the new-run form is generated from the config type; a real tiny run is launched from the form,
plotted, stopped and resumed from the screen (slow); a completed run is exported from the screen (progress
per stage, the per-quant table, the quants on the models screen) and opened in the chat with its adapter."""

from __future__ import annotations

import json
import os
import time

import pytest

from llmdeck.tui.app import LlmdeckApp
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.registry import Registry
from tests.tui.helpers import status, text_of, type_and_send, wait_for

SIZE = (150, 48)


def fake_run(name: str = "demo", max_steps: int = 10, config: dict | None = None, running: bool = False):
    """A run row and directory as a worker writes them, without training: what the app attaches to (a
    `running` one names this test's own process, so the registry sees it alive)."""
    registry = Registry()
    run = registry.create(name, "sft", "smollm2-135m-instruct", "sample", config or TrainConfig().model_dump(), "local")
    registry.update(
        run.id,
        status="running" if running else "stopped",
        pid=os.getpid() if running else None,
        max_steps=max_steps,
        started_at=time.time() - 30,
    )
    return run


def append_metrics(run, rows: list[dict]) -> None:
    with (run.path / "metrics.jsonl").open("a") as handle:
        handle.write("".join(json.dumps(row) + "\n" for row in rows))


def loss_points(screen) -> int:
    plot = screen.query_one("#loss-plot")
    return sum(len(d.x) for d in plot._datasets[:1])


@pytest.mark.slow  # end to end through the app or the training stack: seconds
async def test_the_monitor_follows_metrics_as_they_are_written(fake_model):
    run = fake_run(max_steps=10, running=True)
    rows = [
        {
            "step": s,
            "loss": 2.0 - 0.1 * s,
            "learning_rate": 1e-4,
            "grad_norm": 1.0 + s / 10,
            "tokens_per_s": 150.0,
            "peak_rss_bytes": 2**30,
            "eta_s": 60.0,
            "max_steps": 10,
        }
        for s in range(1, 4)
    ]
    append_metrics(run, rows)
    (run.path / "train.log").write_text("llmdeck worker: run started\nstep 3\n")
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        screen = app.screen
        await wait_for(pilot, lambda: screen.followed == run.id and loss_points(screen) == 3)
        stats = text_of(screen.query_one("#monitor-stats"))
        assert "[running]" in stats and "step 0/10" in stats and "ETA 1m00s" in stats and "tok/s 150.0" in stats
        assert "peak RSS 1.0 GB" in stats and "loss 1.7000" in stats
        assert screen.query_one("#grad-norm").data == [1.1, 1.2, 1.3]
        assert "step 3" in "\n".join(screen.query_one("#monitor-log").lines)
        assert "resolved config" in text_of(screen.query_one("#monitor-config-text"))
        # a new row, then a NaN: shown as they are written, with an alert
        append_metrics(run, [{"step": 4, "loss": 1.6}])
        await wait_for(pilot, lambda: loss_points(screen) == 4)
        with (run.path / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps({"step": 5, "loss": float("nan")}) + "\n" + '{"step": 6, "lo')  # torn line
        await wait_for(pilot, lambda: "loss is nan" in text_of(screen.query_one("#monitor-alerts")))
        assert len(screen.query_one("#monitor").metrics_rows) == 5


@pytest.mark.slow  # opening the form lays out ~40 fields: seconds on a loaded 2-core machine
async def test_the_form_has_every_config_field_with_help_and_inline_problems(fake_model, monkeypatch):
    from llmdeck.core.errors import BadInput
    from llmdeck.tuning import runs

    def refuse(config):  # the real estimate loads torch and the model's config (slow tier)
        raise BadInput(f"estimated peak memory exceeds the memory available (batch_size {config.batch_size})")

    monkeypatch.setattr(runs, "plan", refuse)
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        screen = app.screen
        await pilot.press("ctrl+n")
        for name, field in TrainConfig.model_fields.items():
            assert screen.query_one(f"#in-{name}") is not None
            assert text_of(screen.query_one(f"#help-{name}")) == field.description
        await wait_for(pilot, lambda: "34 rows" in text_of(screen.query_one("#data-preview")))
        await wait_for(pilot, lambda: "refused" in text_of(screen.query_one("#estimate")))
        assert "batch_size 4" in text_of(screen.query_one("#estimate"))
        await pilot.press("ctrl+l")  # the launch meets the same refusal and says so where the estimate is
        await wait_for(pilot, lambda: "launch refused" in text_of(screen.query_one("#estimate")))
        assert not screen.query_one("#launch").disabled
        screen.query_one("#in-lora_r").value = "eight"
        screen.query_one("#in-method").value = "dpo"
        screen.query_one("#in-dataset_format").value = "alpaca"
        await wait_for(pilot, lambda: "integer" in text_of(screen.query_one("#help-lora_r")))
        assert "preference" in text_of(screen.query_one("#help-dataset_format"))
        assert "fix 2 field(s)" in text_of(screen.query_one("#estimate"))
        screen.query_one("#in-lora_r").value = "8"
        screen.query_one("#in-method").value = "sft"
        screen.query_one("#in-dataset_format").value = "auto"
        screen.query_one("#in-max_steps").value = "20"
        form = screen.query_one("#form-body")
        await wait_for(pilot, lambda: form.config is not None and form.config.max_steps == 20)
        await pilot.press("ctrl+y")
        shown = text_of(screen.query_one("#form-command"))
        assert shown.startswith("llmdeck train --lora-r 8 --max-steps 20") and "max_steps: 20" in shown
        skip_bad, grouped = screen.query_one("#in-skip_bad"), screen.query_one("#in-group_by_length")
        assert (str(skip_bad.label), str(grouped.label)) == ("off", "on")  # a checkbox says its state
        skip_bad.value = True
        await wait_for(pilot, lambda: str(skip_bad.label) == "on")


@pytest.mark.slow  # opening the form lays out ~40 fields: seconds on a loaded 2-core machine
async def test_clone_fills_the_form_and_compare_overlays_two_runs(fake_model, monkeypatch):
    from llmdeck.core.errors import BadInput
    from llmdeck.tuning import runs

    monkeypatch.setattr(runs, "plan", lambda config: (_ for _ in ()).throw(BadInput("no estimate in this test")))
    first = fake_run("first", config=TrainConfig(learning_rate=1e-3).model_dump())
    second = fake_run("second", config=TrainConfig(learning_rate=5e-4, lora_r=8).model_dump())
    append_metrics(first, [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}])
    append_metrics(second, [{"step": 1, "loss": 2.1}])
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        screen = app.screen
        table = screen.query_one("#runs-table")
        await wait_for(pilot, lambda: table.row_count == 2)
        table.focus()
        order = [table.get_row_at(i)[0] for i in range(2)]
        table.move_cursor(row=order.index(first.id))
        await pilot.press("space")
        table.move_cursor(row=order.index(second.id))
        await pilot.press("m")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "CompareRunsScreen")
        diff = app.screen.query_one("#compare-diff")
        await wait_for(pilot, lambda: diff.row_count > 2)  # every field of `runs diff`, the differing ones marked
        marked = [str(diff.get_row_at(i)[2]) for i in range(diff.row_count) if diff.get_row_at(i)[0] == "*"]
        assert marked == ["lora_r", "learning_rate"]
        await pilot.press("d")  # only the differences
        await wait_for(pilot, lambda: diff.row_count == 2)
        assert [str(diff.get_row_at(i)[2]) for i in range(2)] == ["lora_r", "learning_rate"]
        assert len(app.screen.query_one("#compare-plot")._datasets) == 4  # raw + smoothed per run
        await pilot.press("escape")
        await pilot.press("c")  # clone the highlighted (second) run into the form
        await wait_for(pilot, lambda: screen.query_one("#in-lora_r").value == "8")
        assert screen.query_one("#in-learning_rate").value == "0.0005" and screen.query_one("#in-name").value == ""


@pytest.mark.slow
async def test_a_tiny_run_launched_from_the_form_is_plotted_outlives_the_app_stopped_and_resumed(tiny_model_dir):
    from llmdeck.tuning import runs

    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        screen = app.screen
        await pilot.press("ctrl+n")
        values = {
            "base_model": str(tiny_model_dir),
            "max_steps": "400",
            "batch_size": "1",
            "max_length": "128",
            "learning_rate": "0.005",
            "warmup_ratio": "0",
            "lr_scheduler": "constant",
            "save_steps": "1000",
            "lora_r": "8",
            "lora_alpha": "16",
            "name": "from-the-app",
        }
        for name, value in values.items():
            screen.query_one(f"#in-{name}").value = value
        form = screen.query_one("#form-body")
        await wait_for(pilot, lambda: form.config is not None and form.config.max_steps == 400)
        await pilot.press("ctrl+l")
        await wait_for(
            pilot,
            lambda: screen.followed and runs.get(screen.followed).name == "from-the-app",
            timeout_s=120,
            what=lambda: f"the launch ({text_of(screen.query_one('#estimate'))})",
        )
        run_id = screen.followed
        await wait_for(pilot, lambda: loss_points(screen) >= 3, timeout_s=240, what="points on the loss plot")
        assert "[running]" in text_of(screen.query_one("#monitor-stats"))
    # closing the app does not stop the run; a new app re-attaches to it
    assert runs.get(run_id).status == "running"
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        screen = app.screen
        await wait_for(
            pilot,
            lambda: screen.followed == run_id and loss_points(screen) >= 3,
            timeout_s=30,
            what="the monitor re-attaching",
        )
        screen.query_one("#runs-table").focus()
        await pilot.press("s")
        await wait_for(pilot, lambda: runs.get(run_id).status == "stopped", timeout_s=180, what="the stop")
        stopped_at = runs.get(run_id).global_step
        assert 3 <= stopped_at < 400 and runs.get(run_id).checkpoints()
        await wait_for(pilot, lambda: "[stopped]" in text_of(screen.query_one("#monitor-stats")), timeout_s=5)
        await pilot.press("u")
        monitor = screen.query_one("#monitor")
        await wait_for(
            pilot,
            lambda: any(r["step"] > stopped_at for r in monitor.metrics_rows),
            timeout_s=240,
            what="steps after the resume",
        )
        steps = [r["step"] for r in monitor.metrics_rows if "loss" in r]
        assert steps[: stopped_at + 1] == list(range(1, stopped_at + 2))  # continued, not restarted
        await pilot.press("s")
        await wait_for(pilot, lambda: runs.get(run_id).status == "stopped", timeout_s=180, what="the second stop")


def finished_run(config) -> str:
    from llmdeck.tuning import runs

    run, _ = runs.launch(config)
    done = runs.wait_for(run.id, timeout_s=600)
    assert done.status == "completed", f"{done.error}\n{runs.log_path(run.id).read_text()[-2000:]}"
    return run.id


async def pick_quants(pilot, *quants: str) -> None:
    types = pilot.app.screen.query_one("#quant-types")
    values = [types.get_option_at_index(i).value for i in range(types.option_count)]
    types.deselect_all()
    for quant in quants:
        types.highlighted = values.index(quant)
        await pilot.press("space")


@pytest.mark.slow  # a real tiny LoRA run, merged, converted, quantized and scored
async def test_export_a_completed_run_from_the_screen_into_the_store(tiny_model_dir):
    import psutil

    from llmdeck.core.store import ModelStore
    from llmdeck.tuning import runs
    from tests.tuning.test_runs import tiny_config

    run_id = finished_run(tiny_config(tiny_model_dir, max_steps=3, name="tiny-export"))
    running = fake_run("still-going", running=True)
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        screen = app.screen
        table = screen.query_one("#runs-table")
        await wait_for(pilot, lambda: table.row_count == 2 and len(table.runs_by_id) == 2)
        order = [table.get_row_at(i)[0] for i in range(2)]
        table.focus()
        table.move_cursor(row=order.index(running.id))
        await pilot.press("e")  # only a completed run exports
        await wait_for(pilot, lambda: any("still-going is running" in n.message for n in app._notifications))
        assert app.screen is screen
        table.move_cursor(row=order.index(run_id))
        await pilot.press("e")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "QuantPickerScreen")
        await pick_quants(pilot, "f16", "q8_0")
        await pilot.press("ctrl+s")
        seen_stages, seen_counts = set(), set()
        deadline = time.monotonic() + 600
        panel = screen.query_one("#export-panel")
        while panel.exporting or not panel.stages:
            seen_stages.update(stage for stage, _, _ in panel.stages)
            seen_counts.add(text_of(screen.query_one("#export-stages")).splitlines()[-1])
            assert time.monotonic() < deadline, "the export did not end"
            await pilot.pause(0.05)
        stages = text_of(screen.query_one("#export-stages")).splitlines()
        names = [line.split(":")[0].split("  ", 1)[1].split(" (")[0] for line in stages]
        assert names == [
            "merge",
            "convert",
            "eval",
            "quantize f16",
            "eval f16",
            "quantize q8_0",
            "eval q8_0",
            "register",
            "template check",
        ]
        assert all(line.startswith("done  ") for line in stages)  # each stage finished, with its time
        assert any(line.endswith("/20 tensors") for line in seen_counts | set(stages)), seen_counts  # counts shown live
        report = screen.query_one("#export-report")
        rows = [report.get_row_at(i) for i in range(report.row_count)]
        assert [row[0] for row in rows] == ["f16 (reference)", "f16", "q8_0"]
        assert [row[1] for row in rows] == ["-", "tiny-export.f16", "tiny-export.q8_0"]
        assert rows[1][6] == rows[2][6] == "registered" and rows[2][3] != "-"  # scored: a loss per quant
        exported = text_of(screen.query_one("#export-title"))
        assert exported.startswith(f"Exported {run_id}: tiny-export.f16, tiny-export.q8_0")
        q8 = ModelStore().get("tiny-export.q8_0")
        assert (q8.run_id, q8.file_type) == (run_id, "Q8_0")
        # ctrl+x during the convert stage: the converter's child process ends, nothing is registered or left
        children = {p.pid for p in psutil.Process().children(recursive=True)}
        await pilot.press("e")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "QuantPickerScreen")
        app.screen.query_one("#quant-name").value = "cancelled"
        await pick_quants(pilot, "q8_0")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any(stage == "convert" for stage, _, _ in panel.stages), timeout_s=120)
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: panel.exporting is None, timeout_s=60, what="the cancellation")
        assert "cancelled: nothing was registered" in text_of(screen.query_one("#export-title"))
        assert not [e for e in ModelStore().list() if e.name.startswith("cancelled")]
        assert {p.pid for p in psutil.Process().children(recursive=True)} - children == set()
        assert not list(runs.get(run_id).path.glob(".export-*"))  # the work directory is gone
        assert not [p for p in ModelStore().model_path("x").parent.iterdir() if p.name.startswith(".")]
        # the models screen shows them, with the run as their lineage
        await pilot.press("f2")
        models = app.screen.query_one("#models-table")
        await wait_for(pilot, lambda: models.row_count == 3)
        lineage = {models.get_row_at(i)[1]: models.get_row_at(i)[7] for i in range(3)}
        assert lineage["tiny-export.q8_0"] == "run tiny-export, q8_0"
        # a run trained on an HF directory has no store GGUF base to apply its adapter to: said, not crashed
        await pilot.press("f3")
        await pilot.press("t")
        await wait_for(pilot, lambda: any("not a store GGUF" in n.message for n in app._notifications), timeout_s=120)
        assert app.screen.adapter is None


@pytest.mark.slow  # a 2-step SmolLM2 LoRA run, its adapter converted to GGUF and applied by llama.cpp
async def test_chat_with_a_smollm2_run_from_the_train_screen():
    from llmdeck.core import sessions
    from llmdeck.core.settings import update_settings
    from tests.tuning.test_runs import tiny_config

    run_id = finished_run(
        tiny_config(
            "smollm2-135m-instruct",
            max_steps=2,
            batch_size=1,
            max_length=32,
            gradient_checkpointing=False,
            name="smol-run",
        )
    )
    update_settings(max_tokens=16, temperature=0.0)
    app = LlmdeckApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        screen = app.screen
        await wait_for(pilot, lambda: run_id in screen.query_one("#runs-table").runs_by_id)
        screen.query_one("#runs-table").focus()
        await pilot.press("t")
        await wait_for(
            pilot,
            lambda: app.current_mode == "chat" and app.screen.adapter == run_id,
            timeout_s=300,
            what="the adapter converted and applied",
        )
        chat = app.screen
        assert status(app) == "model: smollm2-135m-instruct + adapter of run smol-run"
        await type_and_send(pilot, "Who made you?")
        await wait_for(pilot, lambda: not chat.busy and "tok/s" in status(app), timeout_s=180, what="the answer")
        assert status(app).startswith("model: smollm2-135m-instruct + adapter of run smol-run - ")
        answer = chat.query("ChatBubble.assistant").last()
        assert answer.text.strip() and answer.label == "smollm2-135m-instruct + adapter of run smol-run"
        assert sessions.get_session(chat.session_id).options["adapter"] == run_id


FORM_PROBE = """
import asyncio, json, sys
from llmdeck.tui.app import LlmdeckApp

async def main():
    app = LlmdeckApp()
    async with app.run_test(size=(150, 48)) as pilot:
        await pilot.press("f3")
        screen = app.screen
        screen.fill_form({"base_model": sys.argv[1], "max_steps": 2})  # what c (clone) does
        estimate = lambda: str(screen.query_one("#estimate").render())
        while "peak" not in estimate() and "refused" not in estimate():
            await pilot.pause(0.1)
        print(json.dumps({"estimate": estimate(), "modules": sorted(sys.modules)}))

asyncio.run(main())
"""


@pytest.mark.slow  # the real plan (torch, the tiny model) in the plan process: seconds
def test_the_forms_estimate_comes_from_the_plan_process_and_the_app_never_imports_torch(tiny_model_dir, tmp_path):
    """The app (a real headless run of it) shows the form's estimate, planned in the plan process; torch,
    transformers, trl and peft stay out of the app's own process."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", FORM_PROBE, str(tiny_model_dir)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert "peak" in found["estimate"] and "~2 steps" in found["estimate"], found["estimate"]
    assert "llmdeck.tuning.plan_process" in found["modules"]
    assert not {"torch", "transformers", "trl", "peft"} & set(found["modules"])
