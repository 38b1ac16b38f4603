"""rag synth on the scripted model and a scripted collection: the reply parsed, the overlap and retrieval filters,
the QA file `rag eval` reads and the SFT rows the data validator accepts, the seeded order, the limits, a stop that
writes nothing, and bad input as one line."""

from __future__ import annotations

import json
import sys

import pytest

from llmdeck.core.errors import BadInput
from llmdeck.rag.chat import SYSTEM_PROMPT, format_sources
from llmdeck.rag.stores import Hit
from llmdeck.services import rag_synth
from llmdeck.services.rag_eval import load_qa
from llmdeck.services.rag_synth import (
    QuestionSynthesized,
    SynthFinished,
    SynthStarted,
    parse_reply,
    synthesize,
    word_overlap,
)
from llmdeck.tuning.data.prepare import prepare

CHUNKS = {
    "c-tides": (
        "Tides are the regular rise and fall of the sea level caused by the gravity of the Moon and the Sun acting on"
        " the rotating Earth. Most coasts see two high tides and two low tides every day.",
        {"source": "/d/tides.md", "chunk": 0},
    ),
    "c-bees": (
        "Honey bees live in colonies with one queen, thousands of female workers and a few hundred male drones."
        " Workers collect nectar and pollen from flowers and turn the nectar into honey stored in wax combs.",
        {"source": "/d/bees.md", "chunk": 0},
    ),
    "c-bread": (
        "Bread dough is made from flour, water, salt and yeast. Kneading develops gluten, the elastic protein network"
        " that traps the carbon dioxide produced by the yeast, so the loaf rises in a warm place.",
        {"source": "/d/bread.md", "chunk": 0},
    ),
    "c-lava": (
        "A volcano is an opening in the crust through which molten rock, ash and gases escape from below the"
        " surface. When magma reaches the surface it is called lava, and it flows slowly down the slopes.",
        {"source": "/d/lava.md", "chunk": 0},
    ),
    "c-short": ("# Tides", {"source": "/d/tides.md", "chunk": 1}),
}


class FakeStore:
    def __init__(self):
        self.fetched: list[list[str]] = []

    def texts(self, ids):
        self.fetched.append(list(ids))
        return {i: CHUNKS[i] for i in ids if i in CHUNKS}


class FakeRetriever:
    """Finds a source by a keyword of the question; `missing` sources are never found."""

    KEYWORDS = {"sea": "/d/tides.md", "insects": "/d/bees.md", "loaf": "/d/bread.md", "mountain": "/d/lava.md"}

    def __init__(self, missing=()):
        self.known = set(CHUNKS)
        self.store = FakeStore()
        self.missing = set(missing)
        self.searches: list[tuple[str, int, str]] = []

    def search(self, question, k, mode):
        self.searches.append((question, k, mode))
        found = [s for word, s in self.KEYWORDS.items() if word in question.lower() and s not in self.missing]
        others = [Hit("", {"source": "/d/other.md"}, 0.5, "o")] * 3
        return [Hit("", {"source": s}, 1.0, s) for s in found][:1] + others


@pytest.fixture
def retriever(monkeypatch):
    fake = FakeRetriever()
    monkeypatch.setattr(rag_synth, "open_retriever", lambda collection, progress=True: fake)
    return fake


def order(seed: int) -> list[str]:
    synthesis = rag_synth.Synthesis("docs", "m", "hybrid", None, None, 1, 3, 5, 0.6, seed, FakeRetriever())  # type: ignore[arg-type]
    return [chunk.id for chunk in synthesis.chunks()]


def reply_for(chunk_id: str) -> str:
    return {
        "c-tides": "Question: Why is the sea higher at some hours than others?\nAnswer: The Moon pulls on it.",
        "c-bees": "Question: Who collect nectar and pollen from flowers and turn the nectar into honey?\nAnswer: x",
        "c-bread": "I cannot write that.",
        "c-lava": "Q: What comes out of a mountain that blows up?\nA: Molten rock and ash.",
    }[chunk_id]


def test_the_reply_is_parsed_labelled_or_loose():
    assert parse_reply("Question: Why is it so?\nAnswer: Because.\n") == ("Why is it so?", "Because.")
    assert parse_reply("**Q:** How do I bake it?\n\n**A:** In a hot\noven.") == ("How do I bake it?", "In a hot oven.")
    assert parse_reply('One could ask: "What makes the loaf rise?"\nAnswer: "Yeast."') == (
        "What makes the loaf rise?",
        "Yeast.",
    )
    assert parse_reply("Question: Where do bees live?") == ("Where do bees live?", None)
    assert parse_reply("Tidal cycles.") == ("", None)
    assert parse_reply("Question: Why?\nAnswer: no") == ("", None)  # under three words


@pytest.mark.parametrize(
    ("question", "about_the_text"),
    [
        ("How does the text answer the user's question?", True),
        ("What is this passage about?", True),
        ("What does the author recommend?", True),
        ("How can I change the color of the text in a terminal?", False),
        ("Why does the document viewer freeze?", False),
    ],
)
def test_questions_about_the_text_itself_are_told_apart(question, about_the_text):
    assert bool(rag_synth.ABOUT_THE_TEXT.search(question)) is about_the_text


def test_the_overlap_counts_the_questions_content_words_found_in_the_chunk():
    chunk = CHUNKS["c-tides"][0]
    assert word_overlap("What causes the tides of the sea?", chunk) == pytest.approx(2 / 3)  # causes, tides, sea
    assert word_overlap("Why is the ocean higher at noon?", chunk) == 0.0
    assert word_overlap("What is it?", chunk) == 1.0  # nothing of its own to say


def test_kept_and_dropped_questions_with_the_qa_file_and_the_sft_rows(fake_model, retriever, tmp_path):
    ids = order(7)
    fake_model.enqueue(*(reply_for(i) for i in ids))
    out, sft = tmp_path / "qa.jsonl", tmp_path / "sft.jsonl"
    events = list(synthesize("docs", out, sft=sft, limit=10, seed=7, retrieval="dense", top_k=3))

    assert isinstance(events[0], SynthStarted) and events[0].chunks == 5 and events[0].max_chunks == 30
    tried = [e for e in events if isinstance(e, QuestionSynthesized)]
    assert [e.chunk_id for e in tried] == ids and "c-short" not in ids  # a heading alone makes no question
    by_id = {e.chunk_id: e for e in tried}
    assert by_id["c-tides"].kept and by_id["c-tides"].rank == 1 and by_id["c-tides"].overlap == 0.25  # sea
    assert by_id["c-bees"].reason == f"overlap {by_id['c-bees'].overlap:.2f} > 0.60" and not by_id["c-bees"].kept
    assert by_id["c-bread"].reason == "no question" and by_id["c-bread"].question == ""
    assert by_id["c-lava"].kept and by_id["c-lava"].answer == "Molten rock and ash."
    assert retriever.searches == [
        (e.question, 3, "dense") for e in tried if e.chunk_id in ("c-tides", "c-lava")
    ]  # only questions that passed the overlap filter are searched
    done = events[-1]
    assert isinstance(done, SynthFinished) and (done.tried, done.kept, done.sft_rows) == (4, 2, 2)
    assert done.dropped == {"no question": 1, "overlap": 1, "retrieval": 0}
    assert (done.out, done.sft) == (str(out), str(sft))

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    kept_ids = [i for i in ids if i in ("c-tides", "c-lava")]
    assert [row["id"] for row in rows] == kept_ids
    assert rows[kept_ids.index("c-tides")] == {
        "question": "Why is the sea higher at some hours than others?",
        "sources": ["/d/tides.md"],
        "answer": "The Moon pulls on it.",
        "id": "c-tides",
    }
    assert [q.sources for q in load_qa(out)] == [[CHUNKS[i][1]["source"]] for i in kept_ids]  # rag eval reads it

    prepared = prepare(sft, method="sft")  # what `llmdeck train` reads: every row valid, in the messages format
    assert (prepared.report.format, prepared.report.valid, prepared.report.bad_count) == ("messages", 2, 0)
    first = json.loads(sft.read_text().splitlines()[kept_ids.index("c-tides")])["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    text, metadata = CHUNKS["c-tides"]
    assert first[0]["content"] == SYSTEM_PROMPT.format(sources=format_sources([Hit(text, metadata, 1.0, "c-tides")]))
    assert text in first[0]["content"]  # the chunk is the context, as a RAG chat's source [1]
    assert first[2]["content"] == "The Moon pulls on it. [1]"

    prompt = fake_model.calls[0]["messages"]
    assert [m["role"] for m in prompt] == ["system", "user", "assistant", "user"]  # the worked example first
    assert CHUNKS[ids[0]][0] in prompt[-1]["content"]


def test_a_question_retrieval_cannot_find_is_dropped(fake_model, monkeypatch, tmp_path):
    fake = FakeRetriever(missing={"/d/tides.md"})
    monkeypatch.setattr(rag_synth, "open_retriever", lambda collection, progress=True: fake)
    fake_model.enqueue(reply_for("c-tides"))
    monkeypatch.setattr(rag_synth.Synthesis, "chunk_order", lambda self: ["c-tides"])
    events = list(synthesize("docs", tmp_path / "qa.jsonl"))
    assert events[1].reason == "retrieval: tides.md not in the top 5" and events[1].rank is None
    assert events[-1].dropped["retrieval"] == 1 and (tmp_path / "qa.jsonl").read_text() == ""
    assert fake.searches[0][2] == "hybrid"  # config.toml's default mode


def test_the_seed_decides_the_order_and_the_limits_end_the_run(fake_model, retriever, tmp_path):
    assert order(1) == order(1) and order(1) != order(2)
    assert sorted(order(1)) == sorted(set(CHUNKS) - {"c-short"})
    fake_model.default_reply = "Question: Why is the sea salty?\nAnswer: Rivers."
    events = list(synthesize("docs", tmp_path / "a.jsonl", limit=1, seed=3))
    kept = [e for e in events if isinstance(e, QuestionSynthesized) and e.kept]
    assert len(kept) == 1 and events[-1].kept == 1
    fake_model.default_reply = "nothing"
    events = list(synthesize("docs", tmp_path / "b.jsonl", limit=5, max_chunks=2))
    assert events[-1].tried == 2 and events[-1].dropped["no question"] == 2


def test_a_stopped_synth_writes_nothing(fake_model, retriever, tmp_path):
    fake_model.default_reply = "Question: Why is the sea salty?\nAnswer: Rivers."
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "qa.jsonl"
    synthesis = synthesize("docs", out, limit=3, sft=folder / "sft.jsonl")
    events = []
    for event in synthesis:
        events.append(event)
        if isinstance(event, QuestionSynthesized):
            synthesis.close()
    assert events[-1].stopped and events[-1].out is None and events[-1].to_json()["stopped"] is True
    assert list(folder.iterdir()) == []  # neither file, nor a temp file


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"limit": 0}, "--limit 0: expected at least 1"),
        ({"top_k": 0}, "--top-k 0: expected at least 1"),
        ({"max_overlap": 1.5}, "--max-overlap 1.5: expected a share between 0 and 1"),
        ({"max_chunks": 0}, "--max-chunks 0: expected at least 1"),
        ({"out": "{tmp}/file.txt/qa.jsonl"}, "--out {tmp}/file.txt/qa.jsonl: {tmp}/file.txt is not a directory"),
        ({"out": "{tmp}"}, "--out {tmp}: is a directory"),
        ({"sft": "{tmp}/qa.jsonl"}, "--sft {tmp}/qa.jsonl: the same file as --out"),
        ({"retrieval": "fuzzy"}, "--retrieval 'fuzzy': expected one of dense, bm25, hybrid"),
    ],
)
def test_bad_options_are_one_line_before_anything_runs(retriever, tmp_path, options, message):
    (tmp_path / "file.txt").write_text("x")
    before = sorted(tmp_path.iterdir())
    options = {key: value.format(tmp=tmp_path) if isinstance(value, str) else value for key, value in options.items()}
    out = options.pop("out", str(tmp_path / "qa.jsonl"))
    with pytest.raises(BadInput) as caught:
        synthesize("docs", out, **options)
    assert str(caught.value).startswith(message.format(tmp=tmp_path))
    assert retriever.store.fetched == [] and sorted(tmp_path.iterdir()) == before


def test_an_unknown_collection_is_named(tmp_path):
    with pytest.raises(BadInput, match="collection 'nope' not found"):
        synthesize("nope", tmp_path / "qa.jsonl")


def test_the_app_runs_the_synth_as_a_child_and_decodes_its_lines(monkeypatch):
    """synthesize_apart's command line, and ApartSynthesis reading a child's JSON lines back into events (here a
    stand-in child that prints them) and raising its one-line error."""
    started = []
    with monkeypatch.context() as patched:
        patched.setattr("llmdeck.core.runtime.uses_default_loader", lambda: True)
        patched.setattr(rag_synth.ApartSynthesis, "__init__", lambda self, command: started.append(command))
        rag_synth.synthesize_apart("docs", "qa.jsonl", limit=3, model="m", sft=None)
    assert started == [
        [sys.executable, "-m", "llmdeck.cli", "rag", "synth", "docs", "--out", "qa.jsonl", "--json"]
        + ["--limit", "3", "--model", "m"]
    ]

    lines = [
        SynthStarted("docs", "m", "hybrid", 4, 1, 3),
        SynthFinished("docs", "m", "hybrid", 0, 0, {}, None, None, 0, 0.1),
    ]
    script = "".join(f"print({json.dumps(json.dumps(e.to_json()))})\n" for e in lines)
    child = rag_synth.ApartSynthesis([sys.executable, "-c", script])
    assert list(child) == lines
    failing = rag_synth.ApartSynthesis(
        [
            sys.executable,
            "-c",
            "import sys; print('error: --limit 0: expected at least 1', file=sys.stderr); sys.exit(2)",
        ]
    )
    with pytest.raises(BadInput, match=r"^--limit 0: expected at least 1$"):
        list(failing)
