"""`llmdeck agent`: ask a question that a ReAct agent answers with tools; recorded runs (`agent runs`)."""

from __future__ import annotations

import json
import sys

import click

from llmdeck.agents.events import AgentAnswered, AgentFailed, RunEvent, ThoughtWritten, ToolCalled, ToolReturned
from llmdeck.cli.groups import DefaultCommandGroup
from llmdeck.cli.options import FLOAT, INT, NAME, UserPath, setting
from llmdeck.cli.output import emit_event, info
from llmdeck.cli.records import export_rows, runs_group
from llmdeck.cli.sweeps import run_sweep, sweep_options


@click.group("agent", cls=DefaultCommandGroup, default_command="ask")
def command() -> None:
    """A ReAct agent with tools on a local model: `llmdeck agent "QUESTION" [options]` (the `ask`
    command) streams its steps and answer; `llmdeck agent runs list|show|export` inspects recorded runs.

    Example: llmdeck agent "What is 17 * 23?" --tools calculator
    """


@command.command("ask")
@click.argument("question", required=False)
@click.option("--model", "-m", "model_name", type=NAME, help="Store name or .gguf path (default: the store default).")
@click.option(
    "--tools",
    help="Comma-separated tool names (default: calculator,files,datetime,python, plus rag_search"
    " with --collection). See `llmdeck tools list`.",
)
@click.option(
    "--tools-file",
    multiple=True,
    type=UserPath(dir_okay=False),
    help="A Python file of LangChain @tool functions (repeatable).",
)
@click.option("--workspace", metavar="DIR", help="Directory the files tool reads (default: here).")
@click.option("--collection", type=NAME, help="RAG collection the rag_search tool searches.")
@click.option("--max-steps", type=INT, default=6, show_default=True, help="Model steps at most (the last must answer).")
@click.option("--max-seconds", type=FLOAT, default=120.0, show_default=True, help="Wall-time limit.")
@click.option("--system", help="Extra instructions before the ReAct ones.")
@click.option(
    "--thoughts/--no-thoughts",
    default=False,
    show_default=True,
    help="Decode a one-line 'Thought:' before each action (on SmolLM2-135M it halves tool-choice accuracy).",
)
@click.option(
    "--observation-role",
    type=click.Choice(["user", "tool"]),
    default="user",
    show_default=True,
    help="Tool results as user 'Result:' messages, or as `tool` messages (where the template has that role).",
)
@click.option("--ctx", "n_ctx", type=setting("n_ctx"), help="Context window to load the model with.")
@click.option("--threads", "n_threads", type=setting("n_threads"), help="CPU threads for llama.cpp.")
@click.option(
    "--constrained/--free",
    default=True,
    show_default=True,
    help="Grammar-constrained steps, or free text parsed (what the model does on its own).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="JSON lines: thought, tool_call, observation, final, error (with --tasks: start, attempt, summary).",
)
@sweep_options("agent")
def ask_command(
    question,
    model_name,
    tools,
    tools_file,
    workspace,
    collection,
    max_steps,
    max_seconds,
    system,
    thoughts,
    observation_role,
    n_ctx,
    n_threads,
    constrained,
    as_json,
    tasks_file,
    temperature,
    adapter,
    guide,
    hints,
    **sweep_flags,
):  # the other sweep flags: run_sweep reads them
    """Answer QUESTION (or stdin) with tools; the trace goes to stderr, the answer to stdout. With --tasks FILE,
    attempt every question of a task file instead (each recorded with its verdict).

    Example: llmdeck agent "Which file mentions the invoice number?" --tools files --workspace ~/notes

    Example: llmdeck agent --tasks tool_tasks.jsonl --samples 4 --temperature 0.7 --guide
    """
    from llmdeck.agents.react import AgentOptions
    from llmdeck.core.errors import BadInput, LlmdeckError, validated
    from llmdeck.services.agent import ask

    if tasks_file:
        if question:
            raise BadInput("agent: give a QUESTION or --tasks FILE, not both")
        if tools or tools_file or workspace or collection or system or thoughts:
            raise BadInput(
                "agent --tasks: tools, workspace and collection come from the task file"
                " (--tools/--tools-file/--workspace/--collection/--system/--thoughts do not apply)"
            )
        run_sweep(
            "agent",
            model=model_name,
            n_threads=n_threads,
            as_json=as_json,
            max_steps=max_steps,
            constrained=constrained,
            guide=guide,
            hints=hints,
        )
        return
    if guide or hints:
        raise BadInput("agent: --guide and --hints need --tasks FILE (they come from each task)")
    if question is None and not sys.stdin.isatty():
        question = sys.stdin.read().strip()
    if not question:
        raise BadInput("agent: no question given (pass it as an argument or on stdin)")
    options = validated(AgentOptions, "agent", {"max_steps": max_steps, "max_seconds": max_seconds, "system": system})
    names = [n.strip() for n in tools.split(",") if n.strip()] if tools is not None else None
    response = ask(
        question,
        model=model_name,
        tools=names,
        tools_files=tuple(tools_file),
        workspace=workspace,
        collection=collection,
        options=options,
        thoughts=thoughts,
        observation_role=observation_role,
        n_ctx=n_ctx,
        n_threads=n_threads,
        adapter=adapter,
        temperature=temperature,
        constrained=constrained,
    )
    for warning in response.warnings:
        info(f"warning: {warning}")
    try:
        for event in response:
            if as_json:
                emit_event(event)
            elif isinstance(event, AgentAnswered):
                sys.stdout.write(event.answer + "\n")
                sys.stdout.flush()
                info(final_note(event, response.run_id))
            else:
                info(render_event(event))
    finally:
        response.close()
    if response.limit == "error":
        raise LlmdeckError(f"agent run {response.run_id} failed (best answer so far printed)")


def final_note(event: AgentAnswered, run_id: str) -> str:
    limit = {
        "max_steps": "stopped at the step limit",
        "wall_time": "stopped at the time limit",
        "error": "stopped by an error",
    }.get(event.limit or "")
    outcome = f"best answer so far ({limit})" if limit else "answered"
    return f"[{outcome} in {event.steps} steps, {event.seconds:.1f} s; run {run_id}]"


def render_event(event: RunEvent) -> str:
    """One event of an agent run as a human-readable trace line."""
    match event:
        case ThoughtWritten():
            return f"[{event.step}] thought: {event.text}"
        case ToolCalled():
            return f"[{event.step}] {event.name}({json.dumps(event.args, ensure_ascii=False)})"
        case ToolReturned():
            content = event.content if len(event.content) <= 500 else event.content[:500] + " ..."
            return f"[{event.step}] {'error' if event.error else 'result'}: {content}"
        case AgentAnswered():
            return f"answer: {event.answer}" + (f"  ({event.limit})" if event.limit else "")
        case AgentFailed():
            return f"error: {event.message}"
    raise TypeError(f"an agent run has no {type(event).__name__} event")


@click.command()
@click.option("--output", "-o", required=True, type=UserPath(dir_okay=False), help="JSONL file to write.")
@click.option("--all", "include_limited", is_flag=True, help="Also runs stopped by a limit (best answers so far).")
def export_command(output, include_limited):
    from llmdeck.agents.records import agent_trace_rows

    export_rows(agent_trace_rows(include_limited), output)


command.add_command(
    runs_group(
        "agent",
        render_event,
        export=export_command,
        export_help="Write answered runs as a `messages` dataset with tool calls,"
        " for `llmdeck train --dataset FILE`.\n\n"
        "Example: llmdeck agent runs export -o traces.jsonl",
    )
)
