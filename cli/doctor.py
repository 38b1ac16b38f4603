"""`llmdeck doctor`: list (and with --fix, remove or reconcile) what crashed or killed commands left behind."""

from __future__ import annotations

import click

from llmdeck.cli.output import emit_json, info, table
from llmdeck.core.units import human_size


@click.command("doctor")
@click.option("--fix", is_flag=True, help="Remove the leftovers and reconcile the stores; print the bytes reclaimed.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def command(fix: bool, as_json: bool) -> None:
    """Find orphaned temporaries, stale locks and store/registry mismatches, with their sizes.

    Looks under $LLMDECK_HOME for: temporaries of killed exports, quantizations and writes (their owner's
    process is gone), lock files a killed holder left, model files the store does not list and store entries
    whose file is gone, RAG collections whose vectors differ from their registry. Exit 0 when nothing is
    left to fix, 1 otherwise.

    Example: llmdeck doctor --fix
    """
    from llmdeck.services.doctor import diagnose, summary_line

    report = diagnose(fix=fix)
    if as_json:
        emit_json(report.to_dict())
    else:
        rows = [
            {
                "kind": f.kind,
                "size": human_size(f.size_bytes) if f.size_bytes else "-",
                "status": ("fixed" if f.fixed else "NOT FIXED") if fix else "-",
                "path": f.path,
                "detail": f.detail,
            }
            for f in report.findings
        ]
        if rows:
            click.echo(
                table(rows, ["kind", "size", "status", "path", "detail"] if fix else ["kind", "size", "path", "detail"])
            )
        for error in report.errors:
            info(f"could not fix {error}")
        info(summary_line(report))
    if not report.healthy:
        click.get_current_context().exit(1)
