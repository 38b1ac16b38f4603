"""Click groups shared by command modules."""

from __future__ import annotations

import click


class DefaultCommandGroup(click.Group):
    """A group whose arguments go to `default_command` unless the first one names a subcommand:
    `llmdeck agent "question"` is `llmdeck agent ask "question"`, while `llmdeck agent runs list` reaches
    the `runs` group (a question that is literally a subcommand's name needs the explicit form)."""

    def __init__(self, *args, default_command: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.default_command = default_command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)
