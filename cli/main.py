"""The headless CLI `llmdeck`: subcommand groups mirroring the app's screens; bare `llmdeck` opens the app.

Command modules are registered by static imports, so a broken one fails the tests instead of
becoming a warning. Errors from lower layers become one line and an exit code here, and only here.
"""

from __future__ import annotations

import click

from llmdeck.cli import chat, complete, data, models, rag, runs, serve, sessions, train, tui
from llmdeck.core.errors import LlmdeckError


class LlmdeckGroup(click.Group):
    """The one place where library errors become exit codes: 2 bad input, 1 failed, 130 interrupted."""

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
        tui.run_app()


for module in (models, chat, complete, serve, tui, train, runs, data, rag, sessions):
    cli.add_command(module.command)


def main() -> None:
    cli(prog_name="llmdeck")


if __name__ == "__main__":
    main()
