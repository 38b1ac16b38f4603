"""The export panel with the Pilot on a bare host (fast: no export runs): the stages as they pass, and the
template check's verdict as the last stage line, its warning folded into that one line."""

from __future__ import annotations

from textual.app import App, ComposeResult

from llmdeck.tui.widgets.export_panel import ExportPanel
from llmdeck.tuning.export import ExportReport, QuantReport
from tests.tui.helpers import text_of

MISMATCH = "template check: MISMATCH: gguf and modelfile differ at token 2"


class Host(App):
    def compose(self) -> ComposeResult:
        yield ExportPanel(id="panel")


def report(check: dict | None) -> ExportReport:
    quant = QuantReport("q8_0", "r.q8_0", 10, None, None, None, registered=True, path="/m/r.q8_0.gguf")
    return ExportReport("r", "smollm2-135m-instruct", True, None, quants=[quant], template_check=check)


async def test_the_template_check_verdict_is_the_last_stage_line():
    async with Host().run_test(size=(120, 30)) as pilot:
        panel = pilot.app.query_one(ExportPanel)
        panel.start("r", "r", ["q8_0"])
        for stage in ("merge", "convert", "quantize q8_0", "register", "template check"):
            panel.progress(stage, f"{stage}...", None, None)
        panel.progress("template check", f"warning: {MISMATCH}", None, None)  # the export's warning event
        assert panel.ended("r", report({"consistent": False, "summary": MISMATCH})) == ["r.q8_0"]
        await pilot.pause()
        lines = text_of(panel.query_one("#export-stages")).splitlines()
        assert [line.split(":")[0] for line in lines] == [
            "done  merge",
            "done  convert",
            "done  quantize q8_0",
            "done  register",
            "done  template check",
        ]
        assert lines[-1] == "done  template check: WARNING: MISMATCH: gguf and modelfile differ at token 2"

        panel.start("r", "r", ["q8_0"])
        panel.progress("template check", "rendering...", None, None)
        panel.ended("r", report({"consistent": True, "summary": "template check: training, gguf, modelfile agree"}))
        await pilot.pause()
        assert text_of(panel.query_one("#export-stages")) == ("done  template check: training, gguf, modelfile agree")
