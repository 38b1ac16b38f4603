"""`llmdeck eval MODEL... --tasks FILE` in-process on the scripted fake model: the table, the --json document,
the --events lines, progress on stderr, a re-run that resumes, and one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME, embedded_chat_model_path
from llmdeck.core.store import ModelStore
from llmdeck.services import evaluate as evaluation
from llmdeck.services.eval_report import wilson

M = EMBEDDED_CHAT_MODEL_NAME


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def evals(tmp_path):
    path = tmp_path / "evals.jsonl"
    rows = [
        {"id": "capital", "prompt": "Capital of France?", "exact": "Paris"},
        {"id": "six", "prompt": "6 * 7?", "regex": r"\b42\b"},
        {"id": "planet", "prompt": "Largest planet?", "choice": ["Mars", "Jupiter"], "answer": 1},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def likes_the_last_option():
    previous = evaluation.set_likelihood(
        lambda spec, qs, n_threads: [[-float(len(o) - i) for i in range(len(o))] for _, o in qs]
    )
    yield
    evaluation.set_likelihood(previous)


def test_json_is_one_document_with_every_metric(fake_model, likes_the_last_option, evals):
    ModelStore().register(embedded_chat_model_path(), name="tuned")
    fake_model.enqueue("Paris", "I don't know", "paris", "42")
    result = invoke("eval", M, "tuned", "--tasks", str(evals), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["models"] == [M, "tuned"] and document["source"] == str(evals)
    low, high = wilson(2, 3)
    assert document["rows"][-1] == {
        "metric": "all checks",
        "kind": "rate",
        "higher_is_better": True,
        "models": {
            M: {"value": round(2 / 3, 4), "n": 3, "low": round(low, 4), "high": round(high, 4)},
            "tuned": {"value": 1.0, "n": 3, "low": round(wilson(3, 3)[0], 4), "high": 1.0},
        },
        "deltas": {"tuned": {"value": round(1 / 3, 4), "low": 0.0, "high": 1.0, "n": 3}},
    }
    assert [row["metric"] for row in document["rows"]] == [
        "exact match",
        "regex match",
        "choice accuracy",
        "all checks",
    ]
    progress = result.stderr.splitlines()
    assert progress[0] == f"eval {evals}: 3 rows x 2 models"
    assert progress[2].startswith(f"[2/6] {M} six regex: fail (")


def test_the_table_then_a_rerun_resumes_without_asking_again(fake_model, likes_the_last_option, evals):
    fake_model.enqueue("Paris", "42")
    first = invoke("eval", M, "--tasks", str(evals))
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert lines[0].split() == ["metric", "n", M]
    assert lines[1].split()[:4] == ["exact", "match", "1", "1.000"]
    assert lines[-1].split()[:4] == ["all", "checks", "3", "1.000"]
    again = invoke("eval", M, "--tasks", str(evals))  # no reply is queued: asking the model would fail
    assert again.exit_code == 0 and again.stdout == first.stdout
    assert again.stderr.splitlines()[0] == f"eval {evals}: 3 rows x 1 models, resuming: 3 done"
    assert again.stderr.splitlines()[1] == f"[1/3] {M} capital exact: pass (stored)"


def test_events_are_json_lines_ending_in_the_report(fake_model, likes_the_last_option, evals):
    fake_model.enqueue("Lyon", "42")
    result = invoke("eval", M, "--tasks", str(evals), "--events", "--limit", "2")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["start", "scored", "scored", "report"]
    assert lines[0] == {"type": "start", "source": str(evals), "models": [M], "rows": 2, "total": 2, "done": 0}
    assert (lines[1]["row_id"], lines[1]["passed"], lines[1]["answer"]) == ("capital", False, "Lyon")
    assert lines[-1]["stopped"] is False and [r["metric"] for r in lines[-1]["rows"]] == [
        "exact match",
        "regex match",
        "all checks",
    ]


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (("--tasks", "{evals}", "--data", "x.txt"), "give --tasks FILE or --data/--run, not both"),
        (("--judge", M), "--judge goes with --tasks FILE"),
        (("--tasks", "{bad}"), "bad.jsonl:1: exact: expected a non-empty text"),
        (("--tasks", "{evals}", "--max-tokens", "0"), "--max-tokens"),
        (("--tasks", "{missing}"), "missing.jsonl: no such file"),
        (("--tasks", "{binary}"), "binary.jsonl:9: not UTF-8 text (byte 0x80 at column 115)"),
        (("--tasks", "{empty}"), "empty.jsonl: no rows (expected JSON lines with a prompt and one of"),
        (("--tasks", "/dev/zero"), "/dev/zero: is a device, not a regular file"),
        (("--tasks", "{messages}"), "messages.jsonl:1: prompt: Field required; "),
    ],
)
def test_bad_input_is_one_line_exit_2_and_stores_nothing(evals, tmp_path, llmdeck_home, args, phrase):
    files = {name: tmp_path / f"{name}.jsonl" for name in ("bad", "missing", "binary", "empty", "messages")}
    files["bad"].write_text('{"prompt": "Q", "exact": ""}\n')
    files["binary"].write_bytes(bytes(range(256)) * 4)
    files["empty"].write_text("")
    files["messages"].write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    filled = [a.format(evals=evals, **{name: str(path) for name, path in files.items()}) for a in args]
    result = CliRunner().invoke(cli, ["eval", M, *filled])
    assert result.exit_code == 2 and phrase in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not result.stdout
    assert not (llmdeck_home / "llmdeck.db").exists() or not _scores(llmdeck_home)


def _scores(home) -> list:
    import sqlite3

    with sqlite3.connect(home / "llmdeck.db") as conn:
        found = conn.execute("SELECT name FROM sqlite_master WHERE name = 'eval_scores'").fetchall()
        return conn.execute("SELECT * FROM eval_scores").fetchall() if found else []


def test_judge_rows_are_graded_by_the_judge_under_the_rubric(fake_model, tmp_path):
    from llmdeck.services import judge

    evals = tmp_path / "evals.jsonl"
    evals.write_text('{"id": "tides", "prompt": "Why are there tides?", "judge": true, "reference": "The moon."}\n')
    rubric = tmp_path / "terse.txt"
    rubric.write_text("Prefer short answers.\n")
    fake_model.enqueue("The moon pulls the sea.", json.dumps({"reason": "right and short", "score": 9}))
    result = invoke("eval", M, "--tasks", str(evals), "--judge", M, "--rubric", str(rubric), "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["rows"]
    assert row["metric"] == "judge score (1-10)" and row["models"][M] == {"value": 9.0, "n": 1, "low": 9.0, "high": 9.0}
    assert "Prefer short answers." in fake_model.calls[1]["messages"][0]["content"]
    (stored,) = judge.stored_verdicts("grade")
    assert stored["answers"] == ["The moon pulls the sea."] and stored["reference"] == "The moon."
    again = invoke("eval", M, "--tasks", str(evals), "--judge", M, "--rubric", str(rubric), "--json")
    assert json.loads(again.stdout)["rows"] == [row] and len(fake_model.calls) == 2  # re-read, not re-judged
