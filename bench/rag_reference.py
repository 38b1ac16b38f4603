"""Retrieval on a library reference: the plain LangChain + Chroma dense script vs llmdeck dense / bm25 / hybrid,
and fusion variants, on paraphrased questions, in one run.

Corpus: bench/reference_corpus.py, the standard library's docstrings rendered as one Sphinx-style reST page per
module (176 pages here), built in a temporary directory. Questions: bench/data/rag-reference-qa.jsonl (147, written
to paraphrase, before any retrieval run). The baseline is bench/rag_retrieval.py's: TextLoader +
RecursiveCharacterTextSplitter(1000, 150) + Chroma, the same MiniLM, dense top 10.

A second question file, bench/data/rag-reference-qa-confirm.jsonl (100, written on 2026-12-07 before any run on
it, `--qa`), confirmed the fusion chosen on the first file before it became hybrid's default.

Fusion variants are computed from the same two rankings per question (dense and bm25, 20 deep each, as hybrid
fuses them), so they cost no extra search. They are tuned on one half of the questions (the odd rows: 1st, 3rd...)
and reported on the other half (the even rows), which was not looked at while choosing them.

    python bench/rag_reference.py [--no-baseline] [--json-out FILE]
    python bench/rag_reference.py --corpus readme --no-baseline   # the same variants on the 50 READMEs
    python bench/rag_reference.py --stemmer-path DIR   # DIR holds PyStemmer: adds a stemmed BM25 index
    python bench/rag_reference.py --qa bench/data/rag-reference-qa-confirm.jsonl   # the confirmation questions

Human text on stderr; the last stdout line is `SUMMARY {...}`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.rag_retrieval import log, machine, measure_modes, row, write_corpus  # noqa: E402 (sets the offline environment first)
from bench.reference_corpus import write_reference  # noqa: E402

DEPTH = 20  # each ranking's depth, as hybrid fuses them (rag/query.py CANDIDATES)


def split(questions: Sequence) -> tuple[list, list]:
    """(tuning half, held-out half): the odd rows and the even rows of the file."""
    return list(questions[0::2]), list(questions[1::2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus",
        choices=("reference", "readme"),
        default="reference",
        help="reference: the stdlib pages; readme: bench/rag_retrieval.py's 50 READMEs (with its questions).",
    )
    parser.add_argument("--qa", help="The QA file (default: the corpus's own).")
    parser.add_argument("--no-baseline", action="store_true", help="Skip the plain LangChain + Chroma script.")
    parser.add_argument("--json-out", help="Also write every question's rank per variant here.")
    parser.add_argument(
        "--stemmer-path",
        help="A folder holding PyStemmer, put on sys.path after the collection's own (unstemmed) index is built:"
        " adds a stemmed BM25 index of the same chunks and its variants.",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llmdeck-bench-reference-"))
    os.environ["LLMDECK_HOME"] = str(work / "home")
    from llmdeck.rag import bm25
    from llmdeck.rag.fusion import hybrid, reciprocal_rank_fusion
    from llmdeck.rag.query import open_retriever
    from llmdeck.services.eval_report import paired_delta
    from llmdeck.services.rag_eval import Outcome, first_relevant, load_qa, score

    cpu, load = machine()
    if args.corpus == "readme":
        files = write_corpus(work / "corpus")
        args.qa = args.qa or str(REPO_ROOT / "docs" / "rag-retrieval-qa.jsonl")
    else:
        files = write_reference(work / "corpus")
        args.qa = args.qa or str(REPO_ROOT / "bench" / "data" / "rag-reference-qa.jsonl")
    questions = load_qa(args.qa)
    log(f"corpus: {len(files)} pages; {len(questions)} questions from {args.qa}")
    results, ingest_s, summary, base_ingest_s, base_chunks = measure_modes(
        files, questions, args.qa, work, args.no_baseline
    )

    # the two rankings per question, once; every variant below fuses these
    retriever = open_retriever("bench", progress=False)
    dense = [retriever.dense(q.question, DEPTH) for q in questions]
    keyword = [retriever.keyword(q.question, DEPTH) for q in questions]
    rankings: dict[str, list] = {"dense": dense, "bm25": keyword}
    index = retriever._bm25  # the collection's index, for its chunks
    if args.stemmer_path:
        sys.path.insert(0, args.stemmer_path)
    stemmer = bm25._stemmer_name()
    if stemmer and not index.stemmer:  # type: ignore[attr-defined]
        stemmed = bm25.build(index.ids, index.texts, index.metadatas, stemmer)  # type: ignore[attr-defined]
        rankings["bm25 stemmed"] = [stemmed.search(q.question, DEPTH) for q in questions]
        log(f"stemmed index ({stemmer}): {len(stemmed.ids)} chunks")

    def rrf(weights: Sequence[float], *names: str, k: int = 60) -> Callable[[int], list]:
        return lambda i: reciprocal_rank_fusion([rankings[n][i] for n in names], weights, k)

    variants: dict[str, Callable[[int], list]] = {
        "dense": lambda i: dense[i],
        "bm25": lambda i: keyword[i],
        "hybrid (the default: RRF dense 2:1, 2 per source)": lambda i: hybrid(dense[i], keyword[i]),
        "RRF 1:1, k 60 (hybrid before 2026-12-07)": rrf([1, 1], "dense", "bm25"),
    }
    for weight in (1.5, 2.0, 3.0):
        variants[f"RRF dense {weight:g}:1"] = rrf([weight, 1], "dense", "bm25")
    for k in (10, 30):
        variants[f"RRF 1:1, k {k}"] = rrf([1, 1], "dense", "bm25", k=k)
    if "bm25 stemmed" in rankings:
        variants["bm25 stemmed"] = lambda i: rankings["bm25 stemmed"][i]
        variants["RRF stemmed 1:1"] = rrf([1, 1], "dense", "bm25 stemmed")
        variants["RRF stemmed dense 2:1"] = rrf([2, 1], "dense", "bm25 stemmed")
    for name in ("RRF 1:1, k 60 (hybrid before 2026-12-07)", "RRF dense 3:1"):
        variants[f"{name}, 2 per source"] = _per_source(variants[name], 2)

    tune, held = split(questions)
    rows: dict[str, dict] = {}
    per_question: dict[str, list] = {}
    for name, variant in variants.items():
        outcomes = []
        for i, question in enumerate(questions):
            hits = variant(i)[:10]
            outcomes.append(Outcome(first_relevant(question, hits), [str(h.metadata.get("source")) for h in hits]))
        per_question[name] = [{"id": q.id, "rank": o.rank} for q, o in zip(questions, outcomes)]
        by_id = {q.id: o for q, o in zip(questions, outcomes)}
        rows[name] = {
            part: score(qs, [by_id[q.id] for q in qs], name) for part, qs in (("tune", tune), ("held", held))
        } | {"all": score(questions, outcomes, name)}
    plain = results.get("plain script (dense)")
    plain_by_id = {}
    if plain is not None:
        plain_by_id = plain.recall_1.per_item

    def cell(metric) -> str:
        return f"{metric.value:.3f} [{metric.low:.2f}, {metric.high:.2f}]"

    def delta(first, other) -> str:
        d = paired_delta(first, other)
        return f"{d.value:+.3f} [{d.low:+.2f}, {d.high:+.2f}]"

    def subset(metric, qs):
        from llmdeck.services.eval_report import rate

        return rate({q.id: metric.per_item[q.id] for q in qs})

    table = [
        "| variant | tune r@1 | tune r@5 | held-out r@1 | held-out r@5 | held-out MRR@10 | held-out r@1 vs dense"
        " | held-out r@1 vs plain |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, parts in rows.items():
        versus_plain = delta(subset(plain.recall_1, held), parts["held"].recall_1) if plain_by_id and plain else "-"
        table.append(
            f"| {name} | {parts['tune'].recall_1.value:.3f} | {parts['tune'].recall_5.value:.3f}"
            f" | {cell(parts['held'].recall_1)} | {cell(parts['held'].recall_5)} | {cell(parts['held'].mrr_10)}"
            f" | {delta(rows['dense']['held'].recall_1, parts['held'].recall_1)} | {versus_plain} |"
        )
    header = "| mode | questions | recall@1 | recall@5 | MRR@10 | ms/query median / p95 |\n|---|---|---|---|---|---|"
    print("\n".join([header, *(row(r, label) for label, r in results.items())]))
    print()
    print("\n".join(table))
    if plain is not None:
        for mode in ("dense", "hybrid"):
            d = paired_delta(plain.recall_1, results[mode].recall_1)
            log(f"recall@1 {mode} - plain (all {d.n}): {d.value:+.3f} [{d.low:+.2f}, {d.high:+.2f}]")
    load_after = open("/proc/loadavg").read().split()[:3]
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(per_question, indent=1), encoding="utf-8")
    print(
        "SUMMARY "
        + json.dumps(
            {
                "bench": "rag_reference",
                "cpu": cpu,
                "load_before": load,
                "load_after": load_after,
                "corpus": args.corpus,
                "pages": len(files),
                "questions": len(questions),
                "chunks": summary.chunks_added,
                "baseline_chunks": None if args.no_baseline else base_chunks,
                "ingest_s": round(ingest_s, 1),
                "stemmer": stemmer,
                "modes": {label: r.to_dict() for label, r in results.items()},
                "variants": {name: {part: r.to_dict() for part, r in parts.items()} for name, parts in rows.items()},
            }
        )
    )


def _per_source(variant: Callable[[int], list], cap: int) -> Callable[[int], list]:
    """The variant's hits with at most `cap` per source file (the rest moved to the end, in order)."""
    from llmdeck.rag.fusion import cap_per_source

    def capped(i: int) -> list:
        return cap_per_source(variant(i), cap)

    return capped


if __name__ == "__main__":
    main()
