"""`llmdeck eval --tasks` on the real embedded SmolLM2 through the entry point: exact, choice (llama.cpp's
logits) and code (the real sandbox) rows, the choice log-likelihoods checked against the perplexity scorer, and
a re-run that resumes from the stored scores."""

from __future__ import annotations

import json
import math

import pytest

from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME, embedded_chat_model_path
from llmdeck.core.perplexity import score_gguf
from llmdeck.services.scorers import normalize
from tests.conftest import run_cli

ROWS = [
    {
        "id": "capital",
        "prompt": "What is the capital of France? Answer with one word.",
        "exact": "Paris",
        "max_tokens": 8,
    },
    {"id": "water", "prompt": "What is the chemical formula of water?", "choice": ["H2O", "CO2", "NaCl"], "answer": 0},
    {"id": "hello", "prompt": "Write a Python program that prints Hello, World!", "code": {"stdout": "Hello, World!"}},
]


@pytest.mark.slow
def test_exact_choice_and_code_rows_on_the_real_model(tmp_path):
    evals = tmp_path / "evals.jsonl"
    evals.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    result = run_cli(
        "eval", EMBEDDED_CHAT_MODEL_NAME, "--tasks", str(evals), "--max-tokens", "48", "--threads", "1", "--events"
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["type"] for e in events] == ["start", "scored", "scored", "scored", "report"]
    exact, choice, code = events[1:4]

    assert exact["answer"].strip() and exact["value"] == float(normalize(exact["answer"]) == "paris")

    # the options' log-likelihoods are the perplexity scorer's token losses of the same replies (two of them:
    # each check loads the model once more)
    loglikelihoods = choice["detail"]["loglikelihoods"]
    for option, value in list(zip(ROWS[1]["choice"], loglikelihoods))[:2]:
        conversation = {
            "prompt": [{"role": "user", "content": ROWS[1]["prompt"]}],
            "completion": [{"role": "assistant", "content": option}],
        }
        score = score_gguf(embedded_chat_model_path(), [conversation], n_threads=1)
        assert value == pytest.approx(-score.loss * score.tokens, abs=1e-3)
    assert choice["detail"]["picked"] == loglikelihoods.index(max(loglikelihoods))
    assert choice["passed"] is True and choice["answer"] == "H2O"  # SmolLM2-135M knows this one

    assert code["detail"]["isolation"] in ("bubblewrap", "namespaces")  # the real sandbox, isolated
    assert code["passed"] is True and code["detail"]["checks"] == "passed", code

    (all_checks,) = [row for row in events[-1]["rows"] if row["metric"] == "all checks"]
    assert all_checks["models"][EMBEDDED_CHAT_MODEL_NAME]["n"] == 3
    assert all_checks["models"][EMBEDDED_CHAT_MODEL_NAME]["value"] == pytest.approx(round((exact["value"] + 2) / 3, 4))
    assert not math.isnan(all_checks["models"][EMBEDDED_CHAT_MODEL_NAME]["low"])

    again = run_cli(
        "eval", EMBEDDED_CHAT_MODEL_NAME, "--tasks", str(evals), "--max-tokens", "48", "--threads", "1", "--json"
    )
    assert again.returncode == 0, again.stderr
    assert "resuming: 3 done" in again.stderr and again.stderr.count("(stored)") == 3
    assert json.loads(again.stdout)["rows"] == events[-1]["rows"]


@pytest.mark.slow
def test_the_apps_eval_runs_in_a_child_process_and_reports_its_errors(tmp_path):
    from llmdeck.core.errors import BadInput
    from llmdeck.services.evaluate import ApartEvaluation, EvalReported, RowScored, evaluate_apart

    evals = tmp_path / "evals.jsonl"
    evals.write_text(json.dumps(ROWS[0]) + "\n")
    run = evaluate_apart([EMBEDDED_CHAT_MODEL_NAME], evals, max_tokens=8, n_threads=1)
    assert isinstance(run, ApartEvaluation)  # the real model: decoded in the child, not in this process
    events = list(run)
    assert [type(e) for e in events[1:]] == [RowScored, EvalReported] and run.process.returncode == 0
    assert events[1].answer.strip()  # type: ignore[union-attr]

    evals.write_text('{"prompt": "Q"}\n')
    with pytest.raises(BadInput, match=r"evals.jsonl:1: expected exactly one scorer"):
        list(evaluate_apart([EMBEDDED_CHAT_MODEL_NAME], evals))
