"""The generated references (docs/reference/) match the code: a new flag without docs, or docs for a removed flag
or config key, fails here until `make docs-reference` is run and its output committed; every command shows an
example in its --help."""

from __future__ import annotations

import tomllib
from pathlib import Path

import click
import pytest

from llmdeck.cli import reference
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
