"""`llmdeck runs`: the run registry (list, show, logs, metrics, stop, resume, rm)."""

from __future__ import annotations

import sys
import time

import click

from llmdeck.cli.output import emit_json, emit_result, info, progress_printer, table
from llmdeck.core.errors import LlmdeckError
from llmdeck.core.units import duration


@click.group("runs")
def command() -> None:
    """Training runs: list, inspect, follow, stop, resume, remove.

    Example: llmdeck runs list
    """


def _age(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp)) if timestamp else "-"


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def list_runs(as_json: bool) -> None:
    """All runs, newest first.

    Example: llmdeck runs list --json
    """
    from llmdeck.tuning import runs

    found = runs.list_runs()
    if as_json:
        emit_json([run.to_dict() for run in found])
        return
    rows = [
        {
            "id": r.id,
            "name": r.name,
            "method": r.method,
            "status": r.status,
            "phase": r.phase,
            "step": f"{r.global_step}/{r.max_steps or '?'}",
            "loss": f"{r.last_metrics['loss']:.4f}" if r.last_metrics and "loss" in r.last_metrics else None,
            "elapsed": duration(r.last_metrics["elapsed_s"])
            if r.last_metrics and "elapsed_s" in r.last_metrics
            else None,
            "created": _age(r.created_at),
        }
        for r in found
    ]
    click.echo(table(rows, ["id", "name", "method", "status", "phase", "step", "loss", "elapsed", "created"]))


@command.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def show(run_id: str, as_json: bool) -> None:
    """One run: config, status, pid, metrics, checkpoints, adapter, error.

    Example: llmdeck runs show sft-smollm2 --json
    """
    from llmdeck.tuning import runs

    data = runs.get(run_id).to_dict()
    if as_json:
        emit_json(data)
        return
    for key in (
        "id",
        "name",
        "method",
        "status",
        "phase",
        "base_model",
        "base_sha256",
        "precision",
        "dataset",
        "pid",
        "launcher",
        "run_dir",
        "global_step",
        "max_steps",
        "adapter",
        "error",
    ):
        click.echo(f"{key:13} {data[key] if data[key] is not None else '-'}")
    for key in ("created_at", "started_at", "finished_at"):
        click.echo(f"{key:13} {_age(data[key])}")
    click.echo(f"{'checkpoints':13} {', '.join(p.rsplit('/', 1)[-1] for p in data['checkpoints']) or '-'}")
    if data["last_metrics"]:
        click.echo(
            f"{'last_metrics':13} " + "  ".join(f"{k}={v}" for k, v in data["last_metrics"].items() if k != "time")
        )


@command.command("diff")
@click.argument("first")
@click.argument("second")
@click.option("--only-differences", is_flag=True, help="List only the fields whose values differ.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def diff(first: str, second: str, only_differences: bool, as_json: bool) -> None:
    """Two runs side by side: run, config, data (file hashes, rows), metrics and evals; * marks a difference.

    Example: llmdeck runs diff sft-lr-1e-4 sft-lr-3e-4 --only-differences
    """
    from llmdeck.services.run_diff import diff_runs, shown

    result = diff_runs(first, second)
    rows = result.differing() if only_differences else result.rows
    if as_json:
        emit_json({**result.to_dict(), "rows": [row.to_dict() for row in rows]})
        return
    a, b = f"A: {result.first.name}", f"B: {result.second.name}"
    cells = [
        {
            "": "*" if row.differs else "",
            "section": row.section,
            "field": row.field,
            a: shown(row.first, 40),
            b: shown(row.second, 40),
        }
        for row in rows
    ]
    click.echo(table(cells, ["", "section", "field", a, b]))
    info(f"{len(result.differing())} of {len(result.rows)} fields differ ({result.first.id} vs {result.second.id})")


@command.command("logs")
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the run ends.")
def logs(run_id: str, follow: bool) -> None:
    """The worker's log (trainer output, warnings, tracebacks).

    Example: llmdeck runs logs sft-smollm2 --follow
    """
    from llmdeck.tuning import runs

    if follow:
        for line in runs.follow_log(run_id):
            click.echo(line)
        return
    path = runs.log_path(run_id)
    if path.exists():
        sys.stdout.write(path.read_text(encoding="utf-8", errors="replace"))


@command.command("metrics")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout, one per logged step.")
def metrics(run_id: str, as_json: bool) -> None:
    """Per-step metrics: loss, eval loss, learning rate, grad norm, tokens/s, tokens seen, elapsed, ETA.

    Example: llmdeck runs metrics sft-smollm2 --json
    """
    from llmdeck.tuning import runs

    rows = runs.metrics(run_id)
    if as_json:
        for row in rows:
            emit_json(row)
        return
    columns = [
        "step",
        "phase",
        "loss",
        "eval_loss",
        "learning_rate",
        "grad_norm",
        "tokens_per_s",
        "tokens_seen",
        "elapsed_s",
        "eta_s",
    ]
    shown = [{c: (f"{row[c]:.4g}" if isinstance(row.get(c), float) else row.get(c)) for c in columns} for row in rows]
    click.echo(table(shown, columns))


@command.command("stop")
@click.argument("run_id")
@click.option("--wait", is_flag=True, help="Block until the checkpoint is saved and the run has stopped.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON on stdout.")
def stop(run_id: str, wait: bool, as_json: bool) -> None:
    """Graceful stop: a checkpoint is saved at the end of the current step; status becomes stopped.

    Example: llmdeck runs stop sft-smollm2 --wait
    """
    from llmdeck.tuning import runs

    run = runs.stop(run_id, wait=wait)
    emit_result(
        as_json,
        run.to_dict(),
        f"run {run.id}: {'stop requested' if run.status in ('queued', 'running') else run.status}"
        f" (step {run.global_step})",
    )


@command.command("resume")
@click.argument("run_id")
@click.option("--wait", is_flag=True, help="Block until the run ends, with progress on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON on stdout.")
def resume(run_id: str, wait: bool, as_json: bool) -> None:
    """Continue a stopped or failed run from its latest checkpoint (same step and optimizer state).

    Example: llmdeck runs resume sft-smollm2 --wait
    """
    from llmdeck.tuning import runs

    run = runs.resume(run_id)
    if not as_json:
        info(f"resumed run {run.id} from step {run.global_step}")
    if wait:
        run = runs.wait_for(run.id, on_update=None if as_json else progress_printer())
        if not as_json:
            info(f"\nrun {run.id} {run.status} at step {run.global_step}")
    if as_json:
        emit_json(run.to_dict())
    if run.status == "failed":
        raise LlmdeckError(f"run {run.id} failed: {run.error}")


@command.command("rm")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the removed run as JSON on stdout.")
def remove(run_id: str, as_json: bool) -> None:
    """Delete a finished run's registry entry and directory (checkpoints, adapter, logs).

    Example: llmdeck runs rm sft-smollm2
    """
    from llmdeck.tuning import runs

    run = runs.remove(run_id)
    emit_result(as_json, {"id": run.id, "removed": True, "run_dir": run.run_dir}, f"removed run {run.id}")
