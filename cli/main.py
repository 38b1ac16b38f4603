"""The headless CLI `llmdeck`: subcommand groups mirroring the app's screens; bare `llmdeck` opens the app.

Command modules are registered by static imports, so a broken one fails the tests instead of
becoming a warning. Errors from lower layers become one line and an exit code here, and only here.
"""

from __future__ import annotations

import sys

import click

from llmdeck.cli import (
    agent,
    arena,
    bench,
    chat,
    complete,
    data,
    doctor,
    evaluate,
    export,
    loop,
    mcp,
    merge,
    models,
    predict,
    rag,
    reward,
    runs,
    serve,
    sessions,
    tools,
    train,
    tui,
    verify,
)
from llmdeck.core import paths
from llmdeck.core.diskspace import is_disk_full, where
from llmdeck.core.diskspace import message as space_message
from llmdeck.core.errors import DiskFull, LlmdeckError
from llmdeck.core.procs import Terminated
from llmdeck.core.quiet import quiet_libraries


class LlmdeckGroup(click.Group):
    """The one place where errors become exit codes: 2 bad input (ours or click's usage errors, one line
    each), 1 failed, 130 interrupted, 143 terminated."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # a group named alone (`llmdeck models`): its help
            click.echo(exc.ctx.get_help())
            sys.exit(0)
        except click.ClickException as exc:  # a bad flag or argument: one line, like every other bad input
            ctx = getattr(exc, "ctx", None)  # a UsageError's command; other ClickExceptions have none
            where = f"{ctx.command_path}: " if ctx else ""
            message = " ".join(
                part.strip() for part in exc.format_message().splitlines() if part.strip()
            )  # Choice lists span lines
            click.echo(f"error: {where}{message}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LlmdeckError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except Terminated:  # SIGTERM, after the command removed its temporaries
            click.echo("terminated", err=True)
            ctx.exit(143)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # a full disk wherever it struck (db, runs, models, vectors): one line too
            if not is_disk_full(exc, paths.home()):
                raise
            click.echo(f"error: {space_message(where(exc, paths.home()))}", err=True)
            ctx.exit(DiskFull.exit_code)


@click.group(
    "llmdeck", cls=LlmdeckGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="llmdeck")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """llmdeck: fine-tune, manage and use local LLMs - offline by default.

    Bare `llmdeck` opens the terminal app; every subcommand works headless
    (`--json` for scripts: JSON on stdout, human text on stderr; exit 0 ok, 1 failed, 2 bad input).

    Example: llmdeck chat "Name three uses of a paperclip." --max-tokens 64
    """
    if ctx.invoked_subcommand is None:
        tui.run_app()


for module in (
    models,
    chat,
    complete,
    serve,
    tui,
    train,
    runs,
    data,
    rag,
    sessions,
    export,
    evaluate,
    agent,
    tools,
    mcp,
    verify,
    bench,
    arena,
    loop,
    reward,
    predict,
    merge,
    doctor,
):
    cli.add_command(module.command)


def main() -> None:
    quiet_libraries()
    cli(prog_name="llmdeck")


if __name__ == "__main__":
    main()
