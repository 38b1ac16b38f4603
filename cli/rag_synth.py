"""`llmdeck rag synth`: questions from a collection's own chunks (llmdeck.services.rag_synth), registered in the
`rag` group by cli/rag.py."""

from __future__ import annotations

import click

from llmdeck.cli.options import FLOAT, INT, NAME, Number, UserPath, setting
from llmdeck.cli.output import emit_event, info


def show_event(event) -> None:
    """One event of a synth: each chunk tried on stderr, the summary on stdout."""
    from llmdeck.services.rag_synth import QuestionSynthesized, SynthFinished, SynthStarted

    match event:
        case SynthStarted():
            info(
                f"synth {event.collection}: up to {event.limit} questions from at most {event.max_chunks} of its"
                f" {event.chunks} chunks, by {event.model}; retrieval {event.retrieval}"
            )
        case QuestionSynthesized():
            outcome = f"kept (rank {event.rank})" if event.kept else f"dropped, {event.reason}"
            question = f" {event.question[:90]!r}" if event.question else ""
            info(f"[{event.kept_count}/{event.limit} kept, {event.tried} tried] {outcome}:{question}")
        case SynthFinished():
            dropped = ", ".join(f"{n} {reason}" for reason, n in event.dropped.items() if n) or "none"
            if event.stopped:
                click.echo(f"stopped after {event.tried} chunks: nothing written")
                return
            click.echo(f"{event.kept} questions kept of {event.tried} chunks tried (dropped: {dropped})")
            click.echo(f"wrote {event.out}")
            if event.sft:
                click.echo(f"wrote {event.sft} ({event.sft_rows} SFT rows, messages format)")
            click.echo(f"next: llmdeck rag eval {event.collection} --qa {event.out}")
        case _:
            raise TypeError(f"a synth has no {type(event).__name__} event")


@click.command("synth")
@click.argument("collection", type=NAME)
@click.option("--out", "-o", required=True, type=UserPath(dir_okay=False), help="The rag eval QA file to write.")
@click.option("--model", "-m", type=NAME, help="Store model that writes the questions (default: the default model).")
@click.option("--limit", "-n", type=INT, default=20, show_default=True, help="Questions to keep at most.")
@click.option(
    "--sft", type=UserPath(dir_okay=False), help="Also write SFT rows (messages: the chunk as context) to this file."
)
@click.option(
    "--retrieval",
    type=click.Choice(["dense", "bm25", "hybrid"]),
    help="The mode whose top-k must find a question's own source (default: config.toml's, hybrid).",
)
@click.option("--top-k", type=INT, default=5, show_default=True, help="How deep the retrieval filter looks.")
@click.option(
    "--max-overlap",
    type=FLOAT,
    default=0.6,
    show_default=True,
    help="Drop a question when more than this share of its content words are in the chunk (0..1).",
)
@click.option("--max-chunks", type=INT, help="Chunks tried at most (default: 3 x --limit).")
@click.option("--seed", type=Number(int, 0, 2**32 - 1), default=0, show_default=True, help="Which chunks, in order.")
@click.option("--threads", type=setting("n_threads"), help="llama.cpp threads (default from config).")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON lines (progress stays on stderr).")
def synth_command(
    collection, out, model, limit, sft, retrieval, top_k, max_overlap, max_chunks, seed, threads, as_json
):
    """Questions generated from COLLECTION's own chunks by a store model, each in other words than its chunk and
    kept only when retrieval finds its chunk's source; written as a rag eval QA file (and SFT rows with --sft).

    Example: llmdeck rag synth mydocs --out synth.jsonl --limit 10 && llmdeck rag eval mydocs --qa synth.jsonl
    """
    import sys

    from llmdeck.services.rag_synth import SynthFinished, synthesize

    synthesis = synthesize(
        collection,
        out,
        model=model,
        limit=limit,
        sft=sft,
        retrieval=retrieval,
        top_k=top_k,
        max_overlap=max_overlap,
        max_chunks=max_chunks,
        seed=seed,
        n_threads=threads,
        progress=sys.stderr.isatty() or not as_json,
    )
    try:
        for event in synthesis:
            if as_json:
                emit_event(event)
                if not isinstance(event, SynthFinished):
                    show_event(event)
            else:
                show_event(event)
    finally:
        synthesis.close()
