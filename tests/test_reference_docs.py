"""The generated references (docs/reference/) match the code: a new flag without docs, or docs for a removed flag
or config key, fails here until `make docs-reference` is run and its output committed; every command shows an
example in its --help."""

from __future__ import annotations

import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from llmdeck.cli import reference
from llmdeck.cli.groups import DefaultCommandGroup
from llmdeck.cli.main import cli
from llmdeck.core.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("page", [reference.CLI_PAGE, reference.CONFIG_PAGE], ids=str)
def test_checked_in_reference_is_current(page):
    checked_in = (DOCS / page).read_text(encoding="utf-8") if (DOCS / page).exists() else ""
    generated = reference.pages()[page]
    if checked_in != generated:
        old, new = set(checked_in.splitlines()), set(generated.splitlines())
        stale = [line for line in checked_in.splitlines() if line not in new][:5]
        missing = [line for line in generated.splitlines() if line not in old][:5]
        pytest.fail(
            f"docs/{page} is out of date with the code: run `make docs-reference` and commit it.\n"
            f"missing from the page: {missing}\nstale on the page: {stale}"
        )


def test_every_command_has_an_example_that_its_help_shows():
    for doc in reference.command_docs(cli):
        found = reference.examples(doc.command)
        assert found, f"`{doc.name}` has no `Example:` paragraph in its help (add one with a real command line)"
        help_text = " ".join(CliRunner().invoke(cli, [*doc.path[1:], "--help"], terminal_width=500).output.split())
        for example in found:
            assert " ".join(example.split()) in help_text, f"{doc.name}: --help does not show {example!r}"


def test_every_example_runs_a_command_with_its_own_flags():
    """An example's command exists and takes each flag it gives (a renamed flag fails here, not in a user's shell)."""
    for doc in reference.command_docs(cli):
        for example in reference.examples(doc.command):
            invocations = [part.split() for part in example.split("  (")[0].split("&&")]
            invocations = [
                words[[w.startswith("llmdeck") for w in words].index(True) :]
                for words in invocations
                if any(w.startswith("llmdeck") for w in words)
            ]
            assert invocations, f"{doc.name}: {example!r} runs no llmdeck command"
            for words in invocations:
                command, rest = resolve(words[1:])
                flags = {name for p in command.params for name in [*p.opts, *p.secondary_opts]} | {"-h", "--help"}
                given = [w.split("=")[0] for w in rest if w.startswith("-") and not w[1:2].isdigit()]
                unknown = [flag for flag in given if flag not in flags]
                assert not unknown, f"{doc.name}: {example!r}: {command.name} takes no {unknown}"


def resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    """The command an example's words name (a DefaultCommandGroup's default when no subcommand is named)."""
    command: click.Command = cli
    while isinstance(command, click.Group):
        if words and words[0] in command.commands:
            command, words = command.commands[words[0]], words[1:]
        elif isinstance(command, DefaultCommandGroup):
            command = command.commands[command.default_command]
        else:
            break
    return command, words


def test_every_option_and_config_key_is_on_its_page():
    cli_page, config_page = reference.cli_reference(), reference.config_reference()
    for doc in reference.command_docs(cli):
        assert f"`{doc.name}`" in cli_page
        for param in doc.command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert all(f"`{name}`" in cli_page for name in param.opts), f"{doc.name} {param.opts}"
    for name in Settings.model_fields:
        assert f"| `{name}` |" in config_page
    assert "| `timeout_s` |" in config_page and "## `[mcp_servers.NAME]`" in config_page


def test_the_pages_are_the_same_on_any_machine(monkeypatch):
    """A range computed from this machine's cores is written as what it is computed from."""
    assert "4×cores" in reference.cli_reference()
    assert "| 1..4×cores, at most 512 |" in reference.config_reference()


def test_the_config_example_is_a_valid_config_toml():
    Settings(**tomllib.loads(reference.CONFIG_EXAMPLE))


def test_a_table_cell_escapes_pipes_and_html():
    assert reference.cell("a|b <NAME>") == "a\\|b &lt;NAME>"
