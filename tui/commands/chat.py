"""`llmdeck chat`: stream an answer from a local model, or a simple REPL on a terminal."""

from __future__ import annotations

import sys

import click

from tui.output import emit_json, info


def _sampling(temperature, top_p, max_tokens, seed, stop):
    from core.runtime import Sampling

    return Sampling.from_settings(temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed, stop=stop or None)


def _stream_one(model, messages, sampling, as_json: bool):
    """Stream one answer to stdout (text, or JSON lines); return its stats."""
    from core.runtime import ChatStats, stream_chat

    stats = ChatStats()
    for piece in stream_chat(model, messages, sampling, stats):
        if as_json:
            emit_json({"type": "token", "text": piece})
        else:
            sys.stdout.write(piece)
            sys.stdout.flush()
    if as_json:
        emit_json({
            "type": "done", "tokens": stats.tokens, "ttft_s": round(stats.ttft_s, 4),
            "tokens_per_s": round(stats.tokens_per_s, 2), "total_s": round(stats.total_s, 4),
            "finish_reason": stats.finish_reason,
        })
    else:
        sys.stdout.write("\n")
    return stats


@click.command("chat")
@click.argument("prompt", required=False)
@click.option("--model", "-m", "model_name", help="Store name or .gguf path (default: the store default).")
@click.option("--system", "-s", help="System prompt.")
@click.option("--temperature", type=float, help="Sampling temperature (default from config, 0.7).")
@click.option("--top-p", type=float, help="Nucleus sampling (default 0.95).")
@click.option("--max-tokens", type=int, help="Cap on generated tokens (default 512).")
@click.option("--seed", type=int, help="Sampling seed for reproducible answers.")
@click.option("--stop", multiple=True, help="Stop sequence (repeatable).")
@click.option("--ctx", "n_ctx", type=int, help="Context window to load the model with.")
@click.option("--threads", "n_threads", type=int, help="CPU threads for llama.cpp.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines: token events, then a done event with stats.")
@click.option("--rag", "rag_collection", help="Answer from this document collection, citing sources [n].")
@click.option("--session", "session_id", help="Resume (or start) this saved session: its history is the memory.")
@click.option("-k", "rag_k", type=int, default=4, show_default=True, help="With --rag: chunks retrieved per question.")
def command(prompt, model_name, system, temperature, top_p, max_tokens, seed, stop, n_ctx, n_threads, as_json,
            rag_collection, session_id, rag_k):
    """Chat with a local model. With no PROMPT on a terminal, opens a simple REPL; with no PROMPT
    and piped input, reads the prompt from stdin.

    Example: llmdeck chat "Name three uses of a paperclip." --max-tokens 64
    """
    from core.errors import BadInput
    from core.runtime import build_messages, load_model

    sampling = _sampling(temperature, top_p, max_tokens, seed, stop)
    if prompt is None and not sys.stdin.isatty():
        prompt = sys.stdin.read().strip()
        if not prompt:
            raise BadInput("chat: no prompt given (pass it as an argument or on stdin)")
    model = load_model(model_name, n_ctx=n_ctx, n_threads=n_threads)
    if rag_collection or session_id:
        if prompt is not None:
            _stream_with_memory(prompt, model, system, sampling, as_json, rag_collection, session_id, rag_k)
        else:
            _repl_with_memory(model, system, sampling, as_json, rag_collection, session_id, rag_k)
        return
    if prompt is not None:
        _stream_one(model, build_messages(prompt, system), sampling, as_json)
        return
    _repl(model, system, sampling, as_json)


def _stream_with_memory(prompt, model, system, sampling, as_json, rag_collection, session_id, rag_k) -> None:
    """One answer with session memory (`--session`), from a collection with citations (`--rag`)."""
    from core.runtime import ChatStats
    from core.sessions import stream_session_chat
    from rag.chat import RagAnswer, stream_rag_chat

    answer, stats = RagAnswer(), ChatStats()
    if rag_collection:
        pieces = stream_rag_chat(prompt, rag_collection, session_id, model=model, k=rag_k,
                                 sampling=sampling, answer=answer)
    else:
        pieces = stream_session_chat(session_id, prompt, model, system, sampling, stats,
                                     on_session=lambda s: setattr(answer, "session_id", s.id))
    for piece in pieces:
        emit_json({"type": "token", "text": piece}) if as_json else sys.stdout.write(piece)
        sys.stdout.flush()
    stats = answer.stats or stats
    if as_json:
        done = {"type": "done", "tokens": stats.tokens, "ttft_s": round(stats.ttft_s, 4),
                "tokens_per_s": round(stats.tokens_per_s, 2), "total_s": round(stats.total_s, 4),
                "finish_reason": stats.finish_reason, "session": answer.session_id}
        if rag_collection:
            done["sources"] = [{k: s[k] for k in ("n", "source", "chunk")} for s in answer.sources]
            done["standalone_question"] = answer.standalone_question
        emit_json(done)
        return answer.session_id
    sys.stdout.write("\n")
    for source in answer.sources:
        info(f"[{source['n']}] {source['source']} (chunk {source['chunk']})")
    info(f"session: {answer.session_id}")
    return answer.session_id


def _repl_with_memory(model, system, sampling, as_json, rag_collection, session_id, rag_k) -> None:
    """The REPL for --rag/--session: every turn goes through the stored session (new one if no id)."""
    info(f"chatting with {model.path.name}{' over ' + rag_collection if rag_collection else ''} - /exit or Ctrl-D quits")
    for line in _typed_lines():
        session_id = _stream_with_memory(line, model, system, sampling, as_json, rag_collection, session_id, rag_k)


def _typed_lines():
    """Non-empty lines typed at the `> ` prompt, until /exit, /quit or Ctrl-D."""
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


def _repl(model, system, sampling, as_json: bool) -> None:
    """A minimal line REPL: history is kept for the session; /reset clears it, /exit or Ctrl-D leaves."""
    from core.runtime import build_messages

    info(f"chatting with {model.path.name} - /reset clears history, /exit or Ctrl-D quits")
    history: list[dict] = []
    for line in _typed_lines():
        if line == "/reset":
            history.clear()
            continue
        stats = _stream_one(model, build_messages(line, system, history), sampling, as_json)
        history += [{"role": "user", "content": line}, {"role": "assistant", "content": stats.text}]
