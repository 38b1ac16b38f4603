"""`llmdeck sessions`: chat sessions stored in SQLite (plain and RAG chat)."""

from __future__ import annotations

import datetime

import click

from llmdeck.cli.options import UserPath
from llmdeck.cli.output import emit_json, info, table


@click.group("sessions")
def command() -> None:
    """Saved chat sessions (`llmdeck chat --session ID` resumes one).

    Example: llmdeck sessions list
    """


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def list_command(as_json):
    """List sessions, most recent first.

    Example: llmdeck sessions list --json
    """
    from llmdeck.core.sessions import list_sessions

    rows = [s.to_dict() for s in list_sessions()]
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        row["updated"] = _when(row["updated_at"])
    click.echo(table(rows, ["id", "n_messages", "rag_collection", "updated", "title"]))


@command.command("show")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON document with every message.")
def show_command(session_id, as_json):
    """Print a session's messages (with citations for RAG answers).

    Example: llmdeck sessions show 3f2a9c
    """
    from llmdeck.core.sessions import export_session

    click.echo(export_session(session_id, "json" if as_json else "md"))


@command.command("rm")
@click.argument("session_id")
def rm_command(session_id):
    """Delete a session and its messages.

    Example: llmdeck sessions rm 3f2a9c
    """
    from llmdeck.core.sessions import delete_session

    delete_session(session_id)
    info(f"removed session {session_id}")


@command.command("export")
@click.argument("session_id")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@click.option("--output", "-o", type=UserPath(dir_okay=False), help="Write to this file (default stdout).")
def export_command(session_id, fmt, output):
    """Export a session as Markdown or JSON.

    Example: llmdeck sessions export 3f2a9c --format md -o chat.md
    """
    from pathlib import Path

    from llmdeck.core.atomic import atomic_write_text
    from llmdeck.core.sessions import export_session

    text = export_session(session_id, fmt)
    if output:
        atomic_write_text(Path(output), text + "\n")
        info(f"wrote {output}")
    else:
        click.echo(text)
