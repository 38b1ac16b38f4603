"""rag eval: QA file rows (one line naming file:line:field), relevance by source or answer, the metrics."""

from __future__ import annotations

import json

import pytest

from llmdeck.core.errors import BadInput
from llmdeck.rag.stores import Hit
from llmdeck.services import rag_eval
from llmdeck.services.rag_eval import Outcome, Question, evaluate, first_relevant, format_report, load_qa, score


def write(path, *rows) -> str:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return str(path)


def hit(source: str, text: str = "") -> Hit:
    return Hit(text, {"source": source}, 1.0, source)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (['{"question": "q", "sources": ["a.md"]}', "not json"], r"qa.jsonl:2: not valid JSON"),
        ([{"question": "q"}], r"qa.jsonl:1: sources: missing \(give the expected file names, an answer, or both\)"),
        ([{"question": "", "sources": ["a.md"]}], r"qa.jsonl:1: question: String should have at least 1 character"),
        ([{"question": "q", "sources": "a.md"}], r"qa.jsonl:1: sources: Input should be a valid list"),
        ([{"question": "q", "sources": ["a.md"], "asnwer": "x"}], r"qa.jsonl:1: asnwer: unknown field"),
        ([{"question": "q", "sources": [" "]}], r"qa.jsonl:1: sources: a source name is blank"),
        ([{"question": "q", "answer": 3}], r"qa.jsonl:1: answer: Input should be a valid string"),
        (["[1]", "[2]"], r"qa.jsonl:1: expected an object, found list \(and 1 more bad rows\)"),
        ([""], r"--qa .*qa.jsonl: no questions"),
    ],
)
def test_bad_rows_are_one_line_naming_file_line_and_field(tmp_path, rows, message):
    with pytest.raises(BadInput, match=message) as caught:
        load_qa(write(tmp_path / "qa.jsonl", *rows))
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(BadInput, match=r"--qa .*nope.jsonl: no such file"):
        load_qa(tmp_path / "nope.jsonl")


def test_relevance_by_file_name_path_suffix_or_answer_text():
    by_source = Question(1, "q1", "?", ["library/functools.rst"], None)
    assert first_relevant(by_source, [hit("/docs/os.rst"), hit("/docs/library/functools.rst")]) == 2
    assert first_relevant(Question(1, "q", "?", ["functools.rst"], None), [hit("/x/functools.rst")]) == 1
    assert first_relevant(by_source, [hit("/docs/functools.rst")]) is None  # a different folder
    by_answer = Question(2, "q2", "?", [], "Pompeii")
    assert first_relevant(by_answer, [hit("a.md", "no"), hit("b.md", "buried\n  POMPEII under ash")]) == 2


def test_recall_and_mrr_from_ranks():
    questions = [Question(n, f"q{n}", "?", ["a.md"], None) for n in range(1, 5)]
    result = score(questions, [Outcome(1, []), Outcome(3, []), Outcome(None, []), Outcome(7, [])], "dense")
    assert result.recall_1.value == 0.25 and result.recall_5.value == 0.5
    assert result.mrr_10.value == pytest.approx((1 + 1 / 3 + 0 + 1 / 7) / 4)
    assert result.recall_1.low is not None and 0 < result.recall_1.low < 0.25 < result.recall_1.high


class FakeRetriever:
    """dense finds a.md second, bm25 finds it first; nothing relevant for the second question."""

    def search(self, question, k, mode):
        if "apples" in question:
            return {"dense": [hit("b.md"), hit("a.md")], "bm25": [hit("a.md")], "hybrid": [hit("a.md"), hit("b.md")]}[
                mode
            ]
        return [hit("z.md")] * k


def test_every_mode_side_by_side_with_misses_and_json(tmp_path, monkeypatch):
    monkeypatch.setattr(rag_eval, "open_retriever", lambda collection, progress=True: FakeRetriever())
    qa = write(
        tmp_path / "qa.jsonl",
        {"question": "apples?", "sources": ["a.md"]},
        {"question": "pears?", "sources": ["p.md"], "id": "pears"},
    )
    seen: list[tuple[int, int]] = []
    report = evaluate("docs", qa, on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (6, 6)
    values = {r.mode: (r.recall_1.value, r.recall_5.value, r.mrr_10.value) for r in report.results}
    assert values == {"dense": (0.0, 0.5, 0.25), "bm25": (0.5, 0.5, 0.5), "hybrid": (0.5, 0.5, 0.5)}
    text = format_report(report)
    assert "dense    0.000" in text and "pears: 'pears?'" in text and "expected p.md; got z.md" in text
    data = report.to_dict()
    assert data["per_question"][0]["dense"] == {"rank": 2, "returned": ["b.md", "a.md"]}
    assert set(data["recall@1_vs_first"]) == {"bm25", "hybrid"}


def test_duplicate_ids_and_unknown_modes_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(rag_eval, "open_retriever", lambda collection, progress=True: FakeRetriever())
    qa = write(
        tmp_path / "qa.jsonl",
        {"question": "a", "answer": "x", "id": "same"},
        {"question": "b", "answer": "y", "id": "same"},
    )
    with pytest.raises(BadInput, match=r"qa.jsonl:2: id: 'same' is used by an earlier row"):
        evaluate("docs", qa)
    with pytest.raises(BadInput, match="--retrieval 'sparse'"):
        evaluate("docs", qa, modes=["sparse"])


def test_cli_bad_row_is_one_line_exit_2(cli, tmp_path):
    qa = write(tmp_path / "qa.jsonl", {"question": "q", "sources": ["a.md"]}, {"question": 5, "sources": ["a.md"]})
    result = cli("rag", "eval", "docs", "--qa", qa)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().endswith("qa.jsonl:2: question: Input should be a valid string")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
