"""`llmdeck tui`: open the terminal app (also what bare `llmdeck` does)."""

from __future__ import annotations

import click


def run_app(model: str | None = None) -> None:
    """Check the model first (an unknown name is one line and exit 2, not a failure at the first message)."""
    from llmdeck.core.store import ModelStore

    if model:
        ModelStore().resolve(model)
    from llmdeck.tui.app import LlmdeckApp  # the one import of the app from the CLI (named in the contracts)

    LlmdeckApp(model=model).run()


@click.command("tui")
@click.option("--model", "-m", help="Store model to chat with (default: the store default).")
def command(model: str | None) -> None:
    """Open the terminal app."""
    run_app(model)
