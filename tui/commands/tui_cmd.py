"""`llmdeck tui`: open the terminal app (also what bare `llmdeck` does)."""

from __future__ import annotations

import click


def run_app(model: str | None = None) -> None:
    from tui.app import LlmdeckApp

    LlmdeckApp(model=model).run()


@click.command("tui")
@click.option("--model", "-m", help="Store model to chat with (default: the store default).")
def command(model: str | None) -> None:
    """Open the terminal app."""
    run_app(model)
