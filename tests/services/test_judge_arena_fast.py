"""The judge (grammar-constrained verdicts, both-orders pairwise rule, stored verdicts) and the arena's votes,
leaderboard and preference rows, on the scripted fake model."""

from __future__ import annotations

import json
import math
import random

import pytest

from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME, embedded_chat_model_path
from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.store import ModelStore
from llmdeck.services import arena, judge
from llmdeck.services.agent_bench import parse_model


def verdict(winner: str, reason: str = "ok") -> str:
    return json.dumps({"reason": reason, "winner": winner})


@pytest.mark.parametrize(
    ("forward", "backward_shown", "expected"),
    [
        ("A", "B", "A"),  # A wins shown first and shown second
        ("B", "A", "B"),
        ("A", "A", "tie"),  # the judge picks whatever is shown first: position bias, a tie
        ("B", "B", "tie"),
        ("tie", "B", "tie"),
        ("tie", "tie", "tie"),
    ],
)
def test_pairwise_asks_in_both_orders_and_ties_when_they_disagree(fake_model, forward, backward_shown, expected):
    fake_model.enqueue(verdict(forward), verdict(backward_shown))
    result = judge.compare("2+2?", "4", "5", judge_model=EMBEDDED_CHAT_MODEL_NAME)
    assert result.winner == expected
    assert result.forward == forward and result.backward == judge.swapped(backward_shown)  # type: ignore[arg-type]
    first, second = (call["messages"][1]["content"] for call in fake_model.calls)
    assert first.index("[Answer A]\n4") < first.index("[Answer B]\n5")
    assert second.index("[Answer A]\n5") < second.index("[Answer B]\n4")  # the other order


def test_verdicts_are_decoded_under_a_json_schema_grammar(fake_model):
    fake_model.enqueue(json.dumps({"reason": "right, terse", "score": 8}))
    result = judge.grade("4", "2+2?", reference="4", judge_model=EMBEDDED_CHAT_MODEL_NAME)
    assert (result.score, result.reason, result.stored) == (8, "right, terse", False)
    call = fake_model.calls[0]
    assert call["grammar"]._grammar == judge.grammar_text(judge.GRADE_SCHEMA)
    assert call["temperature"] == 0.0 and call["max_tokens"] == judge.token_budget()
    assert "[Reference answer]\n4" in call["messages"][1]["content"]
    assert judge.DEFAULT_RUBRIC.criteria in call["messages"][0]["content"]


def test_the_verdict_grammars_admit_only_scores_1_to_10_and_the_three_picks():
    rules = dict(line.split(" ::= ", 1) for line in judge.grammar_text(judge.GRADE_SCHEMA).splitlines())
    assert rules["score"] == " | ".join(f'"{n}"' for n in range(1, 11))
    assert rules["root"] == '"{" space reason-kv "," space score-kv "}" space'
    assert rules["char"].startswith('[^"\\\\\\x7F\\x00-\\x1F]')  # no raw control characters in the reason
    pair = dict(line.split(" ::= ", 1) for line in judge.grammar_text(judge.PAIR_SCHEMA).splitlines())
    assert pair["winner"] == '"\\"A\\"" | "\\"B\\"" | "\\"tie\\""'
    judge.grammar_for(judge.PAIR_SCHEMA)  # llama.cpp parses it


def test_a_stored_verdict_is_reread_without_the_judge(fake_model):
    fake_model.enqueue(verdict("A"), verdict("B"))
    first = judge.compare("Q?", "good", "bad", judge_model=EMBEDDED_CHAT_MODEL_NAME)
    again = judge.compare("Q?", "good", "bad", judge_model=EMBEDDED_CHAT_MODEL_NAME)  # no reply left: must not ask
    assert (first.winner, again.winner, again.stored) == ("A", "A", True)
    assert len(fake_model.calls) == 2
    assert [v["verdict"]["winner"] for v in judge.stored_verdicts("compare")] == ["A"]


def test_an_unparsable_or_out_of_range_verdict_is_an_error_not_a_crash(fake_model):
    fake_model.enqueue("I think A", json.dumps({"reason": "x", "score": 11}))
    with pytest.raises(LlmdeckError, match="is not JSON"):
        judge.compare("Q?", "a", "b", judge_model=EMBEDDED_CHAT_MODEL_NAME)
    with pytest.raises(LlmdeckError, match="not 1-10"):
        judge.grade("a", "Q?", judge_model=EMBEDDED_CHAT_MODEL_NAME)


def test_a_user_rubric_file_is_what_the_judge_reads(fake_model, tmp_path):
    rubric_file = tmp_path / "terse.txt"
    rubric_file.write_text("Prefer the shorter answer.\n")
    fake_model.enqueue(json.dumps({"reason": "short", "score": 9}))
    judge.grade("4", "2+2?", judge_model=EMBEDDED_CHAT_MODEL_NAME, rubric=judge.load_rubric(rubric_file))
    assert "Prefer the shorter answer." in fake_model.calls[0]["messages"][0]["content"]
    (tmp_path / "empty.txt").write_text(" \n")
    with pytest.raises(BadInput, match="empty.txt: the file is empty"):
        judge.load_rubric(tmp_path / "empty.txt")


def make_vote(left: str, right: str, outcome: str, prompt: str = "p", answers=("a", "b")) -> arena.Vote:
    match = arena.Matchup(prompt, parse_model(left), parse_model(right))
    return arena.record_vote(match, answers[0], answers[1], outcome)


def test_leaderboard_on_known_votes():
    for _ in range(3):
        make_vote("x", "y", "left")
    make_vote("y", "x", "left")
    make_vote("x", "y", "tie")
    make_vote("x", "y", "both_bad")
    board = {s.model: s for s in arena.leaderboard(arena.votes())}
    x, y = board["x"], board["y"]
    assert (x.games, x.wins, x.losses, x.ties, x.both_bad) == (6, 3, 1, 1, 1)
    assert (y.wins, y.losses) == (1, 3)
    assert x.win_rate == pytest.approx(4 / 6) and y.win_rate == pytest.approx(2 / 6)
    low, high = arena.wilson(4, 6)
    assert (
        (x.low, x.high) == (low, high)
        and low == pytest.approx(0.3, abs=0.01)
        and high == pytest.approx(0.903, abs=0.01)
    )
    assert x.rating > 1000 > y.rating and x.rating + y.rating == pytest.approx(2000)
    assert [s.model for s in arena.leaderboard(arena.votes())] == ["x", "y"]


def test_bradley_terry_strengths_solve_the_likelihood_equations():
    games = [("x", "y", 1.0)] * 3 + [("x", "y", 0.0), ("y", "z", 1.0), ("x", "z", 0.5)]
    strength = arena.bradley_terry_strengths(games)
    for model in strength:  # at the maximum, each model's expected score equals its observed score
        observed = 0.5 + sum(s if model == a else 1 - s for a, b, s in games if model in (a, b))
        expected = strength[model] / (strength[model] + 1) + sum(
            strength[model] / (strength[a] + strength[b]) for a, b, _ in games if model in (a, b)
        )
        assert expected == pytest.approx(observed, abs=1e-6)
    assert strength["x"] > strength["y"] > strength["z"]
    ratings = arena.bradley_terry(games)
    assert ratings["x"] - ratings["y"] == pytest.approx(400 * math.log10(strength["x"] / strength["y"]))


def test_votes_become_preference_rows_that_dpo_data_check_accepts(tmp_path):
    make_vote("x", "y", "left", "Capital of France?", ("Paris.", "Rome."))
    make_vote("x", "y", "right", "2+2?", ("5", "4"))
    make_vote("x", "y", "tie", "Hi", ("Hello", "Hey"))
    make_vote("x", "y", "left", "Same?", ("yes", "yes"))
    export = arena.write_preference(tmp_path / "votes")
    assert (export.rows, export.votes, export.skipped) == (2, 4, 2)
    rows = [json.loads(line) for line in export.path.read_text().splitlines()]
    assert [(r["prompt"], r["chosen"], r["rejected"]) for r in rows] == [
        ("Capital of France?", "Paris.", "Rome."),
        ("2+2?", "4", "5"),
    ]
    from llmdeck.tuning.data.prepare import prepare

    prepared = prepare(str(export.path), "auto", "dpo")
    assert prepared.report.format == "preference" and prepared.report.bad_count == 0
    assert len(prepared.examples) == 2
    assert prepared.examples[0]["chosen"] == [{"role": "assistant", "content": "Paris."}]


def test_no_decisive_vote_writes_nothing(tmp_path):
    make_vote("x", "y", "tie")
    with pytest.raises(BadInput, match="none of the 1 stored votes"):
        arena.write_preference(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_headless_arena_stores_the_judges_votes(fake_model, tmp_path):
    ModelStore().register(embedded_chat_model_path(), name="other")
    first, second = arena.contenders([EMBEDDED_CHAT_MODEL_NAME, "other"])
    rng = random.Random(1)
    expected_left = arena.matchup("q", first, second, random.Random(1)).left.label
    fake_model.enqueue("left answer", "right answer", verdict("A"), verdict("B"))
    (vote,) = arena.judge_arena([arena.ArenaPrompt("Why?")], first, second, "other", rng=rng, max_tokens=16)
    assert vote.left_model == expected_left and vote.outcome == "left" and vote.voter == "judge:other"
    assert (vote.left_answer, vote.right_answer) == ("left answer", "right answer")
    assert fake_model.calls[0]["max_tokens"] == 16
    assert arena.votes("judge") == [vote] and arena.votes("user") == []


def test_contenders_and_prompts_refuse_bad_input(tmp_path):
    with pytest.raises(BadInput, match="expected exactly two"):
        arena.contenders(["a"])
    with pytest.raises(BadInput, match="the same model"):
        arena.contenders(["a", "a"])
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"question": "no"}\n')
    with pytest.raises(BadInput, match=r"p.jsonl:2: prompt: expected a non-empty string"):
        arena.read_prompts(bad)
    plain = tmp_path / "p.txt"
    plain.write_text("one\n\ntwo\n")
    assert [p.prompt for p in arena.read_prompts(plain)] == ["one", "two"]
