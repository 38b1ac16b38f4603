"""`llmdeck verify`: one agent writes Python for a task, the other runs it in the sandbox and checks it."""

from __future__ import annotations

import sys

import click

from llmdeck.agents.events import CodeExecuted, CodeWritten, MessageSent, RunEvent, VerdictReached
from llmdeck.cli.groups import DefaultCommandGroup
from llmdeck.cli.options import FLOAT, INT, NAME, UserPath, setting
from llmdeck.cli.output import emit_event, info
from llmdeck.cli.records import export_rows, runs_group
from llmdeck.cli.sweeps import run_sweep, sweep_options


@click.group("verify", cls=DefaultCommandGroup, default_command="run")
def command() -> None:
    """Code verification: `llmdeck verify "TASK" [--tests FILE | --expect TEXT]` (the `run` command) lets a
    writer model and a sandboxed executor iterate until the code is verified; `llmdeck verify runs
    list|show|export` inspects recorded runs.

    Example: llmdeck verify "Print the first 10 square numbers, one per line." --max-rounds 3

    Sandbox tiers (--isolation; auto takes the strongest available, the verdict names the one that ran):

    \b
    bubblewrap  bwrap installed; no network, no capabilities. The program's root
                holds only the system dirs (/usr, /bin, /lib*), the interpreter
                and its standard library (read-only), its work dir, /dev/null,
                zero, full, random, urandom, and a /proc and /tmp of its own.
                The rest of /etc (password hashes), /root, /home, /work, the
                checkouts, this one and its venv do not exist there.
    namespaces  unshare works (user namespaces allowed): the same root, built by
                the supervisor (pivot_root); no network, no capabilities.
    process     neither: resource limits and a minimal environment only; the
                code reads and writes what you can and reaches the network.

    Not hidden by either isolating tier: what the system dirs hold (installed programs and libraries,
    /usr/share, /usr/local) and the kernel's files in /proc (cpuinfo, meminfo...).
    """


@command.command("run")
@click.argument("task", required=False)
@click.option(
    "--model",
    "-m",
    "model_name",
    type=NAME,
    help="Store name or .gguf path of the writer (default: the store default).",
)
@click.option(
    "--tests", type=UserPath(dir_okay=False), help="Python file of asserts / test_ functions run against the code."
)
@click.option("--expect", help="The exact stdout the program must print.")
@click.option("--max-rounds", type=INT, default=3, show_default=True, help="Write-and-run rounds at most.")
@click.option("--max-tokens", type=INT, default=1024, show_default=True, help="Tokens per written reply.")
@click.option(
    "--timeout", "wall_s", type=FLOAT, default=10.0, show_default=True, help="Wall seconds per sandboxed run."
)
@click.option(
    "--isolation",
    type=click.Choice(["auto", "bubblewrap", "namespaces", "process"]),
    default="auto",
    show_default=True,
    help="Sandbox tier (auto: the strongest available; `llmdeck verify --help` says what each hides).",
)
@click.option("--ctx", "n_ctx", type=setting("n_ctx"), help="Context window to load the model with.")
@click.option("--threads", "n_threads", type=setting("n_threads"), help="CPU threads for llama.cpp.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="JSON lines: code, execution, message, verdict (with --tasks: start, attempt, summary).",
)
@sweep_options("verify")
def run_command(
    task,
    model_name,
    tests,
    expect,
    max_rounds,
    max_tokens,
    wall_s,
    isolation,
    n_ctx,
    n_threads,
    as_json,
    tasks_file,
    temperature,
    adapter,
    **sweep_flags,
):  # the other sweep flags: run_sweep reads them
    """Write and verify code for TASK (or stdin). Exit 0 when verified (or ran, with no checks given), 1 otherwise.
    With --tasks FILE, attempt every coding task of a task file instead (each recorded with its verdict).

    Example: llmdeck verify "Define is_prime(n)." --tests tests/test_prime.py

    Example: llmdeck verify --tasks code_tasks.jsonl --samples 4 --temperature 0.7 --max-rounds 2
    """
    from llmdeck.agents.sandbox import SandboxLimits
    from llmdeck.agents.verify import VerifyOptions
    from llmdeck.core.errors import BadInput, LlmdeckError, validated
    from llmdeck.services.verify import verify

    if tasks_file:
        if task or tests or expect:
            raise BadInput("verify: give a TASK (with --tests/--expect) or --tasks FILE, not both")
        run_sweep(
            "verify",
            model=model_name,
            n_threads=n_threads,
            as_json=as_json,
            max_rounds=max_rounds,
            max_tokens=max_tokens,
            timeout_s=wall_s,
            isolation=isolation,
        )
        return
    if task is None and not sys.stdin.isatty():
        task = sys.stdin.read().strip()
    if not task:
        raise BadInput("verify: no task given (pass it as an argument or on stdin)")
    options = validated(
        VerifyOptions, "verify", {"max_rounds": max_rounds, "max_tokens": max_tokens, "temperature": temperature}
    )
    if wall_s <= 0:
        raise BadInput(f"--timeout {wall_s}: expected a positive number of seconds")
    response = verify(
        task,
        model=model_name,
        expect=expect,
        tests=tests,
        options=options,
        limits=SandboxLimits(wall_s=wall_s),
        isolation=isolation,
        n_ctx=n_ctx,
        n_threads=n_threads,
        adapter=adapter,
    )
    try:
        for event in response:
            if as_json:
                emit_event(event)
            elif isinstance(event, VerdictReached):
                if event.code and event.status in ("verified", "ran, unverified"):
                    sys.stdout.write(event.code.rstrip() + "\n")
                info(verdict_line(event) + f" [run {response.run_id}]")
            else:
                info(render_event(event) or "")  # the executor's feedback: a blank line after its execution
    finally:
        response.close()
    if response.status not in ("verified", "ran, unverified"):
        raise LlmdeckError(
            f"verify: {response.status or 'stopped'} after {response.rounds} round(s) (run {response.run_id})"
        )


def render_event(event: RunEvent) -> str | None:
    """One event of a verify run as human-readable lines (None: the executor's feedback, shown by its execution)."""
    match event:
        case CodeWritten():
            return f"--- round {event.round}: code\n{event.code}"
        case CodeExecuted():
            return execution_lines(event)
        case MessageSent():
            return f"{event.source}: {event.content}" if event.source != "executor" else None
        case VerdictReached():
            return verdict_line(event)
    raise TypeError(f"a verify run has no {type(event).__name__} event")


def verdict_line(event: VerdictReached) -> str:
    return (
        f"verdict: {event.status} after {event.rounds} round(s), {event.seconds:.1f} s;"
        f" isolation: {event.isolation_note}"
    )


def execution_lines(event: CodeExecuted) -> str:
    lines = [
        f"--- round {event.round}: exit code {event.exit_code}"
        + (f", {event.limit} limit" if event.limit else "")
        + f" ({event.seconds:.2f} s, {event.isolation})"
    ]
    if event.stdout.strip():
        lines.append("stdout: " + event.stdout.strip()[:500])
    if event.stderr.strip():
        lines.append("stderr: " + event.stderr.strip()[-500:])
    if event.checks != "none":
        lines.append(f"checks: {event.checks}" + (f": {event.check_message}" if event.check_message else ""))
    return "\n".join(lines)


@click.command()
@click.option("--output", "-o", required=True, type=UserPath(dir_okay=False), help="JSONL file to write.")
@click.option("--preference", is_flag=True, help="Failed-then-fixed pairs as preference rows (for --method dpo/orpo).")
def export_command(output, preference):
    from llmdeck.agents.records import verify_preference_rows, verify_sft_rows

    export_rows(verify_preference_rows() if preference else verify_sft_rows(), output)


command.add_command(
    runs_group(
        "verify",
        render_event,
        export=export_command,
        export_help="Write verified solutions as a `messages` (SFT) dataset, or with --preference the failing and the"
        " verified code of the same task as preference rows.\n\n"
        "Example: llmdeck verify runs export --preference -o pairs.jsonl",
    )
)
