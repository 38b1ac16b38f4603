"""`llmdeck tui`: open the terminal app (also what bare `llmdeck` does), or replay a script headless."""

from __future__ import annotations

from pathlib import Path

import click

from llmdeck.cli.options import NAME, UserPath


def run_app(model: str | None = None) -> None:
    """Check the model first (an unknown name is one line and exit 2, not a failure at the first message)."""
    if model:
        from llmdeck.core.store import ModelStore

        ModelStore().resolve(model)
    from llmdeck.tui.app import LlmdeckApp  # the one import of the app from the CLI (named in the contracts)

    LlmdeckApp(model=model).run()


def run_headless(script: Path, out_dir: Path, model: str | None = None) -> None:
    from llmdeck.core.store import ModelStore

    if model:
        ModelStore().resolve(model)
    from llmdeck.tui.app import run_script

    run_script(script, out_dir, model=model)


@click.command("tui")
@click.option("--model", "-m", type=NAME, help="Store model to chat with (default: the store default).")
@click.option("--headless", is_flag=True, help="Run without a terminal (needs --script).")
@click.option(
    "--script",
    "script",
    type=UserPath(path_type=Path),
    help="Replay this script of key presses, typed text, clicks, waits and screenshots (its format: docs/app.md,"
    ' "Scripted and headless").',
)
@click.option(
    "--out",
    "out_dir",
    type=UserPath(path_type=Path),
    default=Path("screenshots"),
    show_default=True,
    help="Folder for the script's screenshots (NAME.svg and NAME.txt).",
)
def command(model: str | None, headless: bool, script: Path | None, out_dir: Path) -> None:
    """Open the terminal app, or with --headless --script FILE replay a script and write screenshots
    (exit 1 naming the step when a wait times out).

    Example: llmdeck tui --headless --script docs.tui --out shots/
    """
    from llmdeck.core.errors import BadInput

    if headless != bool(script):
        raise BadInput("tui: --headless and --script go together (a script runs without a terminal)")
    if script:
        run_headless(script, out_dir, model)
    else:
        run_app(model)
