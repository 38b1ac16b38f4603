"""Flags and settings are validated up front by one set of rules; usage errors are one line too (in-process)."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.serving import check_port_free, plan_server
from llmdeck.core.settings import settings_with, update_settings


def one_line_error(args: list[str], input: str | None = None) -> str:
    result = CliRunner().invoke(cli, args, input=input)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, (args, result.stderr, result.exception)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--max-tokens", "0"], "--max-tokens 0: input should be greater than or equal to 1"),
        (["--temperature", "-1"], "--temperature -1.0: input should be greater than or equal to 0"),
        (["--top-p", "5"], "--top-p 5.0: input should be less than or equal to 1"),
        (["--threads", "-3"], "--threads -3: input should be greater than or equal to 1"),
        (["--ctx", "10"], "--ctx 10: input should be greater than or equal to 256"),
        (["--max-tokens", "many"], "Invalid value for '--max-tokens': 'many' is not a valid integer"),
        (["--no-such-flag"], "No such option '--no-such-flag'"),
    ],
)
def test_chat_flags_are_validated_before_any_model_loads(fake_model, args, expected):
    assert expected in one_line_error(["chat", "hi", *args])
    assert fake_model.calls == []


def test_every_bad_value_is_reported_at_once():
    with pytest.raises(BadInput) as excinfo:
        settings_with(temperature=-1, top_p=5, n_ctx=10)
    assert str(excinfo.value).count(";") == 2 and "--ctx 10" in str(excinfo.value)
    assert settings_with(temperature=0.2, top_p=None).temperature == 0.2  # None keeps the saved value


def test_usage_errors_name_the_command_and_groups_alone_print_help():
    assert one_line_error(["nosuch"]) == "error: llmdeck: No such command 'nosuch'."
    assert one_line_error(["rag", "query", "q"]).startswith("error: llmdeck rag query: Missing option")
    alone = CliRunner().invoke(cli, ["models"])
    assert alone.exit_code == 0 and alone.stdout.startswith("Usage: llmdeck models")


def test_models_list_warns_once_about_a_default_that_is_not_stored():
    update_settings(default_model="gone-model")
    result = CliRunner().invoke(cli, ["models", "list", "--json"])
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "default_model 'gone-model'" in warnings[0]


def test_serve_checks_port_and_models_before_loading_anything():
    with pytest.raises(BadInput, match="--port 70000: expected 1-65535"):
        plan_server([None], port=70000)
    with pytest.raises(BadInput, match="'ghost' is not in the store"):
        plan_server(["ghost"], port=8000)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LlmdeckError, match=f"cannot serve on 127.0.0.1:{port}: the port is in use"):
            check_port_free("127.0.0.1", port)
