"""A second architecture: a tiny Qwen2 base GGUF without a chat template trains on text, refuses conversations
without --chat-template (one line), trains them with one, and chats in completion mode."""

from __future__ import annotations

import json

import pytest

from llmdeck.tuning import data
from tests.tuning.conftest import write_articles

pytestmark = pytest.mark.slow


def in_process(*args: str):
    from click.testing import CliRunner

    from llmdeck.cli.main import cli

    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def base(cli, templateless_gguf):
    imported = cli("models", "import", str(templateless_gguf), "--name", "tiny-qwen2-base", "--json")
    assert imported.returncode == 0, imported.stderr
    entry = json.loads(imported.stdout)
    assert entry["architecture"] == "qwen2" and entry["has_chat_template"] is False
    return "tiny-qwen2-base"


def test_text_trains_conversations_need_a_template(base, cli, tmp_path):
    articles = write_articles(tmp_path / "articles.txt")
    checked = cli("data", "check", str(articles), "--model", base, "--max-length", "64", "--json")
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["format"] == "text" and report["valid"] == 12 and report["blocks"] > 12
    text_run = cli(
        "train",
        "--base-model",
        base,
        "--dataset",
        str(articles),
        "--max-length",
        "64",
        "--max-steps",
        "2",
        "--batch-size",
        "2",
        "--wait",
        "--json",
    )
    assert text_run.returncode == 0, text_run.stderr[-2000:]
    run = json.loads(text_run.stdout)["run"]
    assert run["status"] == "completed" and run["base_model"] == base
    assert [
        row["tokens_seen"]
        for row in map(json.loads, cli("runs", "metrics", run["id"], "--json").stdout.splitlines())
        if "loss" in row
    ] == [128, 256]  # full 64-token blocks, two per step

    # the refusals in-process (click's CliRunner, as the bad-input corpus): each subprocess loaded the tokenizer anew
    refused = in_process("train", "--base-model", base, "--dataset", str(data.bundled_sample()), "--dry-run")
    assert refused.exit_code == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.count("\n") == 1 and "--chat-template chatml|llama3|gemma|FILE" in refused.stderr
    checked = in_process("data", "check", str(data.bundled_sample()), "--model", base)
    assert checked.exit_code == 2 and "--chat-template chatml|llama3|gemma|FILE" in checked.stderr
    wrong = in_process("train", "--base-model", base, "--chat-template", "gemma", "--dry-run")
    assert wrong.exit_code == 2 and "<end_of_turn>" in wrong.stderr and "not a single token" in wrong.stderr

    chat_run = cli(
        "train",
        "--base-model",
        base,
        "--chat-template",
        "chatml",
        "--max-length",
        "128",
        "--max-steps",
        "2",
        "--batch-size",
        "2",
        "--wait",
        "--json",
    )
    assert chat_run.returncode == 0, chat_run.stderr[-2000:]
    run = json.loads(chat_run.stdout)["run"]
    assert run["status"] == "completed" and run["config"]["chat_template"] == "chatml"
    from transformers import AutoTokenizer

    saved = AutoTokenizer.from_pretrained(run["adapter"])  # what export reads: template and stop token travel along
    assert saved.eos_token == "<|im_end|>" and "<|im_start|>" in saved.chat_template


def test_complete_and_chat_in_completion_mode(base, cli):
    completed = cli("complete", base, "Once upon a time", "--max-tokens", "5", "--temperature", "0", "--json")
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    assert lines[-1]["type"] == "done" and lines[-1]["model"] == base and lines[-1]["tokens"] >= 1
    assert "".join(line["text"] for line in lines[:-1])
    chatted = cli("chat", "--model", base, "hello", "--max-tokens", "4", "--temperature", "0")
    assert chatted.returncode == 0, chatted.stderr
    warnings = [line for line in chatted.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "no chat template" in warnings[0] and "llmdeck complete" in warnings[0]
    with_template = cli("chat", "hello", "--max-tokens", "4", "--temperature", "0")  # the embedded model has one
    assert with_template.returncode == 0 and "warning" not in with_template.stderr
