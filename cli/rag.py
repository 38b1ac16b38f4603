"""`llmdeck rag`: ingest documents into collections, list/remove them, query them."""

from __future__ import annotations

import sys

import click

from llmdeck.cli.options import INT, NAME
from llmdeck.cli.output import emit_json, info, table
from llmdeck.cli.rag_synth import synth_command

RETRIEVAL = click.option(
    "--retrieval",
    type=click.Choice(["dense", "bm25", "hybrid"]),
    help="dense vectors, bm25 keywords, or hybrid: both fused by reciprocal rank (default: config.toml's, hybrid).",
)


RERANK_MODEL = click.option(
    "--rerank-model",
    help="Rerank with this store model or .gguf (its likelihood of 'yes'), or a local cross-encoder folder"
    " (default: config.toml's rerank_model, else the store's default model).",
)


@click.group("rag")
def command() -> None:
    """Document collections for retrieval-augmented chat (`llmdeck chat --rag NAME`).

    Example: llmdeck rag ingest docs/ --collection mydocs && llmdeck chat --rag mydocs "How do I reset my password?"
    """


@command.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@click.option("--collection", "-c", required=True, type=NAME, help="Collection name (3-46 chars: a-z, 0-9, '-').")
@click.option(
    "--store", type=click.Choice(["chroma", "pinecone"]), help="Vector store for a new collection (default chroma)."
)
@click.option(
    "--chroma-url", help="Chroma server, e.g. http://127.0.0.1:8000 (default: embedded Chroma under LLMDECK_HOME)."
)
@click.option(
    "--pinecone-host", help="Pinecone control-plane host override (default: PINECONE_HOST or Pinecone's cloud)."
)
@click.option(
    "--embedding-model", help="Sentence-transformers path or hub id (default: the embedded all-MiniLM-L6-v2)."
)
@click.option("--include", multiple=True, help="Only files matching this glob (repeatable).")
@click.option("--exclude", multiple=True, help="Skip files matching this glob (repeatable).")
@click.option("--chunk-size", type=INT, default=1000, show_default=True, help="Characters per chunk.")
@click.option(
    "--chunk-overlap", type=INT, default=150, show_default=True, help="Characters shared by neighbouring chunks."
)
@click.option("--prune", is_flag=True, help="Remove sources of the collection that are not among PATHS any more.")
@click.option(
    "--follow-links",
    is_flag=True,
    help="Follow symbolic links that lead out of the named folders (default: skip and list them).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON document.")
def ingest_command(
    paths,
    collection,
    store,
    chroma_url,
    pinecone_host,
    embedding_model,
    include,
    exclude,
    chunk_size,
    chunk_overlap,
    prune,
    follow_links,
    as_json,
):
    """Ingest files and directories (recursively) into a collection; unchanged files are skipped.

    Example: llmdeck rag ingest docs/ notes.md --collection mydocs --exclude '*.log'
    """
    from llmdeck.rag.ingest import ingest

    summary = ingest(
        list(paths),
        collection,
        store,
        chroma_url=chroma_url,
        pinecone_host=pinecone_host,
        embedding_model=embedding_model,
        include=list(include),
        exclude=list(exclude),
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        prune=prune,
        follow_links=follow_links,
        progress=sys.stderr.isatty(),
    )
    if as_json:
        emit_json(summary.to_dict())
        return
    info(
        f"{collection}: {summary.files_seen} files ({summary.files_changed} changed,"
        f" {summary.files_unchanged} unchanged, {summary.files_pruned} pruned);"
        f" chunks +{summary.chunks_added} ~{summary.chunks_updated}"
        f" ={summary.chunks_skipped} -{summary.chunks_removed} in {summary.seconds}s ({summary.chunks_per_s} chunks/s)"
    )
    for skipped in summary.skipped_files:
        info(f"  skipped {skipped['path']}: {skipped['reason']}")


@command.command("collections")
@click.option("--json", "as_json", is_flag=True, help="Print the collections as one JSON document.")
def collections_command(as_json):
    """List collections: store, chunks, embedding model, sources.

    Example: llmdeck rag collections --json
    """
    from llmdeck.rag.query import list_collections

    infos = [info_.to_dict() for info_ in list_collections()]
    if as_json:
        emit_json(infos)
    else:
        click.echo(table(infos, ["name", "store", "chunks", "sources", "embedding_model", "location"]))


@command.command("rm")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help='Print {"removed": NAME}.')
def rm_command(name, as_json):
    """Remove a collection and its vectors.

    Example: llmdeck rag rm mydocs
    """
    from llmdeck.rag.query import remove_collection

    remove_collection(name)
    emit_json({"removed": name}) if as_json else info(f"removed collection {name}")


@command.command("query")
@click.argument("question")
@click.option("--collection", "-c", required=True, type=NAME, help="Collection to search.")
@click.option("-k", "k", type=INT, default=5, show_default=True, help="How many chunks.")
@click.option("--embedding-model", help="Refused unless it is the collection's own model.")
@RETRIEVAL
@click.option(
    "--rerank/--no-rerank",
    default=None,
    help="Reorder the top 10 chunks by a model's judgment of relevance (default: config.toml's rerank).",
)
@RERANK_MODEL
@click.option("--json", "as_json", is_flag=True, help="Print the chunks as one JSON document.")
def query_command(question, collection, k, embedding_model, retrieval, rerank, rerank_model, as_json):
    """The chunks closest to QUESTION, best first, with source and score.

    Example: llmdeck rag query --collection mydocs "how do I reset my password?" -k 3
    """
    from llmdeck.rag.query import query

    hits = query(collection, question, k, embedding_model, retrieval, rerank=rerank, rerank_model=rerank_model)
    rows = [
        {
            "rank": n,
            "score": round(h.score, 6),
            "source": h.metadata.get("source"),
            "chunk": h.metadata.get("chunk"),
            "title": h.metadata.get("title"),
            "section": h.metadata.get("section"),
            "page": h.metadata.get("page"),
            "text": h.text,
        }
        for n, h in enumerate(hits, start=1)
    ]
    if as_json:
        emit_json(rows)
        return
    from llmdeck.rag.documents import citation

    for row, hit in zip(rows, hits):
        click.echo(f"[{row['rank']}] {row['score']:.3f} {citation(hit.metadata)} (chunk {row['chunk']})")
        click.echo(f"    {row['source']}")
        click.echo("    " + hit.text[:300].replace("\n", "\n    "))


@command.command("eval")
@click.argument("collection", type=NAME)
@click.option("--qa", "qa_file", required=True, help="JSON lines: question, sources (file names) and/or answer.")
@click.option(
    "--retrieval",
    "modes",
    multiple=True,
    type=click.Choice(["dense", "bm25", "hybrid", "dense+rerank", "bm25+rerank", "hybrid+rerank"]),
    help="Only these modes (repeatable; default: dense, bm25 and hybrid side by side; MODE+rerank reranks MODE).",
)
@click.option("--rerank", is_flag=True, help="Add hybrid+rerank to the modes.")
@RERANK_MODEL
@click.option("--json", "as_json", is_flag=True, help="Print the report (every question's rank per mode) as JSON.")
def eval_command(collection, qa_file, modes, rerank, rerank_model, as_json):
    """Recall@1, recall@5 and MRR@10 of COLLECTION's retrieval on the questions of a QA file, per retrieval
    mode, with 95% intervals, the search time per question and the misses (what came back instead).

    Example: llmdeck rag eval mydocs --qa questions.jsonl --rerank
    """
    from pathlib import Path

    from llmdeck.rag.query import RETRIEVAL_MODES
    from llmdeck.services.rag_eval import evaluate, format_report

    chosen = list(modes) or list(RETRIEVAL_MODES)
    if rerank and "hybrid+rerank" not in chosen:
        chosen.append("hybrid+rerank")
    report = evaluate(collection, Path(qa_file), chosen, rerank_model=rerank_model)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(format_report(report))


command.add_command(synth_command)  # `rag synth`: cli/rag_synth.py
