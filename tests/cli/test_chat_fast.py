"""`llmdeck chat` in-process (click's CliRunner) on the scripted fake model: exact --json lines, REPLs, errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmdeck.cli import chat as chat_cli
from llmdeck.cli.main import cli
from llmdeck.core import sessions
from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_json_stream_is_token_lines_then_one_done_line(fake_model):
    fake_model.enqueue(["Paris", "."])
    result = invoke("chat", "Capital of France?", "--json", "--temperature", "0", "--max-tokens", "8")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[:2] == [{"type": "token", "text": "Paris"}, {"type": "token", "text": "."}]
    done = lines[2]
    assert len(lines) == 3 and done["type"] == "done" and done["model"] == EMBEDDED_CHAT_MODEL_NAME
    assert done["tokens"] == 2 and done["finish_reason"] == "stop"
    assert fake_model.calls[0]["max_tokens"] == 8 and fake_model.calls[0]["temperature"] == 0.0


def test_plain_text_from_stdin_with_system_prompt(fake_model):
    fake_model.enqueue("Paris")
    result = invoke("chat", "--system", "One word.", input="What is the capital of France?\n")
    assert result.exit_code == 0 and result.stdout == "Paris\n"
    assert fake_model.calls[0]["messages"] == [
        {"role": "system", "content": "One word."},
        {"role": "user", "content": "What is the capital of France?"},
    ]


def test_session_json_done_line_names_the_session_and_both_turns_are_stored(fake_model):
    fake_model.enqueue("Hello Ada.")
    result = invoke("chat", "I am Ada.", "--session", "notes", "--json")
    done = json.loads(result.stdout.splitlines()[-1])
    assert done["session"] == "notes" and "sources" not in done
    assert [(m.role, m.content) for m in sessions.messages("notes")] == [
        ("user", "I am Ada."),
        ("assistant", "Hello Ada."),
    ]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["chat", "hi", "--model", "ghost"], "ghost"),
        (["chat", "--session", "s"], "no prompt given"),
        (["chat", "hi", "--rag", "nope"], "collection 'nope' not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(fake_model, args, needle):
    result = CliRunner().invoke(cli, args, input="")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and needle in result.stderr
    assert result.stdout == ""


def test_prompt_longer_than_the_context_is_refused_before_anything_is_stored(fake_model):
    fake_model.n_ctx = lambda: 64
    result = CliRunner().invoke(cli, ["chat", "word " * 100, "--session", "big"])
    assert result.exit_code == 2 and "exceeds the context window" in result.stderr
    assert sessions.find_session("big") is None


def test_repl_keeps_history_and_reset_asks_first(fake_model, monkeypatch):
    fake_model.enqueue("Hi Ada.", "Ada.", "Hello.")
    typed = iter(["My name is Ada.", "What is my name?", "/reset", "n", "/reset", "y", "", "Hi", "/exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))
    chat_cli.repl(False, None, model=None, system=None, rag=None, k=4, sampling=None, n_ctx=None, n_threads=None)
    sent = [[m["content"] for m in call["messages"]] for call in fake_model.calls]
    assert sent == [["My name is Ada."], ["My name is Ada.", "Hi Ada.", "What is my name?"], ["Hi"]]


def test_session_repl_stores_every_turn_until_ctrl_d(fake_model, monkeypatch):
    fake_model.enqueue("one", "two")
    typed = iter(["My name is Ada.", "", "And yours?"])

    def next_line(prompt=""):
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", next_line)
    chat_cli.repl(
        False, "repl-notes", model=None, system=None, rag=None, k=4, sampling=None, n_ctx=None, n_threads=None
    )
    stored = sessions.messages("repl-notes")
    assert [(m.role, m.content) for m in stored] == [
        ("user", "My name is Ada."),
        ("assistant", "one"),
        ("user", "And yours?"),
        ("assistant", "two"),
    ]
