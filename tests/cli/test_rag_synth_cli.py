"""`llmdeck rag synth` in-process on the scripted model and a scripted collection: the --json lines, progress on
stderr, the summary, and one-line errors with exit 2."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME
from llmdeck.services import rag_synth
from tests.services.test_rag_synth import CHUNKS, FakeRetriever

M = EMBEDDED_CHAT_MODEL_NAME


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def collection(monkeypatch):
    fake = FakeRetriever()
    monkeypatch.setattr(rag_synth, "open_retriever", lambda collection, progress=True: fake)
    monkeypatch.setattr(rag_synth.Synthesis, "chunk_order", lambda self: ["c-tides", "c-bread"])
    return fake


def test_json_lines_on_stdout_and_progress_on_stderr(fake_model, collection, tmp_path):
    fake_model.enqueue("Question: Why is the sea higher at some hours?\nAnswer: The Moon.", "no idea")
    out, sft = tmp_path / "qa.jsonl", tmp_path / "sft.jsonl"
    result = invoke("rag", "synth", "docs", "--out", str(out), "--sft", str(sft), "--limit", "2", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["synth_start", "synth_question", "synth_question", "synth_done"]
    assert lines[0] == {
        "type": "synth_start",
        "collection": "docs",
        "model": M,
        "retrieval": "hybrid",
        "chunks": len(CHUNKS),
        "limit": 2,
        "max_chunks": 6,
    }
    assert {k: v for k, v in lines[1].items() if k != "seconds"} == {
        "type": "synth_question",
        "chunk_id": "c-tides",
        "source": "/d/tides.md",
        "question": "Why is the sea higher at some hours?",
        "answer": "The Moon.",
        "overlap": 0.333,
        "rank": 1,
        "kept": True,
        "reason": None,
        "tried": 1,
        "kept_count": 1,
        "limit": 2,
    }
    assert lines[2]["reason"] == "no question" and lines[2]["kept"] is False
    assert {k: v for k, v in lines[3].items() if k != "seconds"} == {
        "type": "synth_done",
        "collection": "docs",
        "model": M,
        "retrieval": "hybrid",
        "tried": 2,
        "kept": 1,
        "dropped": {"no question": 1, "overlap": 0, "retrieval": 0},
        "out": str(out),
        "sft": str(sft),
        "sft_rows": 1,
    }
    assert result.stderr.splitlines() == [
        f"synth docs: up to 2 questions from at most 6 of its {len(CHUNKS)} chunks, by {M}; retrieval hybrid",
        "[1/2 kept, 1 tried] kept (rank 1): 'Why is the sea higher at some hours?'",
        "[1/2 kept, 2 tried] dropped, no question:",
    ]
    assert len(out.read_text().splitlines()) == 1 and len(sft.read_text().splitlines()) == 1


def test_the_summary_names_the_files_and_the_next_command(fake_model, collection, tmp_path):
    fake_model.default_reply = "Question: What makes a loaf rise in the oven?\nAnswer: Yeast."
    out = tmp_path / "qa.jsonl"
    result = invoke("rag", "synth", "docs", "-o", str(out), "--retrieval", "bm25", "--seed", "4", "-n", "5")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "1 questions kept of 2 chunks tried (dropped: 1 retrieval)",
        f"wrote {out}",
        f"next: llmdeck rag eval docs --qa {out}",
    ]
    assert collection.searches[0][1:] == (5, "bm25")


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (("docs", "--out", "{tmp}/qa.jsonl", "--limit", "0"), "--limit 0: expected at least 1"),
        (("docs", "--out", "{tmp}/f.txt/qa.jsonl"), "--out {tmp}/f.txt/qa.jsonl: {tmp}/f.txt is not a directory"),
        (("docs", "--out", "{tmp}"), "is a directory"),
        (("docs", "--out", "{tmp}/qa.jsonl", "--max-overlap", "2"), "--max-overlap 2.0: expected a share"),
        (("docs", "--out", "{tmp}/qa.jsonl", "--model", "nope"), "nope"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(collection, tmp_path, args, phrase):
    (tmp_path / "f.txt").write_text("x")
    filled = [a.format(tmp=tmp_path) for a in args]
    result = CliRunner().invoke(cli, ["rag", "synth", *filled])
    assert result.exit_code == 2, result.output
    assert phrase.format(tmp=tmp_path) in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not result.stdout and not (tmp_path / "qa.jsonl").exists()


def test_an_unknown_collection_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["rag", "synth", "nope", "--out", str(tmp_path / "qa.jsonl")])
    assert result.exit_code == 2 and result.stderr.startswith("error: collection 'nope' not found"), result.output
    assert len(result.stderr.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == [tmp_path / "llmdeck-home"]
