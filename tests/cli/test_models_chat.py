"""The real `llmdeck` entry point (a subprocess, run outside the repo): models, chat, exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest

from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME

pytestmark = pytest.mark.slow


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
    result = cli(
        "chat",
        "What is the capital of France? Answer in one word.",
        "--json",
        "--temperature",
        "0",
        "--max-tokens",
        "16",
        "--seed",
        "1",
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    tokens, done = events[:-1], events[-1]
    assert tokens and all(e["type"] == "token" for e in tokens)
    assert done["type"] == "done" and done["model"] == EMBEDDED_CHAT_MODEL_NAME
    assert done["tokens"] >= len(tokens)  # a streamed piece holds one or more tokens
    assert done["ttft_s"] > 0 and done["tokens_per_s"] > 0
    assert "Paris" in "".join(e["text"] for e in tokens)


def test_chat_plain_text_from_stdin_and_system_prompt(cli):
    result = cli(
        "chat",
        "--system",
        "You answer in one word.",
        "--temperature",
        "0",
        "--max-tokens",
        "8",
        input="What is the capital of France?\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout


def test_chat_with_unknown_or_truncated_model_is_a_clear_error(cli, truncated_gguf):
    assert_one_line_error(cli("chat", "hi", "--model", "ghost"), "ghost")
    assert_one_line_error(cli("chat", "hi", "--model", str(truncated_gguf)), "truncated")
