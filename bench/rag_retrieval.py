"""Retrieval quality on paraphrased questions: dense vs bm25 vs hybrid vs hybrid+rerank over structure-aware
chunks (llmdeck rag ingest + rag eval), against a plain LangChain + Chroma dense script in the same run.

Corpus: documents installed on this machine, as in docs/rag-retrieval.md: the package READMEs of
site-packages (`*.dist-info/METADATA` bodies, saved as NAME.md) and scikit-learn's dataset descriptions
(`sklearn/datasets/descr/*.rst`). Questions: docs/rag-retrieval-qa.jsonl (written to paraphrase, not quote).
  (a) baseline: TextLoader + RecursiveCharacterTextSplitter(1000, 150) + Chroma.from_documents, the same MiniLM,
      dense top 10, scored by the same relevance rule;
  (b) ours: rag.ingest (Markdown/reST split at headings, section path in each chunk), then services.rag_eval
      in every mode; reranking (the embedded SmolLM2's log-likelihood of "yes") on every fourth question (it is
      the slow part: --rerank-every 1 for all), with the same subset's hybrid row for a paired comparison, and a
      fused variant (reranker order fused with the hybrid order by RRF) from the same scores at no extra cost.
    python bench/rag_retrieval.py [--rerank-every 4] [--rerank-depth 5] [--threads 1]
Human text on stderr; the last stdout line is `SUMMARY {...}`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")
PACKAGES = (
    "uvloop platformdirs tomli_w termcolor joblib cloudpickle idna python_dateutil distro networkx mpmath xxhash"
    " diskcache psutil colorama python_dotenv threadpoolctl pathspec fire puremagic mmh3 h11 pypdf bcrypt dill"
    " tiktoken frozenlist multidict attrs sqlite_utils aiohappyeyeballs python_ulid pybase64 ghp_import overrides"
    " seqeval"
).split()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_corpus(root: Path) -> list[Path]:
    """The docs page's corpus: a README per package (METADATA after its headers) and sklearn's .rst files."""
    import site

    site_packages = Path(next(p for p in site.getsitepackages() if p.endswith("site-packages")))
    root.mkdir(parents=True, exist_ok=True)
    for name in PACKAGES:
        found = sorted(site_packages.glob(f"{name}-[0-9]*.dist-info"))
        if not found:
            log(f"  {name}: not installed, left out")
            continue
        metadata = (found[0] / "METADATA").read_text(encoding="utf-8", errors="replace")
        (root / f"{name}.md").write_text(metadata.split("\n\n", 1)[-1], encoding="utf-8")
    for rst in sorted((site_packages / "sklearn" / "datasets" / "descr").glob("*.rst")):
        (root / rst.name).write_text(rst.read_text(encoding="utf-8"), encoding="utf-8")
    return sorted(root.iterdir())


class CachedReranker:
    """The model's scores, kept: the fused variant reorders by the same scores without asking the model again."""

    def __init__(self, inner, depth: int, fuse: bool = False, cache: dict | None = None):
        self.inner, self.depth, self.fuse, self.name = inner, depth, fuse, inner.name
        self.cache: dict = {} if cache is None else cache
        self.model_seconds: list[float] = []

    def scores(self, question, texts):
        missing = [t for t in texts if (question, t) not in self.cache]
        if missing:
            started = time.perf_counter()
            for text, value in zip(missing, self.inner.scores(question, missing)):
                self.cache[(question, text)] = value
            self.model_seconds.append(time.perf_counter() - started)
        return [self.cache[(question, t)] for t in texts]


def baseline(files: list[Path], questions, embeddings, where: Path):
    """The plain script: load, split, embed into Chroma, dense top 10 per question; (outcomes, seconds)."""
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import TextLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from llmdeck.rag.stores import Hit
    from llmdeck.services.rag_eval import Outcome, first_relevant

    started = time.perf_counter()
    documents = [doc for path in files for doc in TextLoader(str(path), encoding="utf-8").load()]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=150).split_documents(documents)
    store = Chroma.from_documents(
        chunks, embeddings, persist_directory=str(where), collection_metadata={"hnsw:space": "cosine"}
    )
    ingest_s = time.perf_counter() - started
    outcomes = []
    for question in questions:
        began = time.perf_counter()
        found = store.similarity_search(question.question, k=10)
        seconds = time.perf_counter() - began
        hits = [Hit(d.page_content, dict(d.metadata), 0.0) for d in found]
        outcomes.append(Outcome(first_relevant(question, hits), [str(h.metadata.get("source")) for h in hits], seconds))
    return outcomes, ingest_s, len(chunks)


def row(result, label: str | None = None) -> str:
    def cell(metric) -> str:
        return f"{metric.value:.3f} [{metric.low:.2f}, {metric.high:.2f}]" if metric.low is not None else "-"

    return (
        f"| {label or result.mode} | {result.recall_1.n} | {cell(result.recall_1)} | {cell(result.recall_5)}"
        f" | {cell(result.mrr_10)} | {result.median_ms:.0f} / {result.p95_ms:.0f} |"
    )


def machine() -> tuple[str, list[str]]:
    """(the CPU's model name, the load average's three figures), logged: every run names its machine."""
    load = open("/proc/loadavg").read().split()[:3]
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    log(f"machine: {cpu}, {os.cpu_count()} cores, load {' '.join(load)}")
    return cpu, load


def measure_modes(files: list[Path], questions, qa, work: Path, no_baseline: bool):
    """The plain script (unless `no_baseline`) and `rag ingest` + `rag eval` in dense, bm25 and hybrid on the corpus
    under `work / "corpus"`: (results by label, ingest seconds, the ingest summary, the plain script's ingest
    seconds and chunks, None without it)."""
    from llmdeck.rag.embeddings import load_embeddings
    from llmdeck.rag.ingest import ingest
    from llmdeck.services.rag_eval import evaluate, score

    results = {}
    base_ingest_s = base_chunks = None
    if not no_baseline:
        outcomes, base_ingest_s, base_chunks = baseline(files, questions, load_embeddings(), work / "baseline")
        results["plain script (dense)"] = score(questions, outcomes, "plain")
        log(row(results["plain script (dense)"], "plain script (dense)"))
        log(f"baseline: {base_chunks} chunks in {base_ingest_s:.0f} s")
    started = time.perf_counter()
    summary = ingest([work / "corpus"], "bench")
    ingest_s = time.perf_counter() - started
    log(f"ingest: {summary.chunks_added} structure-aware chunks in {ingest_s:.0f} s")
    report = evaluate("bench", qa, ["dense", "bm25", "hybrid"], progress=False)
    results.update({r.mode: r for r in report.results})
    for result in report.results:
        log(row(result))
    return results, ingest_s, summary, base_ingest_s, base_chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", default=str(REPO_ROOT / "docs" / "rag-retrieval-qa.jsonl"))
    parser.add_argument("--rerank-every", type=int, default=4, help="Rerank every Nth question (1: all).")
    parser.add_argument("--rerank-depth", type=int, default=5, help="Hybrid hits the model scores per question.")
    parser.add_argument("--no-baseline", action="store_true", help="Skip the plain LangChain + Chroma script.")
    parser.add_argument("--threads", type=int, help="llama.cpp threads for the reranker (default: config's).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llmdeck-bench-retrieval-"))
    os.environ["LLMDECK_HOME"] = str(work / "home")
    if args.threads:
        (work / "home").mkdir(parents=True)
        (work / "home" / "config.toml").write_text(f"n_threads = {args.threads}\n", encoding="utf-8")
    from llmdeck.rag.rerank import open_reranker
    from llmdeck.services.rag_eval import evaluate, load_qa

    cpu, load = machine()
    files = write_corpus(work / "corpus")
    questions = load_qa(args.qa)
    log(f"corpus: {len(files)} documents; {len(questions)} questions from {args.qa}")
    results, ingest_s, summary, base_ingest_s, base_chunks = measure_modes(
        files, questions, args.qa, work, args.no_baseline
    )

    subset_file = work / "subset.jsonl"
    lines = [line for line in Path(args.qa).read_text(encoding="utf-8").splitlines() if line.strip()]
    subset_file.write_text("\n".join(lines[:: args.rerank_every]) + "\n", encoding="utf-8")
    model = open_reranker(None)
    pure = CachedReranker(model, args.rerank_depth)
    started = time.perf_counter()
    reranked = evaluate(
        "bench",
        subset_file,
        ["hybrid", "hybrid+rerank"],
        progress=False,
        reranker=pure,
        on_progress=lambda done, total: log(f"  rerank eval {done}/{total} ({time.perf_counter() - started:.0f} s)"),
    )
    rerank_wall = time.perf_counter() - started
    fused = CachedReranker(model, args.rerank_depth, fuse=True, cache=pure.cache)
    fused_report = evaluate("bench", subset_file, ["hybrid+rerank"], progress=False, reranker=fused)
    n_subset = len(reranked.questions)
    latency = sorted(pure.model_seconds)
    header = "| mode | questions | recall@1 | recall@5 | MRR@10 | ms/query median / p95 |\n|---|---|---|---|---|---|"
    table = [header]
    table += [row(result, label) for label, result in results.items()]
    table += [row(r, f"{r.mode} (1 question in {args.rerank_every})") for r in reranked.results]
    table.append(row(fused_report.results[0], "hybrid+rerank, fused with hybrid (same scores)"))
    load_after = open("/proc/loadavg").read().split()[:3]
    print("\n".join(table))
    log(f"rerank: {n_subset} questions x {args.rerank_depth} hits in {rerank_wall:.0f} s")
    plain = results.get("plain script (dense)")
    subset_hybrid, subset_reranked = reranked.results

    def metric(name: str, ours, base, target: str = "") -> dict:
        ratio = round(ours / base, 3) if base else None
        return {"metric": name, "ours": round(ours, 3), "baseline": base, "ratio": ratio, "target": target}

    summary_rows = [
        metric(
            "recall@1 hybrid vs plain dense",
            results["hybrid"].recall_1.value,
            plain and plain.recall_1.value,
            "+0.15 over the plain script",
        ),
        metric(
            "recall@5 hybrid vs plain dense",
            results["hybrid"].recall_5.value,
            plain and plain.recall_5.value,
            ">= 0.98",
        ),
        metric(
            "recall@1 hybrid+rerank vs hybrid (subset)", subset_reranked.recall_1.value, subset_hybrid.recall_1.value
        ),
        metric("rerank s/query (median)", statistics.median(latency) if latency else 0.0, None),
    ]
    summary_row = {
        "bench": "rag_retrieval",
        "rows": summary_rows,
        "cpu": cpu,
        "load_before": load,
        "load_after": load_after,
        "documents": len(files),
        "questions": len(questions),
        "chunks": summary.chunks_added,
        "ingest_s": round(ingest_s, 1),
        "modes": {label: r.to_dict() for label, r in results.items()},
        "rerank_subset": [r.to_dict() for r in reranked.results] + [fused_report.results[0].to_dict()],
        "rerank_model_s_median": round(statistics.median(latency), 2) if latency else None,
        "rerank_model_s_p95": round(latency[min(len(latency) - 1, round(0.95 * (len(latency) - 1)))], 2)
        if latency
        else None,
        "rerank_depth": args.rerank_depth,
        "reranker": model.name,
    }
    print("SUMMARY " + json.dumps(summary_row))


if __name__ == "__main__":
    main()
