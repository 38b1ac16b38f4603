"""The app's export runs in a child process (`tuning.export_process`): its events and report come back as the
export's own types, a cancel ends it with nothing returned, its errors keep their class. Here on a stand-in
`export_run` (served from a thread, same protocol); the real child is driven by the train screen's slow test."""

from __future__ import annotations

import threading

import pytest

from llmdeck.core.errors import BadInput
from llmdeck.tuning import export
from llmdeck.tuning.export import ExportEvent, ExportReport, QuantReport
from llmdeck.tuning.export_process import export_in_child


def stand_in(monkeypatch, gate: threading.Event | None = None, fail: str | None = None):
    asked = {}

    def export_run(run_id, quants, name, score, on_event):
        asked.update(run_id=run_id, quants=quants, name=name, score=score)
        on_event(ExportEvent("merge", "merging"))
        on_event(ExportEvent("convert", "converting", 1, 2))
        if fail:
            raise BadInput(fail)
        if gate is not None:
            gate.wait(5)
            on_event(ExportEvent("convert", "converting", 2, 2))  # the stop is seen here
        report = ExportReport(run_id=run_id, base_model="base", merged=True, eval_data=None)
        report.quants.append(QuantReport("q8_0", f"{name}.q8_0", 10, 1.5, 4.5, 0.1, registered=True))
        return report

    monkeypatch.setattr(export, "export_run", export_run)
    return asked


def test_events_and_the_report_come_back_typed(monkeypatch):
    asked = stand_in(monkeypatch)
    events: list[ExportEvent] = []
    report = export_in_child("run-1", ["q8_0"], "tuned", False, events.append, lambda: False)
    assert asked == {"run_id": "run-1", "quants": ["q8_0"], "name": "tuned", "score": False}
    assert events == [ExportEvent("merge", "merging"), ExportEvent("convert", "converting", 1, 2)]
    assert isinstance(report, ExportReport) and report.run_id == "run-1"
    assert report.quants == [QuantReport("q8_0", "tuned.q8_0", 10, 1.5, 4.5, 0.1, registered=True)]


def test_a_cancel_ends_the_export_and_returns_nothing(monkeypatch):
    gate = threading.Event()
    stand_in(monkeypatch, gate=gate)
    events: list[ExportEvent] = []

    def cancelled() -> bool:
        if len(events) >= 2:
            gate.set()
            return True
        return False

    assert export_in_child("run-1", ["q8_0"], None, True, events.append, cancelled) is None
    assert len(events) == 2  # nothing after the stop


def test_the_childs_bad_input_keeps_its_class(monkeypatch):
    stand_in(monkeypatch, fail="run-1: not a completed run")
    with pytest.raises(BadInput, match="not a completed run"):
        export_in_child("run-1", ["q8_0"], None, True, lambda event: None, lambda: False)
