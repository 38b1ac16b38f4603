"""An export in a child process: merging, converting and scoring import torch and transformers and hold the GIL for
minutes, so the app hands `export_run` to a child of its own (`core.model_process`, one per export, closed when
it ends) and keeps only the progress events.

The child emits `{"progress": ExportEvent fields}` as the export goes, `{"alive": true}` every `HEARTBEAT_S` (a
long convert or quantize stage has no events of its own, and the parent gives up on a silent child), then
`{"report": ExportReport.to_dict()}`. A stop from the parent ends the export at its next event, which cleans up
as a cancelled `llmdeck export` does: nothing registered, no work directory left.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict

from llmdeck.core.errors import LlmdeckError
from llmdeck.core.model_process import Emit, InlineHost, ModelProcess
from llmdeck.tuning.export import ExportEvent, ExportReport, QuantReport

HANDLER = "llmdeck.tuning.export_process:serve"
HEARTBEAT_S = 20.0


class ExportStopped(LlmdeckError):
    """The parent asked the export to stop; it cleaned up after itself."""


def serve(request: dict, emit: Emit, stopped: Callable[[], bool]) -> None:
    """The child's handler: one export, its events, then its report."""
    from llmdeck.tuning.export import export_run

    def on_event(event: ExportEvent) -> None:
        if stopped():
            raise ExportStopped(f"export of {request['run_id']} stopped")
        emit({"progress": asdict(event)})

    ended = threading.Event()

    def heartbeat() -> None:
        while not ended.wait(HEARTBEAT_S):
            emit({"alive": True})

    threading.Thread(target=heartbeat, name="export-heartbeat", daemon=True).start()
    try:
        report = export_run(
            request["run_id"],
            quants=request["quants"],
            name=request.get("name"),
            score=request.get("score", True),
            on_event=on_event,
        )
    finally:
        ended.set()
    emit({"report": report.to_dict()})


def report_from_dict(found: dict) -> ExportReport:
    return ExportReport(**{**found, "quants": [QuantReport(**quant) for quant in found.get("quants", [])]})


def export_in_child(
    run_id: str,
    quants: list[str],
    name: str | None,
    score: bool,
    on_event: Callable[[ExportEvent], None],
    cancelled: Callable[[], bool],
) -> ExportReport | None:
    """`export_run` in a child process, `on_event` called here for each of its events; None when `cancelled()`
    turned true (the child ended the export and cleaned up). The child's errors are raised here (BadInput keeps
    its class)."""
    from llmdeck.tuning import export

    # a stand-in export (the tests') exists only in this process: served from a thread of it, same protocol
    stand_in = getattr(export.export_run, "__module__", None) != "llmdeck.tuning.export"
    process = InlineHost(serve) if stand_in else ModelProcess(HANDLER)
    try:
        exchange = process.request({"run_id": run_id, "quants": quants, "name": name, "score": score})
        exchange.stop_check = cancelled
        report: ExportReport | None = None
        try:
            for event in exchange:
                if exchange.stop_requested:
                    continue  # the child's last events before it saw the stop: nothing reaches the caller after it
                if "progress" in event:
                    on_event(ExportEvent(**event["progress"]))
                elif "report" in event:
                    report = report_from_dict(event["report"])
        except LlmdeckError:
            if cancelled():
                return None
            raise
        return None if cancelled() else report
    finally:
        process.close()
