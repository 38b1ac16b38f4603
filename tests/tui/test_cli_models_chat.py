"""The real `llmdeck` entry point (a subprocess): models, chat, exit codes and one-line errors."""

from __future__ import annotations

import json

from core.embedded import EMBEDDED_CHAT_MODEL_NAME


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_models_list_show_import_default_rm(cli, copied_gguf):
    listed = cli("models", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert entry["name"] == EMBEDDED_CHAT_MODEL_NAME and entry["is_default"]

    imported = cli("models", "import", str(copied_gguf), "--name", "mine", "--copy", "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["copied"] is True

    shown = cli("models", "show", "mine", "--json")
    assert json.loads(shown.stdout)["file_type"] == "Q4_1"
    human = cli("models", "list")
    assert "mine" in human.stdout and EMBEDDED_CHAT_MODEL_NAME in human.stdout

    assert cli("models", "default", "mine").returncode == 0
    names = {e["name"]: e["is_default"] for e in json.loads(cli("models", "list", "--json").stdout)}
    assert names == {EMBEDDED_CHAT_MODEL_NAME: False, "mine": True}
    assert cli("models", "rm", "mine").returncode == 0
    assert [e["name"] for e in json.loads(cli("models", "list", "--json").stdout)] == [EMBEDDED_CHAT_MODEL_NAME]


def test_models_bad_input_is_one_line_and_exit_2(cli, tmp_path, truncated_gguf, copied_gguf):
    not_gguf = tmp_path / "readme.gguf"
    not_gguf.write_text("not a model")
    assert_one_line_error(cli("models", "import", str(not_gguf)), str(not_gguf), "not a GGUF")
    assert_one_line_error(cli("models", "import", str(truncated_gguf)), "truncated")
    assert_one_line_error(cli("models", "import", str(tmp_path / "nope.gguf")), "no such file")
    assert cli("models", "import", str(copied_gguf), "--name", "x1").returncode == 0
    assert_one_line_error(cli("models", "import", str(copied_gguf), "--name", "x1"), "already in the store")
    assert_one_line_error(cli("models", "show", "ghost"), "ghost")
    # nothing half-registered
    assert [e["name"] for e in json.loads(cli("models", "list", "--json").stdout)] == [EMBEDDED_CHAT_MODEL_NAME, "x1"]


def test_chat_streams_json_lines_with_stats(cli):
    result = cli("chat", "What is the capital of France? Answer in one word.", "--json", "--temperature", "0", "--max-tokens", "16", "--seed", "1")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    tokens, done = events[:-1], events[-1]
    assert tokens and all(e["type"] == "token" for e in tokens)
    assert done["type"] == "done" and done["tokens"] == len(tokens)
    assert done["ttft_s"] > 0 and done["tokens_per_s"] > 0
    assert "Paris" in "".join(e["text"] for e in tokens)


def test_chat_plain_text_from_stdin_and_system_prompt(cli):
    result = cli("chat", "--system", "You answer in one word.", "--temperature", "0", "--max-tokens", "8", input="What is the capital of France?\n")
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout


def test_chat_with_unknown_or_truncated_model_is_a_clear_error(cli, truncated_gguf):
    assert_one_line_error(cli("chat", "hi", "--model", "ghost"), "ghost")
    assert_one_line_error(cli("chat", "hi", "--model", str(truncated_gguf)), "truncated")


def test_repl_keeps_history_and_resets(monkeypatch, capsys):
    from core.runtime import Sampling, load_model
    from tui.commands.chat import _repl

    lines = iter(["My name is Ada.", "What is my name?", "/reset", "", "Hi", "/exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    seen_histories = []
    import tui.commands.chat as chat_cmd

    real_stream_one = chat_cmd._stream_one

    def spy(model, messages, sampling, as_json):
        seen_histories.append([m["content"] for m in messages])
        return real_stream_one(model, messages, sampling, as_json)

    monkeypatch.setattr(chat_cmd, "_stream_one", spy)
    _repl(load_model(None), None, Sampling(temperature=0.0, max_tokens=8), as_json=False)
    assert len(seen_histories) == 3
    assert seen_histories[0] == ["My name is Ada."]
    assert seen_histories[1][0] == "My name is Ada." and seen_histories[1][-1] == "What is my name?"
    assert len(seen_histories[1]) == 3  # user, assistant answer, new question
    assert seen_histories[2] == ["Hi"]  # /reset dropped the history
    assert capsys.readouterr().out.strip()


def test_session_repl_stores_every_turn_until_ctrl_d(monkeypatch, cli):
    """`llmdeck chat --session ID` with no prompt on a terminal: each typed line is a stored turn; EOF ends it."""
    import json

    from core.runtime import Sampling, load_model
    from tui.commands.chat import _repl_with_memory

    lines = iter(["My name is Ada.", "", "And yours?"])

    def typed(prompt=""):
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", typed)
    _repl_with_memory(load_model(None), None, Sampling(temperature=0.0, max_tokens=6), False, None, "repl-notes", 4)
    shown = json.loads(cli("sessions", "show", "repl-notes", "--json").stdout)
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant", "user", "assistant"]
    assert [m["content"] for m in shown["messages"] if m["role"] == "user"] == ["My name is Ada.", "And yours?"]
