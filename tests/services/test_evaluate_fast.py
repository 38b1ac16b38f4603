"""`services.evaluate` and its scorers on the scripted fake model: every scorer on answers whose score is known,
the eval file's row-by-row errors, two models compared in one report, and a stopped eval resumed."""

from __future__ import annotations

import json

import pytest

from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME, embedded_chat_model_path
from llmdeck.core.errors import BadInput
from llmdeck.core.store import ModelStore
from llmdeck.services import evaluate as evaluation
from llmdeck.services import scorers
from llmdeck.services.eval_tasks import EvalRow, load_eval_file
from llmdeck.services.evaluate import EvalReported, EvalStarted, RowScored

M = EMBEDDED_CHAT_MODEL_NAME
ADD = "```python\ndef add(a, b):\n    return a + b\n```"


def row(**fields) -> EvalRow:
    return EvalRow(prompt="Q?", **fields)


@pytest.mark.parametrize(
    ("fields", "answer", "value", "matched"),
    [
        ({"exact": "Paris"}, "  paris. ", 1.0, "Paris"),
        ({"exact": "Paris"}, '"Paris"', 1.0, "Paris"),
        ({"exact": ["Paris", "Paris, France"]}, "Paris,   France", 1.0, "Paris, France"),
        ({"exact": "Paris"}, "It is Paris.", 0.0, None),  # exact is exact: contains would pass it
        ({"exact": "Paris"}, "Lyon", 0.0, None),
        ({"contains": ["red", "blue"]}, "I'd say BLUE, mostly", 1.0, "blue"),
        ({"contains": "red"}, "green", 0.0, None),
        ({"regex": r"\b42\b"}, "6 * 7 = 42.", 1.0, "42"),
        ({"regex": r"\b42\b"}, "It is 420", 0.0, None),
    ],
)
def test_text_scorers_on_known_answers(fields, answer, value, matched):
    score = scorers.score_text(row(**fields), answer)
    assert (score.value, score.passed, score.detail, score.answer) == (value, bool(value), {"matched": matched}, answer)


@pytest.mark.parametrize(
    ("code", "answer", "passed", "checks"),
    [
        ({"tests": "assert add(2, 3) == 5"}, ADD, True, "passed"),
        (
            {"tests": "assert add(2, 3) == 5"},
            "def add(a, b):\n    return a - b",
            False,
            "failed",
        ),  # no fence: all of it
        ({"tests": "def test_add():\n    assert add(1, 1) == 2"}, ADD, True, "passed"),
        ({"stdout": "1\n4\n9"}, "```python\nfor i in (1, 2, 3):\n    print(i * i)\n```", True, "passed"),
        ({"stdout": "1\n4\n9"}, "```python\nprint(1, 4, 9)\n```", False, "failed"),
        ({"stdout": "ok"}, "```python\nraise SystemExit(3)\n```", False, "not run"),
    ],
)
def test_code_scorer_runs_the_program_and_its_checks_in_the_sandbox(code, answer, passed, checks):
    score = scorers.score_code(row(code=code), answer, isolation="process")
    assert (score.passed, score.detail["checks"], score.detail["isolation"]) == (passed, checks, "process")


def test_code_rows_ask_with_their_checks_shown():
    prompt = scorers.code_prompt(row(code={"tests": "assert add(2, 3) == 5\n"}))
    assert (
        prompt
        == "Q?\n\nThese tests will run against your code (define what they use):\n```python\nassert add(2, 3) == 5\n```"
    )


def test_choice_picks_the_most_likely_option():
    by_text = row(choice=["Mars", "Jupiter", "Venus"], answer="Jupiter")
    assert scorers.score_choice(by_text, [-3.0, -1.5, -2.0]).detail == {
        "picked": 1,
        "right": 1,
        "loglikelihoods": [-3.0, -1.5, -2.0],
    }
    assert scorers.score_choice(by_text, [-3.0, -1.5, -2.0]).passed is True
    wrong = scorers.score_choice(by_text, [-1.0, -1.5, -2.0])
    assert (wrong.passed, wrong.answer) == (False, "Mars")
    by_index = row(choice=["yes", "no"], answer=1)
    assert scorers.score_choice(by_index, [-2.0, -0.5]).passed is True
    assert scorers.score_choice(by_index, [-0.5, -0.5]).answer == "yes"  # equals: the first


def test_judge_scorer_is_the_judges_grade(fake_model):
    fake_model.enqueue(json.dumps({"reason": "correct", "score": 7}))
    score = scorers.score_judge(row(judge=True, reference="4"), "four", M)
    assert (score.value, score.passed, score.detail["reason"]) == (7.0, None, "correct")
    assert "[Reference answer]\n4" in fake_model.calls[0]["messages"][1]["content"]


def write(path, *rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (
            '{"prompt": "Q"}',
            ":2: expected exactly one scorer of exact, contains, regex, choice, code, judge (found none)",
        ),
        ('{"prompt": "Q", "exact": "a", "regex": "b"}', ":2: expected exactly one scorer of"),
        ('{"exact": "a"}', ":2: prompt: Field required"),
        ('{"prompt": "Q", "regex": "("}', ":2: regex: not a valid regular expression"),
        ('{"prompt": "Q", "choice": ["a", "b"], "answer": "c"}', ":2: answer: 'c' is not one of the options"),
        ('{"prompt": "Q", "choice": ["a", "b"], "answer": 2}', ":2: answer: index 2 is not an option (0 to 1)"),
        ('{"prompt": "Q", "choice": ["a"], "answer": "a"}', ":2: choice: expected at least two non-empty options"),
        ('{"prompt": "Q", "choice": ["a", "b"]}', ":2: answer: a choice row needs its right option"),
        ('{"prompt": "Q", "choice": ["a", "b"], "answer": true}', ":2: answer.str: Input should be a valid string"),
        ('{"prompt": "Q", "judge": 1}', ":2: judge: Input should be a valid boolean"),
        ('{"prompt": "Q", "code": {}}', ":2: code: expected exactly one of tests (asserts) or stdout"),
        ('{"prompt": "Q", "exact": "a", "reference": "r"}', ":2: reference: only a judge row"),
        ('{"prompt": "Q", "exact": "a", "tempo": 1}', ":2: tempo: Extra inputs are not permitted"),
        ('{"prompt": "Q", "exact": []}', ":2: exact: expected a non-empty text"),
        ('{"id": "x", "prompt": "Q", "exact": "a"}', ":2: id: 'x' is already used on line 1"),
        ("[1, 2]", ":2: expected an object, found list"),
        ('{"prompt": ', ":2: not valid JSON"),
        # hostile numbers and nesting get the readers' shared answer (core.validate), not a traceback
        ('{"prompt": "Q", "exact": "a", "n": ' + "9" * 5000 + "}", ":2: n: a 5000-digit integer is out of range"),
        ('{"prompt": "Q", "exact": ' + "[" * 100_000 + "]" * 100_000 + "}", ":2: nested too deeply"),
    ],
)
def test_a_bad_row_names_its_file_line_and_field(tmp_path, line, problem):
    path = write(tmp_path / "evals.jsonl", {"id": "x", "prompt": "Q", "exact": "a"}, line)
    with pytest.raises(BadInput) as caught:
        load_eval_file(path)
    assert str(caught.value).startswith(f"{path}{problem}")


def test_every_bad_row_is_reported_at_once(tmp_path):
    path = write(tmp_path / "evals.jsonl", '{"prompt": "Q"}', "", '{"prompt": "Q", "exact": "a"}', "nope")
    with pytest.raises(BadInput) as caught:
        load_eval_file(path)
    message = str(caught.value)
    assert f"{path}:1: expected exactly one scorer" in message and f"{path}:4: not valid JSON" in message
    assert "\n" not in message
    ids = [task.id for task in load_eval_file(write(tmp_path / "ok.jsonl", {"prompt": "Q", "exact": "a"})).tasks]
    assert ids == ["line-1"]


def test_judge_rows_need_a_judge(tmp_path):
    path = write(tmp_path / "evals.jsonl", {"prompt": "Q", "exact": "a"}, {"prompt": "Explain.", "judge": True})
    with pytest.raises(BadInput, match=r"evals.jsonl:2: a judge row needs --judge MODEL"):
        evaluation.evaluate([M], path)


@pytest.fixture
def likelihood():
    """Scripted log-likelihoods: the base model prefers the first option, the tuned one the right one."""
    asked: list[tuple[str, list]] = []

    def scripted(spec, questions, n_threads):
        asked.append((spec.label, questions))
        right = {"Largest planet?": 1, "2 + 2?": 0}
        return [
            [0.0 if i == (right[q[-1]["content"]] if spec.label == "tuned" else 0) else -5.0 for i in range(len(opts))]
            for q, opts in questions
        ]

    previous = evaluation.set_likelihood(scripted)
    yield asked
    evaluation.set_likelihood(previous)


def eval_file(tmp_path) -> str:
    return write(
        tmp_path / "evals.jsonl",
        {"id": "capital", "prompt": "Capital of France?", "exact": "Paris"},
        {"id": "colour", "prompt": "A primary colour?", "contains": ["red", "blue", "yellow"]},
        {"id": "planet", "prompt": "Largest planet?", "choice": ["Mars", "Jupiter"], "answer": "Jupiter"},
        {"id": "four", "prompt": "2 + 2?", "choice": ["4", "5"], "answer": 0},
        {"id": "add", "prompt": "Write add(a, b).", "code": {"tests": "assert add(2, 3) == 5"}},
    )


def test_two_models_scored_and_compared_in_one_report(fake_model, likelihood, tmp_path):
    ModelStore().register(embedded_chat_model_path(), name="tuned")
    # base: right, wrong, wrong program; tuned: right, right, right program (choice rows are not answered)
    fake_model.enqueue("Paris", "green", "```python\ndef add(a, b):\n    return a * b\n```")
    fake_model.enqueue("Paris.", "Red!", ADD)
    run = evaluation.evaluate([M, "tuned"], eval_file(tmp_path), max_tokens=32, isolation="process")
    events = list(run)
    assert events[0] == EvalStarted(str(tmp_path / "evals.jsonl"), [M, "tuned"], 5, 10, 0)
    scored = [e for e in events if isinstance(e, RowScored)]
    assert [(e.model, e.row_id, e.passed) for e in scored] == [
        (M, "capital", True),
        (M, "colour", False),
        (M, "planet", False),
        (M, "four", True),
        (M, "add", False),
        ("tuned", "capital", True),
        ("tuned", "colour", True),
        ("tuned", "planet", True),
        ("tuned", "four", True),
        ("tuned", "add", True),
    ]
    assert [e.done for e in scored] == list(range(1, 11)) and not any(e.resumed for e in scored)
    assert [label for label, _ in likelihood] == [M, "tuned"]  # one likelihood pass per model, both choice rows
    assert likelihood[0][1] == [
        ([{"role": "user", "content": "Largest planet?"}], ["Mars", "Jupiter"]),
        ([{"role": "user", "content": "2 + 2?"}], ["4", "5"]),
    ]
    assert all(call["temperature"] == 0.0 and call["max_tokens"] == 32 for call in fake_model.calls)
    assert fake_model.calls[2]["messages"][0] == {"role": "system", "content": scorers.CODE_SYSTEM}
    report = events[-1]
    assert isinstance(report, EvalReported) and not report.stopped
    rows = {r["metric"]: r for r in report.rows}
    assert list(rows) == ["exact match", "contains", "choice accuracy", "code pass@1", "all checks"]
    assert rows["all checks"]["models"][M]["value"] == 0.4 and rows["all checks"]["models"]["tuned"]["value"] == 1.0
    assert rows["all checks"]["models"][M]["n"] == 5
    assert rows["all checks"]["deltas"]["tuned"]["value"] == 0.6 and rows["all checks"]["deltas"]["tuned"]["n"] == 5
    assert rows["choice accuracy"]["deltas"]["tuned"]["value"] == 0.5
    assert rows["exact match"]["deltas"]["tuned"] == {"value": 0.0, "low": 0.0, "high": 0.0, "n": 1}


def test_a_stopped_eval_resumes_where_it_stopped(fake_model, likelihood, tmp_path):
    path = eval_file(tmp_path)
    fake_model.enqueue("Paris", "blue")
    run = evaluation.evaluate([M], path, isolation="process")
    for event in run:
        if isinstance(event, RowScored) and event.row_id == "colour":
            run.close()  # as the CLI does on Ctrl-C: stop after this row
    assert isinstance(event, EvalReported) and event.stopped
    assert [r["models"][M]["n"] for r in event.rows] == [1, 1, 0, 0, 2]
    fake_model.enqueue(ADD)  # only the rows not done are asked again
    events = list(evaluation.evaluate([M], path, isolation="process"))
    assert events[0].done == 2  # type: ignore[union-attr]
    scored = [e for e in events if isinstance(e, RowScored)]
    assert [(e.row_id, e.resumed, e.passed) for e in scored] == [
        ("capital", True, True),
        ("colour", True, True),
        ("planet", False, False),
        ("four", False, True),
        ("add", False, True),
    ]
    assert len(fake_model.calls) == 3 and len(likelihood) == 1  # choice rows were not reached before the stop
    assert not events[-1].stopped  # type: ignore[union-attr]
    again = list(evaluation.evaluate([M], path, isolation="process"))  # nothing left: all re-read
    assert all(e.resumed for e in again if isinstance(e, RowScored)) and len(fake_model.calls) == 3
    assert again[-1].rows == events[-1].rows  # type: ignore[union-attr]


def test_a_changed_row_or_answer_cap_is_scored_again(fake_model, likelihood, tmp_path):
    path = write(tmp_path / "evals.jsonl", {"id": "capital", "prompt": "Capital of France?", "exact": "Paris"})
    fake_model.enqueue("Paris", "Paris", "Lyon")
    list(evaluation.evaluate([M], path))
    list(evaluation.evaluate([M], path, max_tokens=16))  # another cap: another answer
    write(tmp_path / "evals.jsonl", {"id": "capital", "prompt": "Capital of France?", "exact": "Lyon"})
    events = list(evaluation.evaluate([M], path))
    assert len(fake_model.calls) == 3 and events[1].passed is True  # type: ignore[union-attr]


def test_judge_rows_report_the_mean_grade(fake_model, tmp_path):
    path = write(
        tmp_path / "evals.jsonl",
        {"id": "a", "prompt": "Explain recursion.", "judge": True},
        {"id": "b", "prompt": "Explain tides.", "judge": True, "reference": "The moon's pull."},
    )
    fake_model.enqueue("It calls itself.", json.dumps({"reason": "ok", "score": 6}))
    fake_model.enqueue("Wind.", json.dumps({"reason": "wrong", "score": 2}))
    events = list(evaluation.evaluate([M], path, judge_model=M))
    (row,) = events[-1].rows  # type: ignore[union-attr]
    assert row["metric"] == "judge score (1-10)" and row["kind"] == "mean"
    assert row["models"][M]["value"] == 4.0 and row["models"][M]["n"] == 2
    assert row["models"][M]["low"] == pytest.approx(4.0 - 12.706 * 2.8284 / 1.4142, abs=1e-3)


def test_the_same_model_twice_and_an_unknown_model_are_refused(tmp_path):
    path = eval_file(tmp_path)
    with pytest.raises(BadInput, match="the same MODEL twice"):
        evaluation.evaluate([M, M], path)
    with pytest.raises(BadInput, match="'ghost' is not in the store"):
        evaluation.evaluate([M, "ghost"], path)
