"""RAG speed: a cold `llmdeck rag query`, ingest chunks/s and warm query latency at ~10k chunks, each against a
plain LangChain + Chroma script with the same embedding model (the packaged all-MiniLM-L6-v2) in the same run.

Corpus: documents installed on this machine, built as bench/rag_retrieval.py builds its own, but from every
package: the README of each `*.dist-info/METADATA` in site-packages (the body after its headers, saved as
NAME.md, cut to --page-chars so the default run stays short) and scikit-learn's dataset descriptions
(`sklearn/datasets/descr/*.rst`): a few hundred pages.
  (a) cold query: `llmdeck rag query --collection bench QUESTION --json` in a fresh process, --query-runs times
      (median; one unmeasured run first warms the page cache, as a user's second query finds it), vs the plain
      script in a fresh process (HuggingFaceEmbeddings + Chroma + similarity_search), --baseline-query-runs
      times; `llmdeck --help` in a fresh process as the floor every command pays;
  (b) ingest: rag.ingest (structure-aware chunks, our BERT encoder) vs TextLoader +
      RecursiveCharacterTextSplitter(1000, 150) + Chroma.from_documents with HuggingFaceEmbeddings, both models
      loaded and warmed first, the same files, in this process;
  (c) warm query latency: the collection padded to --latency-chunks (noisy copies of its real vectors and texts,
      registered like an ingest's chunks, so the BM25 index covers them too), then `rag.query.query` (what one
      call costs: open the collection, embed, dense + BM25, fuse) and an opened Retriever's hybrid search, vs
      the plain script's similarity_search on its store padded with the same vectors.
Ratios are "times better": ours/baseline for chunks/s, baseline/ours for seconds and milliseconds.
    python bench/rag_speed.py [--page-chars 2000] [--max-pages 0] [--query-runs 5] [--baseline-query-runs 3]
                              [--latency-chunks 10000] [--latency-queries 100] [--precision auto|fp32|bf16]
Human text on stderr; the last stdout line is `SUMMARY {...}`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
}
for _key, _value in OFFLINE.items():
    os.environ.setdefault(_key, _value)
warnings.filterwarnings("ignore")
CHUNK_SIZE, CHUNK_OVERLAP = 1000, 150
QA_FILE = REPO_ROOT / "docs" / "rag-retrieval-qa.jsonl"

BASELINE_QUERY = """
import sys, time
started = time.perf_counter()
from langchain_chroma import Chroma
from langchain_huggingface import HuggingFaceEmbeddings
embeddings = HuggingFaceEmbeddings(model_name=sys.argv[1], model_kwargs={"device": "cpu"})
store = Chroma(collection_name="baseline", embedding_function=embeddings, persist_directory=sys.argv[2])
found = store.similarity_search(sys.argv[3], k=5)
print(len(found), round(time.perf_counter() - started, 3))
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def loadavg() -> list[str]:
    return open("/proc/loadavg").read().split()[:3]


def machine() -> dict:
    """lscpu's model name, the cores, and whether the CPU has native bf16 (AVX512_BF16 / AMX_BF16)."""
    from llmdeck.core.hardware import cpu_model_name, cpuinfo_text

    name = ""
    if shutil.which("lscpu"):
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}).stdout
        name = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "")
    cpuinfo = (cpuinfo_text() or "").splitlines()
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), [])
    return {
        "cpu": name or cpu_model_name(),
        "cores": os.cpu_count(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
    }


def write_corpus(root: Path, page_chars: int, max_pages: int) -> list[Path]:
    """One page per installed package README (METADATA after its headers, at least 400 characters, cut to
    `page_chars` at a line end) and sklearn's dataset .rst files; `max_pages` > 0 keeps the first that many."""
    import site

    site_packages = Path(next(p for p in site.getsitepackages() if p.endswith("site-packages")))
    root.mkdir(parents=True, exist_ok=True)
    pages: list[tuple[str, str]] = []
    for info in sorted(site_packages.glob("*.dist-info")):
        metadata = info / "METADATA"
        if not metadata.is_file():
            continue
        body = metadata.read_text(encoding="utf-8", errors="replace").split("\n\n", 1)[-1].strip()
        if len(body) >= 400:
            pages.append((info.name.split("-", 1)[0] + ".md", body))
    for rst in sorted((site_packages / "sklearn" / "datasets" / "descr").glob("*.rst")):
        pages.append((rst.name, rst.read_text(encoding="utf-8")))
    if max_pages > 0:
        pages = pages[:max_pages]
    for name, text in pages:
        if 0 < page_chars < len(text):
            line_end = text.rfind("\n", 0, page_chars)
            text = text[: line_end if line_end > 0 else page_chars]
        (root / name).write_text(text, encoding="utf-8")
    return sorted(root.iterdir())


def questions(count: int) -> list[str]:
    """The paraphrased questions of docs/rag-retrieval-qa.jsonl (their packages are in this corpus), cycled."""
    asked = [json.loads(line)["question"] for line in QA_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [asked[i % len(asked)] for i in range(count)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def timed_run(command: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])}... failed ({result.returncode}): {result.stderr[-2000:]}")
    return seconds, result


def baseline_ingest(files: list[Path], embeddings, where: Path) -> tuple[int, float]:
    """The plain script: load, split, embed into Chroma (cosine), as tutorials write it; (chunks, seconds)."""
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import TextLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    started = time.perf_counter()
    documents = [doc for path in files for doc in TextLoader(str(path), encoding="utf-8").load()]
    chunks = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP).split_documents(
        documents
    )
    Chroma.from_documents(
        chunks,
        embeddings,
        persist_directory=str(where),
        collection_name="baseline",
        collection_metadata={"hnsw:space": "cosine"},
    )
    return len(chunks), time.perf_counter() - started


def noisy_copies(texts, metadatas, vectors, target: int, seed: int = 0):
    """(ids, texts, metadatas, vectors) of `target` padding entries: real chunks copied, their vectors moved by
    small Gaussian noise and renormalized (embedding 10k real chunks would take most of an hour on 2 cores)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    picks = np.arange(target) % len(texts)
    noisy = vectors[picks] + rng.normal(0, 0.05, size=(target, vectors.shape[1])).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    ids = [f"pad-{n}" for n in range(target)]
    copies = [f"{texts[p]} (copy {n // len(texts) + 1})" for n, p in enumerate(picks)]
    return ids, copies, [{**metadatas[p], "padding": 1} for p in picks], noisy


def pad_ours(collection: str, target: int):
    """Grow our collection to `target` chunks, registered as one padding source (the registry is the truth:
    queries drop chunks it does not know, and the BM25 index syncs to it on the next query)."""
    import numpy as np

    from llmdeck.core import locks
    from llmdeck.rag import registry
    from llmdeck.rag.stores import open_store

    conn = registry.connect()
    record = registry.get(conn, collection)
    store = open_store(record.store, record.name, record.location, None, record.dimension, record.updated_at)
    existing = store._collection.get(include=["documents", "metadatas", "embeddings"])
    need = target - len(existing["ids"])
    if need <= 0:
        return existing
    vectors = np.asarray(existing["embeddings"], dtype=np.float32)
    ids, texts, metadatas, noisy = noisy_copies(existing["documents"], existing["metadatas"], vectors, need)
    with locks.exclusive("collection", collection):
        registry.record_pending(conn, collection, ids, "add")
        for start in range(0, need, 2000):
            stop = min(start + 2000, need)
            store.add(ids[start:stop], texts[start:stop], metadatas[start:stop], noisy[start:stop].tolist())
        registry.save_ingest(conn, record, {"<bench padding>": {"digest": "padding", "chunk_ids": ids}}, [])
        registry.clear_pending(conn, collection)
        store.settled()
    return existing


def pad_baseline(where: Path, embeddings, target: int):
    """The plain script's store grown to `target` with the same kind of padding; returns the LangChain store."""
    import numpy as np
    from langchain_chroma import Chroma

    store = Chroma(collection_name="baseline", embedding_function=embeddings, persist_directory=str(where))
    got = store._collection.get(include=["documents", "metadatas", "embeddings"])
    need = target - len(got["ids"])
    if need > 0:
        vectors = np.asarray(got["embeddings"], dtype=np.float32)
        ids, texts, metadatas, noisy = noisy_copies(got["documents"], got["metadatas"], vectors, need, seed=1)
        for start in range(0, need, 2000):
            stop = min(start + 2000, need)
            store._collection.add(
                ids=ids[start:stop],
                documents=texts[start:stop],
                metadatas=metadatas[start:stop],
                embeddings=noisy[start:stop].tolist(),
            )
    return store


def latencies_ms(call, asked: list[str]) -> list[float]:
    out = []
    for question in asked:
        started = time.perf_counter()
        call(question)
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page-chars", type=int, default=2000, help="Cut pages to this many characters (0: whole).")
    parser.add_argument("--max-pages", type=int, default=0, help="Keep only the first N pages (0: all).")
    parser.add_argument("--query-runs", type=int, default=5, help="Cold `llmdeck rag query` runs (median).")
    parser.add_argument("--baseline-query-runs", type=int, default=3, help="Cold plain-script query runs (median).")
    parser.add_argument("--latency-chunks", type=int, default=10_000, help="Pad the collections to this size for (c).")
    parser.add_argument("--latency-queries", type=int, default=100, help="Warm queries timed for (c).")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto", help="Our ingest precision.")
    parser.add_argument("--keep", action="store_true", help="Keep the work directory (printed) for a look after.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llmdeck-bench-rag-speed-"))
    home = work / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'embedding_precision = "{args.precision}"\n', encoding="utf-8")
    os.environ["LLMDECK_HOME"] = str(home)
    try:
        run(args, work)
    finally:
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(args, work: Path) -> None:
    from langchain_huggingface import HuggingFaceEmbeddings

    from llmdeck.core.embedded import embedded_embedding_model_dir
    from llmdeck.rag.embeddings import embedding_precision, load_embeddings
    from llmdeck.rag.ingest import ingest
    from llmdeck.rag.query import open_retriever, query

    box = machine()
    load_before = loadavg()
    log(
        f"machine: {box['cpu']}, {box['cores']} cores, AVX512_BF16 {'yes' if box['avx512_bf16'] else 'no'}"
        f" (AMX_BF16 {'yes' if box['amx_bf16'] else 'no'}), load {' '.join(load_before)}"
    )
    files = write_corpus(work / "corpus", args.page_chars, args.max_pages)
    corpus_mb = sum(f.stat().st_size for f in files) / 1e6
    log(f"corpus: {len(files)} pages, {corpus_mb:.2f} MB (pages cut to {args.page_chars or 'no limit'} characters)")
    model_dir = str(embedded_embedding_model_dir())

    # (b) ingest, both models loaded and warmed first (the torch path of ours: more than a query's tokens)
    warm_texts = [f"warm-up sentence number {n} about installing packages and reading their docs" for n in range(64)]
    baseline_embeddings = HuggingFaceEmbeddings(model_name=model_dir, model_kwargs={"device": "cpu"})
    baseline_embeddings.embed_documents(warm_texts)
    ours_embeddings = load_embeddings()
    ours_embeddings.embed_documents(warm_texts)
    precision = embedding_precision()
    load_ingest = loadavg()
    base_chunks, base_s = baseline_ingest(files, baseline_embeddings, work / "baseline")
    log(f"baseline ingest: {base_chunks} chunks in {base_s:.1f} s ({base_chunks / base_s:.1f} chunks/s)")
    summary = ingest([work / "corpus"], "bench", chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    ours_chunks, ours_s = summary.chunks_added, summary.seconds
    log(f"llmdeck ingest: {ours_chunks} chunks in {ours_s:.1f} s ({ours_chunks / ours_s:.1f} chunks/s, {precision})")

    # (a) cold processes
    env = {**os.environ, **OFFLINE}
    llmdeck = str(Path(sys.executable).parent / "llmdeck")
    asked = questions(max(args.query_runs, args.baseline_query_runs) + 1)
    load_cold = loadavg()
    help_s = [timed_run([llmdeck, "--help"], env)[0] for _ in range(3)]
    first_s, first = timed_run([llmdeck, "rag", "query", "--collection", "bench", asked[0], "--json"], env)
    if not json.loads(first.stdout):
        raise SystemExit("rag query returned no chunks")
    cold_s = [
        timed_run([llmdeck, "rag", "query", "--collection", "bench", q, "--json"], env)[0]
        for q in asked[1 : args.query_runs + 1]
    ]
    log(
        f"cold rag query: median {statistics.median(cold_s):.2f} s of {len(cold_s)}"
        f" ({', '.join(f'{s:.2f}' for s in cold_s)}; first run {first_s:.2f} s);"
        f" cold llmdeck --help median {statistics.median(help_s):.2f} s"
    )
    base_cold = [
        timed_run([sys.executable, "-c", BASELINE_QUERY, model_dir, str(work / "baseline"), q], env)[0]
        for q in asked[1 : args.baseline_query_runs + 1]
    ]
    runs = ", ".join(f"{s:.2f}" for s in base_cold)
    log(f"cold plain-script query: median {statistics.median(base_cold):.2f} s ({runs})")

    # (c) warm latency at --latency-chunks
    pad_ours("bench", args.latency_chunks)
    base_store = pad_baseline(work / "baseline", baseline_embeddings, args.latency_chunks)
    warm = questions(args.latency_queries)
    load_warm = loadavg()
    query("bench", warm[0], k=5)  # the BM25 index syncs to the padded registry here, once
    retriever = open_retriever("bench", progress=False)
    stored = retriever.store.count()
    query_ms = latencies_ms(lambda q: query("bench", q, k=5), warm)
    search_ms = latencies_ms(lambda q: retriever.search(q, 5), warm)
    dense_ms = latencies_ms(lambda q: retriever.search(q, 5, "dense"), warm)
    base_store.similarity_search(warm[0], k=5)
    base_ms = latencies_ms(lambda q: base_store.similarity_search(q, k=5), warm)
    base_count = base_store._collection.count()
    log(
        f"warm latency at {stored} chunks (baseline {base_count}), p50 / p95 ms:"
        f" query() {statistics.median(query_ms):.1f} / {percentile(query_ms, 0.95):.1f};"
        f" Retriever hybrid {statistics.median(search_ms):.1f} / {percentile(search_ms, 0.95):.1f};"
        f" Retriever dense {statistics.median(dense_ms):.1f} / {percentile(dense_ms, 0.95):.1f};"
        f" plain similarity_search {statistics.median(base_ms):.1f} / {percentile(base_ms, 0.95):.1f}"
    )
    load_after = loadavg()
    log(f"load average: before {' '.join(load_before)}, after {' '.join(load_after)}")

    def speed(metric: str, ours: float, base: float | None, target: str, higher_is_better: bool) -> dict:
        ratio = None if not base else (ours / base if higher_is_better else base / ours)
        return {
            "metric": metric,
            "ours": round(ours, 3),
            "baseline": None if base is None else round(base, 3),
            "ratio": None if ratio is None else round(ratio, 2),
            "target": target,
        }

    rows = [
        speed(
            f"cold rag query wall s (median of {len(cold_s)})",
            statistics.median(cold_s),
            statistics.median(base_cold),
            "< 2 s",
            False,
        ),
        speed("cold llmdeck --help wall s (the floor)", statistics.median(help_s), None, "informational", False),
        speed("ingest chunks/s", ours_chunks / ours_s, base_chunks / base_s, ">= 1.5x", True),
        speed("ingest seconds, same files", ours_s, base_s, "informational", False),
        speed(
            f"query() p95 ms @{stored} chunks (warm, hybrid)",
            percentile(query_ms, 0.95),
            percentile(base_ms, 0.95),
            "<= 50 ms",
            False,
        ),
        speed("query() p50 ms (warm, hybrid)", statistics.median(query_ms), statistics.median(base_ms), "", False),
        speed("opened Retriever hybrid p95 ms", percentile(search_ms, 0.95), percentile(base_ms, 0.95), "", False),
        speed("opened Retriever dense p95 ms", percentile(dense_ms, 0.95), percentile(base_ms, 0.95), "", False),
    ]
    summary_line = {
        "bench": "rag_speed",
        "rows": rows,
        **box,
        "load_before": load_before,
        "load_at_ingest": load_ingest,
        "load_at_cold_queries": load_cold,
        "load_at_warm_queries": load_warm,
        "load_after": load_after,
        "pages": len(files),
        "corpus_mb": round(corpus_mb, 2),
        "page_chars": args.page_chars,
        "chunks_ours": ours_chunks,
        "chunks_baseline": base_chunks,
        "precision_ours": precision,
        "cold_query_s": [round(s, 3) for s in cold_s],
        "cold_query_first_s": round(first_s, 3),
        "cold_baseline_s": [round(s, 3) for s in base_cold],
        "latency_chunks": stored,
    }
    print("SUMMARY " + json.dumps(summary_line))


if __name__ == "__main__":
    main()
