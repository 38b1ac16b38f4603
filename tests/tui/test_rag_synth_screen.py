"""The rag synth screen on the scripted model: ctrl+g from the rag eval screen, the synth in a worker with every chunk
tried in the table, then "Evaluate with it" scores the written file on the rag eval screen; Esc stops a synth and
nothing is written."""

from __future__ import annotations

from textual.app import App
from textual.widgets import DataTable

from llmdeck.services import rag_eval, rag_synth
from llmdeck.tui.screens.rag_eval import RagEvalScreen
from llmdeck.tui.screens.rag_synth import RagSynthScreen
from tests.services.test_rag_synth import FakeRetriever
from tests.tui.helpers import text_of, wait_for


class Host(App):
    def on_mount(self) -> None:
        self.push_screen(RagEvalScreen("docs"))


def scripted(monkeypatch) -> FakeRetriever:
    fake = FakeRetriever()
    monkeypatch.setattr(rag_synth, "open_retriever", lambda collection, progress=True: fake)
    monkeypatch.setattr(rag_eval, "open_retriever", lambda collection, progress=True: fake)
    monkeypatch.setattr(rag_synth.Synthesis, "chunk_order", lambda self: ["c-tides", "c-bread", "c-lava"])
    return fake


async def open_synth(pilot) -> RagSynthScreen:
    """ctrl+g on the rag eval screen that Host shows: the synth screen it opens."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RagEvalScreen))
    await pilot.press("ctrl+g")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RagSynthScreen))
    return pilot.app.screen


async def test_ctrl_g_generates_a_qa_file_then_evaluates_with_it(fake_model, monkeypatch, tmp_path):
    scripted(monkeypatch)
    fake_model.enqueue(
        "Question: Why is the sea higher at some hours?\nAnswer: The Moon.",
        "no idea",
        "Q: What comes out of a mountain that blows up?\nA: Ash.",
    )
    out = tmp_path / "synth.jsonl"
    app = Host()
    async with app.run_test(size=(120, 44)) as pilot:
        synth = await open_synth(pilot)
        assert synth.query_one("#rag-synth-collection").value == "docs"
        synth.query_one("#rag-synth-out").value = str(out)
        synth.query_one("#rag-synth-limit").value = "2"
        await pilot.click("#rag-synth-start")
        await wait_for(pilot, lambda: synth.written is not None, what="the synth")
        table = synth.query_one("#rag-synth-table", DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows == [
            ["kept", "Why is the sea higher at some hours?", ""],
            ["-", "(none)", "no question"],
            ["kept", "What comes out of a mountain that blows up?", ""],
        ]
        assert text_of(synth.query_one("#rag-synth-status")) == (f"2 kept of 3 tried (1 no question); wrote {out}")
        assert len(out.read_text().splitlines()) == 2

        await pilot.click("#rag-synth-evaluate")
        await wait_for(pilot, lambda: isinstance(app.screen, RagEvalScreen))
        evaluation = app.screen
        assert evaluation.query_one("#rag-eval-qa").value == str(out)
        await wait_for(pilot, lambda: evaluation.report is not None, what="the evaluation of the written file")
        assert [q.question for q in evaluation.report.questions] == [
            "Why is the sea higher at some hours?",
            "What comes out of a mountain that blows up?",
        ]
        assert evaluation.report.results[0].recall_1.value == 1.0


async def test_esc_stops_the_synth_and_nothing_is_written(fake_model, monkeypatch, tmp_path):
    scripted(monkeypatch)
    fake_model.delay_s = 0.05
    fake_model.default_reply = "Question: Why is the sea higher at some hours?\nAnswer: The Moon."
    out = tmp_path / "synth.jsonl"
    app = Host()
    async with app.run_test(size=(120, 44)) as pilot:
        synth = await open_synth(pilot)
        synth.query_one("#rag-synth-out").value = str(out)
        await pilot.click("#rag-synth-start")
        await wait_for(pilot, lambda: synth.synthesis is not None, what="the synth to start")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RagEvalScreen))
        await app.workers.wait_for_complete()
        assert synth.synthesis._stop and not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "llmdeck-home"]


async def test_a_failed_synth_is_a_notification_and_can_be_started_again(fake_model):
    app = Host()
    async with app.run_test(size=(120, 44)) as pilot:
        synth = await open_synth(pilot)
        synth.query_one("#rag-synth-collection").value = "nope"
        await pilot.click("#rag-synth-start")
        await wait_for(pilot, lambda: any(n.title == "rag synth failed" for n in app._notifications), what="failure")
        notice = next(n for n in app._notifications if n.title == "rag synth failed")
        assert "collection 'nope' not found" in notice.message and notice.severity == "error"
        assert text_of(synth.query_one("#rag-synth-status")) == f"failed: {notice.message}"
        assert not synth.query_one("#rag-synth-start").disabled
