"""bench/reference_corpus.py renders a module's docstrings as a Sphinx-style reST page that the structure-aware
splitter reads as a reference (a section per object), the same on every run; and the reference QA file is
well formed, spread over many modules, and paraphrases (a question rarely names its module)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.reference_corpus import MODULES, render, write_reference
from llmdeck.rag.structure import split_structured
from llmdeck.services.rag_eval import load_qa

QA = Path(__file__).resolve().parents[2] / "bench" / "data" / "rag-reference-qa.jsonl"


def test_a_module_page_reads_as_a_reference_with_a_section_per_object():
    page = render("functools")
    assert page is not None
    assert page.startswith(":mod:`functools` --- ")
    assert "\n.. function:: lru_cache(maxsize=128, typed=False)\n" in page
    sections = {piece.section for piece in split_structured(page, ".rst", 1000, 150)}
    assert {"functools", "functools > lru_cache", "functools > partial"} <= sections


def test_methods_nest_under_their_class_and_a_page_is_the_same_on_every_run(tmp_path):
    first = write_reference(tmp_path / "a", ("collections.abc", "textwrap"))
    second = write_reference(tmp_path / "b", ("collections.abc", "textwrap"))
    assert [p.name for p in first] == ["collections.abc.rst", "textwrap.rst"]
    assert [p.read_text() for p in first] == [p.read_text() for p in second]
    assert " at 0x" not in first[0].read_text()  # a default's repr holds no memory address
    sections = {piece.section for piece in split_structured(first[1].read_text(), ".rst", 1000, 150)}
    assert "textwrap > TextWrapper > wrap" in sections


def test_a_module_that_is_not_there_is_left_out(tmp_path):
    assert render("no_such_module_here") is None
    assert write_reference(tmp_path, ("no_such_module_here",)) == []


def test_the_reference_questions_cover_many_modules_and_rarely_name_them():
    questions = load_qa(QA)
    assert len(questions) >= 80
    assert len({q.id for q in questions}) == len(questions)
    expected = [name.removesuffix(".rst") for q in questions for name in q.sources]
    assert set(expected) <= set(MODULES)
    assert len({q.sources[0] for q in questions}) >= 100
    naming = [
        q.id for q in questions if any(re.search(rf"\b{re.escape(s[:-4])}\b", q.question, re.I) for s in q.sources)
    ]
    assert len(naming) <= len(questions) // 20, naming
    assert all(set(json.loads(line)) == {"question", "sources", "id"} for line in QA.read_text().splitlines())
