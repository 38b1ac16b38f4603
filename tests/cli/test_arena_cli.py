"""`llmdeck arena` (a judge votes), `arena leaderboard` and `data from-votes` in-process on the scripted fake model."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME, embedded_chat_model_path
from llmdeck.core.store import ModelStore
from llmdeck.services import arena


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def verdict(winner: str) -> str:
    return json.dumps({"reason": "r", "winner": winner})


def test_headless_arena_then_leaderboard_then_dpo_data(fake_model, tmp_path):
    ModelStore().register(embedded_chat_model_path(), name="tuned")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "2+2?", "reference": "4"}\n{"prompt": "Capital of France?"}\n')
    # per prompt: the left answer, the right answer, the judge with A first, then with B first
    fake_model.enqueue("four", "4", verdict("B"), verdict("A"), "Paris", "Lyon", verdict("A"), verdict("A"))
    result = invoke(
        "arena", "--prompts", str(prompts), "--model", EMBEDDED_CHAT_MODEL_NAME, "--model", "tuned",
        "--judge", EMBEDDED_CHAT_MODEL_NAME, "--max-tokens", "8", "--seed", "3", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    first, second = document["votes"]
    assert (first["outcome"], first["right_answer"], first["voter"]) == (
        "right",
        "4",
        f"judge:{EMBEDDED_CHAT_MODEL_NAME}",
    )
    assert second["outcome"] == "tie" and second["detail"]["forward"] == "A" and second["detail"]["backward"] == "B"
    assert "[Reference answer]\n4" in fake_model.calls[2]["messages"][1]["content"]
    assert {row["model"] for row in document["leaderboard"]} == {EMBEDDED_CHAT_MODEL_NAME, "tuned"}
    assert [v.to_dict() for v in arena.votes()] == document["votes"]

    board = json.loads(invoke("arena", "leaderboard", "--json").stdout)
    assert board["votes"] == 2 and board["leaderboard"] == document["leaderboard"]

    result = invoke("data", "from-votes", "--out", str(tmp_path / "votes"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "path": str(tmp_path / "votes" / "preference.jsonl"), "rows": 1, "votes": 2, "skipped": 1,
    }  # fmt: skip
    row = json.loads((tmp_path / "votes" / "preference.jsonl").read_text())
    assert (row["prompt"], row["chosen"], row["rejected"]) == ("2+2?", "4", "four")
    check = invoke("data", "check", str(tmp_path / "votes" / "preference.jsonl"), "--no-tokens", "--json")
    assert check.exit_code == 0 and json.loads(check.stdout)["format"] == "preference"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["arena", "--model", "a", "--model", "b", "--judge", "a"], "arena: --prompts FILE is required"),
        (["arena", "--prompts", "p.txt", "--model", "a", "--model", "b"], "arena: --judge MODEL is required"),
        (["arena", "--prompts", "p.txt", "--model", "a", "--judge", "a"], "--model: expected exactly two"),
        (
            ["arena", "--prompts", "missing.txt", "--model", "a", "--model", "b", "--judge", "a"],
            "--prompts missing.txt",
        ),
        (["data", "from-votes", "--out", "out"], "data from-votes: none of the 0 stored votes"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.txt").write_text("hi\n")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
