"""Headless output conventions: JSON documents/lines on stdout, human text and progress on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from llmdeck.cli.options import Number, setting
from llmdeck.core.events import Event
from llmdeck.core.units import duration


def emit_json(document: Any) -> None:
    """One JSON document (or one JSON line of a stream) on stdout."""
    sys.stdout.write(json.dumps(document, default=str) + "\n")
    sys.stdout.flush()


def emit_event(event: Event) -> None:
    """One event of a stream as its JSON line (`Event.to_json()`) on stdout."""
    emit_json(event.to_json())


def info(message: str) -> None:
    """Human-facing text for people (stderr, so stdout stays clean for scripts)."""
    click.echo(message, err=True)


def emit_result(as_json: bool, document: Any, note: str) -> None:
    """A command's one result: `document` as JSON on stdout with --json, else the human `note` on stderr."""
    if as_json:
        emit_json(document)
    else:
        info(note)


def stream_answer(response, as_json: bool) -> None:
    """A streaming chat/completion response on stdout: its text pieces (or JSON token lines), then a newline (or
    the done event with its stats); the response is closed even when interrupted."""
    from llmdeck.services.chat import TokenStreamed

    try:
        for piece in response:
            emit_event(TokenStreamed(piece)) if as_json else sys.stdout.write(piece)
            sys.stdout.flush()
    finally:
        response.close()
    if as_json:
        emit_event(response.done_event())
    else:
        sys.stdout.write("\n")


def table(rows: list[dict], columns: list[str]) -> str:
    """A plain aligned text table."""
    if not rows:
        return "(none)"
    cells = [[str(row.get(c, "") if row.get(c) is not None else "-") for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def progress_printer():
    """A one-line progress bar on stderr: step, loss, tokens/s, ETA (redrawn when it changes)."""
    last: dict[str, str | None] = {"line": None}

    def show(run) -> None:
        metrics = run.last_metrics or {}
        total = run.max_steps or metrics.get("max_steps") or 0
        done = run.global_step
        width = 24
        filled = int(width * done / total) if total else 0
        bar = "#" * filled + "-" * (width - filled)
        loss = metrics.get("loss")
        eta = metrics.get("eta_s")
        phase = getattr(run, "phase", None)
        parts = [
            f"[{bar}] {done}/{total or '?'}",
            f"{run.status} ({phase})" if phase and phase != run.status else run.status,
        ]
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        if metrics.get("tokens_per_s"):
            parts.append(f"{metrics['tokens_per_s']:.0f} tok/s")
        if eta is not None:
            parts.append(f"ETA {duration(eta)}")
        line = "  ".join(parts)
        if line != last["line"]:
            last["line"] = line
            sys.stderr.write("\r" + line.ljust(78))
            sys.stderr.flush()

    return show


def generation_options(func):
    """The sampling and loading flags `chat` and `complete` share (None: the config's defaults)."""
    options = [
        click.option(
            "--temperature", type=setting("temperature"), help="Sampling temperature (default from config, 0.7)."
        ),
        click.option("--top-p", type=setting("top_p"), help="Nucleus sampling (default 0.95)."),
        click.option("--max-tokens", type=setting("max_tokens"), help="Cap on generated tokens (default 512)."),
        click.option("--seed", type=Number(int, 0, 2**32 - 1), help="Sampling seed for reproducible output."),
        click.option("--stop", multiple=True, help="Stop sequence (repeatable)."),
        click.option("--ctx", "n_ctx", type=setting("n_ctx"), help="Context window to load the model with."),
        click.option("--threads", "n_threads", type=setting("n_threads"), help="CPU threads for llama.cpp."),
        click.option("--json", "as_json", is_flag=True, help="JSON lines: token events, then a done event with stats."),
    ]
    for option in reversed(options):
        func = option(func)
    return func
