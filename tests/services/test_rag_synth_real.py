"""rag synth end to end: the embedded SmolLM2 through llama.cpp writes questions about a real two-document Chroma
collection; the QA file is what `rag eval` scores and the SFT rows are what `llmdeck train` reads."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.rag.ingest import ingest
from llmdeck.services.rag_eval import evaluate, load_qa
from llmdeck.services.rag_synth import content_words
from llmdeck.tuning.data.prepare import prepare

pytestmark = pytest.mark.slow

DOCUMENTS = {
    "tides.md": "# Tides\n\nTides are the regular rise and fall of the sea level caused by the gravity of the Moon and"
    " the Sun acting on the rotating Earth. Most coasts see two high tides and two low tides every day. When the Sun"
    " and the Moon line up, at new and full moon, their pulls add up and give the large spring tides.\n",
    "bread.md": "# Baking bread\n\nBread dough is made from flour, water, salt and yeast. Kneading develops gluten,"
    " the elastic protein network that traps the carbon dioxide produced by the yeast, so the loaf rises. The dough"
    " proofs in a warm place for an hour or two, then bakes in a hot oven until the crust is brown.\n",
}


def test_the_real_model_writes_questions_that_rag_eval_and_train_accept(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCUMENTS.items():
        (corpus / name).write_text(text)
    ingest([corpus], "tiny")
    out, sft = tmp_path / "qa.jsonl", tmp_path / "sft.jsonl"
    args = ["rag", "synth", "tiny", "--out", str(out), "--sft", str(sft), "--limit", "1", "--max-chunks", "2"]
    result = CliRunner().invoke(cli, [*args, "--seed", "1", "--threads", "2", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output

    events = [json.loads(line) for line in result.stdout.splitlines()]
    tried = [e for e in events if e["type"] == "synth_question"]
    done = events[-1]
    assert done["type"] == "synth_done" and done["tried"] == len(tried) <= 2
    assert done["kept"] + sum(done["dropped"].values()) == done["tried"]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == done["kept"] == 1, tried  # seed 1 keeps one on the embedded model, within two chunks
    for row, event in zip(rows, [e for e in tried if e["kept"]]):
        assert row["question"] == event["question"] and row["sources"] == [event["source"]]
        chunk_words = set(content_words(DOCUMENTS[event["source"].rsplit("/", 1)[1]]))
        words = set(content_words(row["question"]))
        assert len(words & chunk_words) / len(words) == pytest.approx(event["overlap"], abs=1e-3)
        assert event["overlap"] <= 0.6

    report = evaluate("tiny", out, ["hybrid"], progress=False)
    assert report.results[0].recall_5.value == 1.0  # kept only when hybrid's top 5 held the source
    assert [q.question for q in load_qa(out)] == [row["question"] for row in rows]
    if done["sft_rows"]:
        prepared = prepare(sft, method="sft")
        assert (prepared.report.format, prepared.report.valid) == ("messages", done["sft_rows"])
    else:
        assert sft.read_text() == ""
