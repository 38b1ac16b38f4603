"""The headless CLI `llmdeck`: subcommand groups mirroring the TUI screens; bare `llmdeck` opens the TUI.

Errors from lower layers (`core.errors.LlmdeckError`) become one line on stderr and an exit
code (2 bad input, 1 failed), never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from core.errors import LlmdeckError
from tui.commands import COMMAND_MODULES


class LlmdeckGroup(click.Group):
    """Loads subcommand modules and turns our errors into one clear line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LlmdeckError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=LlmdeckGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llmdeck")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """llmdeck: fine-tune, manage and use local LLMs - offline by default.

    Bare `llmdeck` opens the terminal app; every subcommand works headless
    (`--json` for scripts: JSON on stdout, human text on stderr; exit 0 ok, 1 failed, 2 bad input).
    """
    if ctx.invoked_subcommand is None:
        from tui.commands.tui_cmd import run_app

        run_app()


for module_name in COMMAND_MODULES:
    try:
        module = importlib.import_module(f"tui.commands.{module_name}")
    except Exception as exc:  # a broken command module is a warning, not a dead CLI
        print(f"warning: llmdeck command module {module_name!r} failed to load: {exc}", file=sys.stderr)
        continue
    cli.add_command(module.command)


def main() -> None:
    cli(prog_name="llmdeck")


if __name__ == "__main__":
    main()
