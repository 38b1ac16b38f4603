"""The rag eval screen: reached with ctrl+r from the ingest dialog, scores in a worker, shows every mode and the
misses; a bad QA file is one notice. The scoring itself is tests/services/test_rag_eval.py's (a fake retriever)."""

from __future__ import annotations

import json

from textual.app import App

from llmdeck.services import rag_eval
from llmdeck.tui.screens.ingest import IngestScreen
from llmdeck.tui.screens.rag_eval import RagEvalScreen
from tests.tui.helpers import FakeRetriever, text_of, wait_for


class Host(App):
    def on_mount(self) -> None:
        self.push_screen(IngestScreen("docs"))


async def test_ctrl_r_opens_the_evaluation_which_scores_in_a_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(rag_eval, "open_retriever", lambda collection, progress=True: FakeRetriever())
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps({"question": "apples?", "sources": ["a.md"]})
        + "\n"
        + json.dumps({"question": "pears?", "sources": ["a.md"], "id": "pears"})
        + "\n"
    )
    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, IngestScreen))
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, RagEvalScreen))
        screen = app.screen
        assert screen.query_one("#rag-eval-collection").value == "docs"
        screen.query_one("#rag-eval-qa").value = str(qa)
        await pilot.click("#rag-eval-start")
        await wait_for(pilot, lambda: screen.report is not None, what="the evaluation")
        table = screen.query_one("#rag-eval-table")
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert [row[0] for row in rows] == ["dense", "bm25", "hybrid"]
        assert rows[0][1].startswith("0.500 [") and rows[2][2].startswith("1.000 [")
        misses = text_of(screen.query_one("#rag-eval-misses"))
        assert "dense: 1 not in the top 5" in misses and "pears" in misses
        assert "2 questions" in text_of(screen.query_one("#rag-eval-status"))

        screen.query_one("#rag-eval-qa").value = str(tmp_path / "missing.jsonl")
        await pilot.pause(0.1)  # the table and misses moved the button: a click before that layout missed it
        await pilot.click("#rag-eval-start")
        await wait_for(pilot, lambda: any("no such file" in n.message for n in app._notifications))
        notice = next(n for n in app._notifications if "no such file" in n.message)
        assert notice.title == "rag eval failed" and notice.severity == "error"
        assert text_of(screen.query_one("#rag-eval-status")).startswith("failed: ")
        assert not screen.query_one("#rag-eval-start").disabled  # it can be run again
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, IngestScreen))
