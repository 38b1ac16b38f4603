"""`llmdeck chat`: stream an answer (plain, with a stored session, or from a RAG collection), or a REPL."""

from __future__ import annotations

import sys

import click

from llmdeck.cli.options import INT, NAME
from llmdeck.cli.output import generation_options, info, stream_answer


@click.command("chat")
@click.argument("prompt", required=False)
@click.option("--model", "-m", "model_name", type=NAME, help="Store name or .gguf path (default: the store default).")
@click.option("--system", "-s", help="System prompt.")
@generation_options
@click.option("--rag", "rag_collection", type=NAME, help="Answer from this document collection, citing sources [n].")
@click.option(
    "--session", "session_id", type=NAME, help="Resume (or start) this saved session: its history is the memory."
)
@click.option("-k", "rag_k", type=INT, default=4, show_default=True, help="With --rag: chunks retrieved per question.")
@click.option(
    "--retrieval",
    type=click.Choice(["dense", "bm25", "hybrid"]),
    help="With --rag: dense, bm25 or hybrid (both, fused by reciprocal rank; default: config.toml's, hybrid).",
)
@click.option(
    "--rerank/--no-rerank",
    default=None,
    help="With --rag: reorder the top chunks by the model's judgment of relevance (default: config.toml's rerank).",
)
@click.option(
    "--rerank-model",
    help="With --rag: rerank with this store model or .gguf, or a local cross-encoder folder"
    " (default: the chat model).",
)
@click.option(
    "--adapter",
    "adapter_run",
    type=NAME,
    help="Apply this finished run's LoRA at load (default model: the run's base).",
)
def command(
    prompt,
    model_name,
    system,
    temperature,
    top_p,
    max_tokens,
    seed,
    stop,
    n_ctx,
    n_threads,
    as_json,
    rag_collection,
    session_id,
    rag_k,
    retrieval,
    rerank,
    rerank_model,
    adapter_run,
):
    """Chat with a local model. With no PROMPT on a terminal, opens a REPL (line editing and history);
    with no PROMPT and piped input, reads the prompt from stdin.

    Example: llmdeck chat "Name three uses of a paperclip." --max-tokens 64

    With a run's adapter: llmdeck chat --adapter my-run "Who made you?"
    """
    from llmdeck.core.errors import BadInput
    from llmdeck.core.runtime import Sampling

    sampling = Sampling.from_settings(
        temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed, stop=stop or None
    )
    options = dict(
        model=model_name,
        system=system,
        rag=rag_collection,
        k=rag_k,
        retrieval=retrieval,
        rerank=rerank,
        rerank_model=rerank_model,
        sampling=sampling,
        n_ctx=n_ctx,
        n_threads=n_threads,
        adapter=adapter_run,
    )
    if prompt is None and not sys.stdin.isatty():
        prompt = sys.stdin.read().strip()
        if not prompt:
            raise BadInput("chat: no prompt given (pass it as an argument or on stdin)")
    if prompt is not None:
        answer(prompt, as_json, session=session_id, **options)
    else:
        repl(as_json, session_id, **options)


def answer(prompt: str, as_json: bool, **options):
    """Stream one answer to stdout (text, or JSON lines); sources and the session go to stderr. Returns it."""
    from llmdeck.services.chat import chat

    response = chat(prompt, **options)
    if response.warning:
        info(f"warning: {response.warning}")
    stream_answer(response, as_json)
    if as_json:
        return response
    for source in response.sources:
        info(f"[{source['n']}] {source.get('citation') or source['source']} (chunk {source['chunk']})")
    if response.session_id:
        info(f"session: {response.session_id}")
    return response


def repl(as_json: bool, session_id: str | None, **options) -> None:
    """A line REPL. Without --session/--rag the history lives in memory (/reset clears it, after a yes);
    with them every turn is stored in the session (a new one when no id is given)."""
    stored = bool(session_id or options.get("rag"))
    where = f" over {options['rag']}" if options.get("rag") else ""
    info(f"chatting{where} - {'' if stored else '/reset clears history, '}/exit or Ctrl-D quits")
    history: list[dict] = []
    for line in typed_lines():
        if line == "/reset" and not stored:
            if confirm("clear the conversation?"):
                history.clear()
            continue
        if stored:
            session_id = answer(line, as_json, session=session_id, **options).session_id
        else:
            response = answer(line, as_json, history=list(history), **options)
            history += [{"role": "user", "content": line}, {"role": "assistant", "content": response.text}]


def typed_lines():
    """Non-empty lines typed at the `> ` prompt, with line editing and history, until /exit, /quit or Ctrl-D."""
    try:
        import readline  # noqa: F401  (input() gains arrow keys, editing and history)
    except ImportError:  # not on every platform
        pass
    while True:
        try:
            line = input("> ").strip()
        except EOFError:
            info("")
            return
        if line in ("/exit", "/quit"):
            return
        if line:
            yield line


def confirm(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False
