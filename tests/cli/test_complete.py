"""`llmdeck complete` and chat with a model that has no chat template (completion mode), on the fake model."""

from __future__ import annotations

import dataclasses
import json

from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.core.store import ModelStore


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_complete_streams_a_plain_continuation(fake_model):
    fake_model.enqueue([" there", " was a fox."])
    result = invoke("complete", "smollm2-135m-instruct", "Once upon a time", "--max-tokens", "32", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["text"] for line in lines[:-1]] == [" there", " was a fox."]
    assert lines[-1]["type"] == "done" and lines[-1]["model"] == "smollm2-135m-instruct"
    assert (
        fake_model.completion_calls[0]["prompt"] == "Once upon a time"
        and fake_model.completion_calls[0]["max_tokens"] == 32
    )
    fake_model.enqueue(" end")
    piped = invoke("complete", "smollm2-135m-instruct", input="The story\n")
    assert (
        piped.exit_code == 0 and piped.stdout == " end\n" and fake_model.completion_calls[1]["prompt"] == "The story\n"
    )


def test_complete_refuses_empty_text_and_unknown_models(fake_model):
    empty = CliRunner().invoke(cli, ["complete", "smollm2-135m-instruct", "   "])
    assert empty.exit_code == 2 and "empty" in empty.output
    unknown = CliRunner().invoke(cli, ["complete", "no-such-model", "hi"])
    assert unknown.exit_code == 2 and "not in the store" in unknown.output


def test_chat_with_a_template_less_model_warns_once_and_completes(fake_model, monkeypatch):
    real_resolve = ModelStore.resolve
    monkeypatch.setattr(
        ModelStore,
        "resolve",
        lambda self, name=None, pull=True: dataclasses.replace(real_resolve(self, name), has_chat_template=False),
    )
    fake_model.enqueue(" fine, thanks.")
    result = invoke("chat", "How are you?", "--system", "Be nice.")
    assert result.exit_code == 0 and result.stdout == " fine, thanks.\n"
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "no chat template: completion mode" in warnings[0]
    assert fake_model.completion_calls[0]["prompt"] == "Be nice.\n\nHow are you?\n" and fake_model.calls == []
