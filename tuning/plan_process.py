"""Planning out of the app's process: the new-run form's data check, its plan (memory/time estimate), a launch and
a resume (each imports torch and transformers, inspects the base model and tokenizes the data) run in a plan
process, a child that `core.model_process` starts once and keeps, so the app never imports torch and its GIL stays
free for the UI. The child serves one request at a time:

    {"op": "check", "dataset": "", "format": "auto"}   -> {"text": "...", "ok": true}
    {"op": "plan", "config": {...}}                     -> {"summary": {...}}    (a PlanSummary)
    {"op": "launch", "config": {...}}                   -> {"run_id": "...", "note": "launched ..."}
    {"op": "resume", "run_id": "..."}                   -> {"run_id": "...", "note": "resumed ..."}

A refusal (`BadInput`, a bad row, not enough memory) is raised again in the app with its class. Summaries are
kept per config (and the dataset file's size and time), so a form shown again with the same fields is instant.
While `runs.plan`, `launch`, `resume` or `data.check` is replaced (the tests' stand-ins), the same requests are served
from a thread of this process instead (`InlineHost`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

from llmdeck.core.model_process import Emit, HostSlot, InlineHost, ModelProcess
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.plan_summary import PlanSummary, SummaryLine

HANDLER = "llmdeck.tuning.plan_process:serve"
SHOWN_BAD_ROWS = 5  # the data check lists this many bad rows, then counts the rest


def serve(request: dict, emit: Emit, stopped: Callable[[], bool]) -> None:
    """The child's side of one request (see the module's docstring)."""
    op = request["op"]
    if op == "check":
        text, ok = data_check(request.get("dataset") or "", request.get("format") or "auto")
        emit({"text": text, "ok": ok})
    elif op == "plan":
        from llmdeck.tuning import runs
        from llmdeck.tuning.plan_summary import summarize

        emit({"summary": summary_to_dict(summarize(runs.plan(TrainConfig.model_validate(request["config"]))))})
    elif op == "launch":
        from llmdeck.tuning import runs

        run, found = runs.launch(TrainConfig.model_validate(request["config"]))
        note = f"launched {run.name}: {found.data_report.valid} rows, ~{found.estimate.steps} steps"
        emit({"run_id": run.id, "note": note})
    elif op == "resume":
        from llmdeck.tuning import runs

        run = runs.resume(request["run_id"])
        emit({"run_id": run.id, "note": f"resumed {run.name} from step {run.global_step}"})
    else:
        raise ValueError(f"plan process: unknown op {op!r}")


def data_check(dataset: str, fmt: str) -> tuple[str, bool]:
    """The form's data check as (text, ok): the source, the row counts and the first bad rows, or the refusal."""
    from llmdeck.core.errors import LlmdeckError
    from llmdeck.tuning import data

    try:
        report = data.check(dataset or None, fmt)
    except LlmdeckError as exc:
        return str(exc), False
    lines = [
        f"{report.source}",
        f"format {report.format}: {report.rows} rows, {report.valid} valid, {report.bad_count} bad",
    ]
    lines += [f"  {bad.location}: {bad.problem}" for bad in report.bad_rows[:SHOWN_BAD_ROWS]]
    if report.bad_count > SHOWN_BAD_ROWS:
        lines.append(f"  ... and {report.bad_count - SHOWN_BAD_ROWS} more bad rows")
    if report.bad_count:
        lines.append("bad rows refuse the launch unless skip_bad is on")
    return "\n".join(lines), report.bad_count == 0


def summary_to_dict(summary: PlanSummary) -> dict:
    return {
        "lines": [[line.label, line.text] for line in summary.lines],
        "fits": summary.fits,
        "refusal": summary.refusal,
    }


def summary_from_dict(found: dict) -> PlanSummary:
    lines = tuple(SummaryLine(label, text) for label, text in found["lines"])
    return PlanSummary(lines, bool(found["fits"]), found.get("refusal"))


# -- the app's side ----------------------------------------------------------------------------------------------
_summaries: dict[str, PlanSummary] = {}  # config key -> its summary (refusals are asked again)
_calls_lock = threading.RLock()  # one request at a time: a request's events are read to its end before the next
_slot = HostSlot(HANDLER, serve, "plan-process.log", lambda: not uses_real_planner(), _summaries.clear)


def config_key(config: TrainConfig) -> str:
    """The cache key of a config's plan: its fields, and the size and time of the dataset file it names."""
    dataset = config.dataset or ""
    try:
        stat = Path(dataset).expanduser().resolve().stat() if dataset else None
    except OSError:
        stat = None
    facts = {
        "home": os.environ.get("LLMDECK_HOME", ""),
        "config": config.model_dump(mode="json"),
        "cwd": os.getcwd(),
        "dataset": [stat.st_size, stat.st_mtime_ns] if stat else None,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def cached_summary(config: TrainConfig) -> PlanSummary | None:
    return _summaries.get(config_key(config))


def plan_summary(config: TrainConfig, wanted: Callable[[], bool] = lambda: True) -> PlanSummary | None:
    """The plan's summary (kept per config); None when `wanted()` no longer holds by the time the plan process is
    free. Raises the plan's refusal."""
    key = config_key(config)
    with _calls_lock:  # a plan of the same config that was asked for first is kept by the time this one asks
        if key in _summaries:
            return _summaries[key]
        found = call({"op": "plan", "config": config.model_dump(mode="json")}, wanted)
        if found is None:
            return None
        summary = _summaries[key] = summary_from_dict(found["summary"])
        return summary


def call(request: dict, wanted: Callable[[], bool] = lambda: True) -> dict | None:
    """One request to the plan process, waited for (the calling thread sits in I/O, not in the GIL); None, without
    asking, when `wanted()` no longer holds once the previous request has ended."""
    with _calls_lock:
        if not wanted():
            return None
        result: dict | None = None
        for event in planner_host().request(request):
            result = event
        if result is None:
            raise RuntimeError(f"the plan process answered nothing to {request['op']!r}")
        return result


def uses_real_planner() -> bool:
    """False while the tests replace `runs.plan`, `runs.launch`, `runs.resume` or `data.check` with a stand-in."""
    from llmdeck.tuning import data, runs

    return all(
        getattr(function, "__module__", None) == module and getattr(function, "__qualname__", None) == name
        for function, module, name in (
            (runs.plan, "llmdeck.tuning.runs", "plan"),
            (runs.launch, "llmdeck.tuning.runs", "launch"),
            (runs.resume, "llmdeck.tuning.runs", "resume"),
            (data.check, "llmdeck.tuning.data.prepare", "check"),
        )
    )


def planner_host() -> ModelProcess | InlineHost:
    """The plan process (one per LLMDECK_HOME, started on the first request; its stderr goes to
    LLMDECK_HOME/plan-process.log), or the inline host while a stand-in plans."""
    return _slot.host()


def close_planner() -> None:
    """End the plan process (and the inline host); the next request starts a new one."""
    with _calls_lock:
        _slot.close()
        _summaries.clear()
