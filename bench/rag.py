"""RAG ingestion and retrieval: `llmdeck rag ingest` (rag.ingest) vs a plain LangChain + Chroma script.

Corpus: the docstrings of Python standard-library modules (offline), one Markdown file per module.
Both sides use the same embeddings (the packaged all-MiniLM-L6-v2), the same chunk size and Chroma.
  (a) baseline: TextLoader + RecursiveCharacterTextSplitter + Chroma.from_documents, as tutorials write it;
      a re-run after an edit has no incremental state, so it re-embeds everything.
  (b) ours: rag.ingest (batched embedding, content-hash ids, unchanged files skipped).
Chunk counts differ (ours splits Markdown at headings, so more and shorter chunks): the corpus-seconds
row compares wall time for the same files. Questions are a function's first docstring sentence labeled
with its module, so recall@5 is an easy, mostly lexical check.
Rows: first-ingest chunks/s, update-ingest chunks/s (5% of files edited), retrieval latency p50/p95
at 10k chunks (vector search only, and embed+search), recall@5 on questions labeled with their module.
    python bench/rag.py [--modules 120] [--questions 150]
Human text on stderr; the last stdout line is `SUMMARY {...}`.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")
CHUNK_SIZE, CHUNK_OVERLAP = 500, 50


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stdlib_modules(limit: int) -> list:
    import importlib
    import pkgutil

    skip = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "lib2to3", "test", "ensurepip"}
    modules = []
    for info in sorted(pkgutil.iter_modules([str(Path(os.__file__).parent)]), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in skip:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = importlib.import_module(info.name)
        except Exception:
            continue
        if inspect.getdoc(module):
            modules.append(module)
    return modules[:limit]


def write_corpus(modules, root: Path) -> list[tuple[str, str]]:
    """One Markdown file per module (## per public function/class); returns (question, expected file) pairs."""
    labeled = []
    for module in modules:
        lines = [f"# {module.__name__}", "", inspect.getdoc(module) or ""]
        for name, member in sorted(vars(module).items()):
            if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
                continue
            doc = inspect.getdoc(member)
            if not doc or not (inspect.isfunction(member) or inspect.isclass(member)):
                continue
            lines += ["", f"## {module.__name__}.{name}", "", doc]
            first = doc.strip().split("\n\n")[0].replace("\n", " ")
            if 6 <= len(first.split()) <= 40:
                labeled.append((f"{name.replace('_', ' ')}: {first}", f"{module.__name__}.md"))
        (root / f"{module.__name__}.md").write_text("\n".join(lines), encoding="utf-8")
    return labeled


def baseline_ingest(corpus: Path, persist: Path, embeddings) -> tuple[int, float]:
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import DirectoryLoader, TextLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    start = time.perf_counter()
    documents = DirectoryLoader(
        str(corpus), glob="**/*.md", loader_cls=TextLoader, loader_kwargs={"encoding": "utf-8"}
    ).load()
    chunks = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP).split_documents(
        documents
    )
    Chroma.from_documents(chunks, embeddings, persist_directory=str(persist), collection_name="baseline")
    return len(chunks), time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--modules", type=int, default=120)
    parser.add_argument("--questions", type=int, default=150)
    parser.add_argument("--latency-chunks", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llmdeck-bench-rag-"))
    os.environ["LLMDECK_HOME"] = str(work / "home")
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args, work: Path) -> None:
    from langchain_huggingface import HuggingFaceEmbeddings

    from llmdeck.core.embedded import embedded_embedding_model_dir
    from llmdeck.rag.ingest import ingest
    from llmdeck.rag.query import open_collection, query

    corpus = work / "corpus"
    corpus.mkdir()
    labeled = write_corpus(stdlib_modules(args.modules), corpus)
    random.Random(0).shuffle(labeled)
    labeled = labeled[: args.questions]
    files = sorted(corpus.glob("*.md"))
    corpus_mb = sum(f.stat().st_size for f in files) / 1e6
    log(f"corpus: {len(files)} stdlib modules, {corpus_mb:.1f} MB, {len(labeled)} labeled questions")

    # the baseline's embeddings are the library defaults on the same model directory
    baseline_embeddings = HuggingFaceEmbeddings(
        model_name=str(embedded_embedding_model_dir()), model_kwargs={"device": "cpu"}
    )
    baseline_embeddings.embed_documents(["warm-up"])
    from llmdeck.rag.embeddings import load_embeddings

    load_embeddings().embed_documents(["warm-up"])

    base_chunks, base_s = baseline_ingest(corpus, work / "baseline1", baseline_embeddings)
    log(f"baseline first ingest: {base_chunks} chunks in {base_s:.1f}s ({base_chunks / base_s:.0f}/s)")
    ours = ingest([corpus], "bench", chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    ours_chunks = ours.chunks_added
    log(f"llmdeck first ingest: {ours_chunks} chunks in {ours.seconds:.1f}s ({ours_chunks / ours.seconds:.0f}/s)")

    # update: 5% of files edited; the baseline script simply runs again (no incremental state)
    for path in files[::20]:
        path.write_text(
            path.read_text(encoding="utf-8") + "\n\n## Changelog\n\nEdited for the benchmark.\n", encoding="utf-8"
        )
    base_chunks2, base_s2 = baseline_ingest(corpus, work / "baseline2", baseline_embeddings)
    update = ingest([corpus], "bench")
    update_total = update.chunks_added + update.chunks_updated + update.chunks_skipped
    log(
        f"update ingest: baseline {base_chunks2 / base_s2:.0f} chunks/s, "
        f"llmdeck {update_total / update.seconds:.0f} chunks/s "
        f"({update.chunks_updated} re-embedded, {update.chunks_skipped} skipped, {update.seconds:.2f}s)"
    )

    recall_hits = 0
    for question, expected in labeled:
        if expected in [Path(h.metadata["source"]).name for h in query("bench", question, k=5)]:
            recall_hits += 1
    base_store = _baseline_store(work / "baseline2", baseline_embeddings)
    base_recall = sum(
        expected in [Path(d.metadata["source"]).name for d in base_store.similarity_search(question, k=5)]
        for question, expected in labeled
    )
    log(f"recall@5: llmdeck {recall_hits}/{len(labeled)}, baseline {base_recall}/{len(labeled)}")

    record, embeddings, store = open_collection("bench")
    _pad_to(store, args.latency_chunks, embeddings)
    vectors = embeddings.embed_documents([q for q, _ in labeled][:100])
    search_ms, full_ms = [], []
    for (question, _), vector in zip(labeled[:100], vectors):
        start = time.perf_counter()
        store.search(vector, 5)
        search_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        query("bench", question, k=5)
        full_ms.append((time.perf_counter() - start) * 1000)
    log(
        f"latency at {store.count()} chunks: "
        f"search p50 {statistics.median(search_ms):.1f} ms p95 {percentile(search_ms, 0.95):.1f} ms;"
        f" embed+search p50 {statistics.median(full_ms):.1f} ms p95 {percentile(full_ms, 0.95):.1f} ms"
    )

    first_ratio = (ours_chunks / ours.seconds) / (base_chunks / base_s)
    update_ratio = (update_total / update.seconds) / (base_chunks2 / base_s2)
    rows = [
        {
            "metric": "first ingest chunks/s",
            "ours": round(ours_chunks / ours.seconds, 1),
            "baseline": round(base_chunks / base_s, 1),
            "ratio": round(first_ratio, 2),
            "target": ">= 1.5x",
        },
        {
            "metric": "first ingest corpus seconds (same files, lower is better)",
            "ours": round(ours.seconds, 2),
            "baseline": round(base_s, 2),
            "ratio": round(base_s / ours.seconds, 2),
            "target": "informational",
        },
        {
            "metric": "update ingest chunks/s (5% files edited)",
            "ours": round(update_total / update.seconds, 1),
            "baseline": round(base_chunks2 / base_s2, 1),
            "ratio": round(update_ratio, 2),
            "target": ">= 1.5x",
        },
        {
            "metric": f"search p50 ms @{store.count()} chunks",
            "ours": round(statistics.median(search_ms), 2),
            "baseline": None,
            "ratio": None,
            "target": "informational",
        },
        {
            "metric": f"search p95 ms @{store.count()} chunks",
            "ours": round(percentile(search_ms, 0.95), 2),
            "baseline": None,
            "ratio": None,
            "target": "<= 30 ms",
        },
        {
            "metric": "embed+search p95 ms",
            "ours": round(percentile(full_ms, 0.95), 2),
            "baseline": None,
            "ratio": None,
            "target": "informational",
        },
        {
            "metric": "recall@5",
            "ours": round(recall_hits / len(labeled), 3),
            "baseline": round(base_recall / len(labeled), 3),
            "ratio": round(recall_hits / max(base_recall, 1), 2),
            "target": "informational",
        },
    ]
    print("SUMMARY " + json.dumps({"bench": "rag", "rows": rows}))


def _baseline_store(persist: Path, embeddings):
    from langchain_chroma import Chroma

    return Chroma(collection_name="baseline", embedding_function=embeddings, persist_directory=str(persist))


def _pad_to(store, target: int, embeddings) -> None:
    """Grow the collection to `target` chunks for the latency rows without re-embedding (too slow on 2 cores):
    extra entries are copies of real chunk vectors plus small Gaussian noise, renormalized."""
    import numpy as np

    existing = store._collection.get(include=["documents", "metadatas", "embeddings"])
    texts, metadatas = existing["documents"], existing["metadatas"]
    vectors = np.asarray(existing["embeddings"], dtype=np.float32)
    rng = np.random.default_rng(0)
    copy = 0
    log(f"padding the collection from {store.count()} to {target} chunks (noisy copies of real vectors)")
    while store.count() < target:
        copy += 1
        need = min(target - store.count(), len(texts))
        noisy = vectors[:need] + rng.normal(0, 0.05, size=vectors[:need].shape).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        for start in range(0, need, 2000):
            stop = min(start + 2000, need)
            store.add(
                [f"pad-{copy}-{i}" for i in range(start, stop)],
                [f"{t} ({copy})" for t in texts[start:stop]],
                [{**m, "padding": copy} for m in metadatas[start:stop]],
                noisy[start:stop].tolist(),
            )


if __name__ == "__main__":
    main()
