"""The docs site (mkdocs.yml, docs/) and the README: the site builds with --strict (no broken link, anchor or page
left out of the nav), every `llmdeck ...` command line in their shell blocks names a real command and real options
(a removed flag or a typo in the docs fails here: fix the docs), the README stays short and its links resolve."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from llmdeck.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted([README, ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *DOCS.rglob("*.md")])
SHELL_FENCES = {"sh", "bash", "shell", "console", "zsh"}
SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", ">", ">>", "<", "2>", "|&"}


def shell_lines(text: str) -> list[tuple[int, str]]:
    """(line number, command line) for each line of the page's sh/bash/console code blocks, continuation lines
    (`\\` at the end) joined; in console blocks only the `$ ` lines."""
    lines, fence, pending, start = [], None, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else (stripped[3:].strip().split() or [""])[0]
            continue
        if fence not in SHELL_FENCES:
            continue
        if fence == "console":
            if not stripped.startswith("$ ") and not pending:
                continue
            stripped = stripped.removeprefix("$ ")
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append((start, pending + stripped))
        pending = ""
    return lines


def llmdeck_invocations(line: str) -> list[list[str]]:
    """The argument lists of every `llmdeck` invocation on a shell line: after pipes, `&&`, `;`, env assignments,
    inside `$(...)`; `[--json]`-style optional brackets are read as the flags they hold."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # an unclosed quote: not a command line we can read
        return []
    found, segment = [], []
    for token in [*tokens, ";"]:
        if "$(" in token:  # a command substitution inside a quoted word
            found += llmdeck_invocations(token.split("$(", 1)[1].rsplit(")", 1)[0])
        if token in SEPARATORS:
            while segment and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", segment[0]):
                segment.pop(0)
            if segment and segment[0] == "llmdeck":
                found.append([t.strip("[]") for t in segment[1:] if t.strip("[]")])
            segment = []
        else:
            segment.append(token)
    return found


def takes_value(param: click.Parameter) -> bool:
    return isinstance(param, click.Option) and not param.is_flag and not param.count


def problems(args: list[str]) -> list[str]:
    """What is wrong with `llmdeck ARGS` against the real click tree: an unknown command, or an option the
    command does not have (values and positional arguments are not checked: docs use placeholders)."""
    command: click.Command = cli
    path = ["llmdeck"]
    index = 0
    seen_positional = False
    while index < len(args):
        token = args[index]
        default = getattr(command, "default_command", None)
        if default and not seen_positional and token not in command.commands and token not in ("-h", "--help"):
            command = command.commands[default]  # DefaultCommandGroup: `llmdeck loop --name x` is `loop run`
            path.append(default)
            seen_positional = True
            continue
        index += 1
        if token == "--":
            break
        if token.startswith("-") and token != "-" and not re.fullmatch(r"-\d[\d.]*", token):
            name = token.split("=", 1)[0]
            params = {opt: p for p in command.params for opt in (*p.opts, *p.secondary_opts)}
            if name in ("-h", "--help"):
                continue
            if name not in params:
                return [f"`{' '.join(path)}` has no option {name}"]
            if takes_value(params[name]) and "=" not in token:
                index += 1
            continue
        if isinstance(command, click.Group) and not seen_positional:
            if token in command.commands:
                command = command.commands[token]
                path.append(token)
                continue
            return [f"`{' '.join(path)}` has no command {token!r}"]
        seen_positional = True
    return []


def test_the_checker_catches_typos_and_removed_flags():
    assert problems(["chat", "hi", "--max-tokens", "8"]) == []
    assert problems(["loop", "--name", "demo", "--rounds", "2"]) == []  # the group's default command
    assert problems(["agent", "runs", "list", "--json"]) == []
    assert problems(["chat", "hi", "--no-such-flag"]) == ["`llmdeck chat` has no option --no-such-flag"]
    assert problems(["modles", "list"]) == ["`llmdeck` has no command 'modles'"]
    assert problems(["models", "lst"]) == ["`llmdeck models` has no command 'lst'"]
    assert llmdeck_invocations("echo hi | X=1 llmdeck chat --seed 1 [--json] && llmdeck runs list") == [
        ["chat", "--seed", "1", "--json"],
        ["runs", "list"],
    ]
    assert llmdeck_invocations('llmdeck models import "$(llmdeck models show m --json | python -c x)"') == [
        ["models", "show", "m", "--json"],
        ["models", "import", "$(llmdeck models show m --json | python -c x)"],
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_documented_command_exists(page: Path):
    bad = []
    for number, line in shell_lines(page.read_text(encoding="utf-8")):
        for args in llmdeck_invocations(line):
            bad += [f"{page.relative_to(ROOT)}:{number}: {problem}: {line}" for problem in problems(args)]
    assert not bad, "\n".join(bad)


def test_readme_is_short_and_its_links_resolve():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 220
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not re.match(r"[a-z]+:", target):
            assert (ROOT / target).exists(), f"README.md links to {target}, which does not exist"


def nav_files(entries) -> list[str]:
    files = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        files += nav_files(value) if isinstance(value, list) else [value]
    return files


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    listed = nav_files(config["nav"])
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(set(listed)) == sorted(listed), "a page is listed twice"
    assert [p for p in listed if not (DOCS / p).exists()] == [], "the nav lists a missing page"
    assert [p for p in pages if p not in listed] == [], "a page is not reachable from the nav"
    assert config["theme"]["font"] is False  # offline: no web fonts fetched by the browser


@pytest.mark.slow
def test_the_site_builds_strict_and_offline(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1", "HOME": str(tmp_path)},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "index.html").exists()
    html = "".join(p.read_text(encoding="utf-8") for p in site.rglob("*.html"))
    assert "fonts.googleapis.com" not in html and "fonts.gstatic.com" not in html
