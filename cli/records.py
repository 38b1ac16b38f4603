"""`llmdeck agent runs` and `llmdeck verify runs`: recorded runs, listed, shown and exported as training data."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import click

from llmdeck.agents.events import RunEvent
from llmdeck.cli.options import INT
from llmdeck.cli.output import emit_json, info, table


def _when(timestamp: float | None) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M") if timestamp else "-"


def runs_group(kind: str, render_event: Callable[[RunEvent], str | None], export_help: str, export) -> click.Group:
    """The `runs` group of `llmdeck KIND`: list, show, export (the export command is given by the caller)."""

    @click.group("runs")
    def group() -> None:
        """Recorded runs: list, show, export as training data."""

    @group.command("list")
    @click.option("--limit", type=INT, default=50, show_default=True, help="Newest runs shown.")
    @click.option("--json", "as_json", is_flag=True, help="One JSON document.")
    def list_command(limit, as_json):
        """Runs, newest first."""
        from llmdeck.agents.records import list_runs

        found = list_runs(kind, limit)
        if as_json:
            emit_json([run.to_dict(with_events=False) for run in found])
            return
        rows = [
            {
                "id": r.id,
                "status": r.status,
                "model": r.model,
                "steps": r.steps,
                "seconds": f"{r.seconds:.1f}" if r.seconds else None,
                "started": _when(r.started_at),
                "prompt": r.prompt[:50],
            }
            for r in found
        ]
        click.echo(table(rows, ["id", "status", "model", "steps", "seconds", "started", "prompt"]))

    @group.command("show")
    @click.argument("run_id")
    @click.option("--json", "as_json", is_flag=True, help="One JSON document with every event.")
    def show_command(run_id, as_json):
        """One run: prompt, model, options, outcome and every event."""
        from llmdeck.agents.records import get_run

        run = get_run(run_id, kind)
        if as_json:
            emit_json(run.to_dict())
            return
        for key in ("id", "status", "model", "prompt", "steps", "isolation"):
            value = getattr(run, key)
            if value is not None:
                click.echo(f"{key:10} {value}")
        click.echo(f"{'started':10} {_when(run.started_at)}" + (f" ({run.seconds:.1f} s)" if run.seconds else ""))
        click.echo("")
        for event in run.events:
            line = render_event(event)
            if line:
                click.echo(line)

    group.add_command(export, "export")
    export.help = export_help
    # examples name this group's kind (`llmdeck agent runs list`, `llmdeck verify runs list`)
    example_id = f"{kind[0]}20260101-100000-3f2a9c"
    group.help = f"{group.help}\n\nExample: llmdeck {kind} runs list --limit 10"
    list_command.help = f"{list_command.help}\n\nExample: llmdeck {kind} runs list --json"
    show_command.help = f"{show_command.help}\n\nExample: llmdeck {kind} runs show {example_id} --json"
    return group


def export_rows(rows: list[dict], output: str) -> None:
    from pathlib import Path

    from llmdeck.agents.records import write_jsonl

    count = write_jsonl(rows, Path(output))
    info(f"wrote {count} rows to {output}")
