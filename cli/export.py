"""`llmdeck export RUN`: merge a finished run, convert it to GGUF, quantize, measure each quant, register."""

from __future__ import annotations

import sys
import time
from contextlib import closing

import click

from llmdeck.cli.options import FLOAT, NAME, Number, UserPath
from llmdeck.cli.output import emit_json, info, table
from llmdeck.core.units import human_size


class StagePrinter:
    """Stage starts as lines on stderr; on a terminal, counts within a stage redrawn on one line (5 per second).
    Call it with each stage event; `close()` ends a redrawn line."""

    def __init__(self) -> None:
        self.open = False
        self.drawn_at = 0.0
        self.redraw = sys.stderr.isatty()

    def __call__(self, event) -> None:
        if event.done is None:
            self.close()
            sys.stderr.write(f"[{event.stage}] {event.message}\n")
        elif self.redraw and (time.monotonic() - self.drawn_at > 0.2 or event.done == event.total):
            self.drawn_at = time.monotonic()
            total = f"/{event.total}" if event.total else ""
            sys.stderr.write(f"\r[{event.stage}] {event.done}{total} {event.message}".ljust(60))
            self.open = True
        sys.stderr.flush()

    def close(self) -> None:
        if self.open:
            sys.stderr.write("\n")
            self.open = False


def _number(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report_rows(report) -> list[dict]:
    rows = [
        {
            "quant": "f16 (reference)",
            "name": "-",
            "size": human_size(report.f16_size_bytes),
            "loss": _number(report.f16_loss, ".4f"),
            "ppl": _number(report.f16_perplexity, ".3f"),
            "delta": "-",
            "status": "-",
        }
    ]
    for item in report.quants:
        status = "registered" if item.registered else f"REFUSED ({item.refused})" if item.refused else "not registered"
        rows.append(
            {
                "quant": item.quant,
                "name": item.name,
                "size": human_size(item.size_bytes),
                "loss": _number(item.loss, ".4f"),
                "ppl": _number(item.perplexity, ".3f"),
                "delta": _number(item.loss_delta, "+.4f"),
                "status": status,
            }
        )
    return rows


@click.command("export")
@click.argument("run_id")
@click.option(
    "--quant",
    "quants",
    default="q4_k_m",
    show_default=True,
    help="Quant types, comma-separated (f16, q8_0, q6_k, q5_k_m, q4_k_m, q4_0, ...).",
)
@click.option(
    "--name", type=NAME, help="Store name prefix; each quant is registered as NAME.QUANT (default: the run name)."
)
@click.option(
    "--keep-intermediates", is_flag=True, help="Keep the merged HF directory and the f16 GGUF (in RUN_DIR/export)."
)
@click.option(
    "--max-loss-delta",
    type=FLOAT,  # finite; the export checks that it is >= 0
    help="Refuse to register a quant whose loss exceeds the f16's by more than this.",
)
@click.option(
    "--eval-data",
    type=UserPath(),
    help="Score the quants on this file (default: the run's eval split, else its training rows).",
)
@click.option(
    "--eval-examples", type=Number(int, 1, 100_000), default=32, show_default=True, help="Examples scored per quant."
)
@click.option("--no-eval", is_flag=True, help="Skip scoring the quants (faster on big models; no loss recorded).")
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["gguf", "hf"]),
    default="gguf",
    show_default=True,
    help="gguf: quants into the model store; hf: the merged model as an HF directory (safetensors, tokenizer, chat"
    " template) for vLLM, TGI or SGLang.",
)
@click.option("--output", type=UserPath(), help="With --format hf: the directory to write (default: ./NAME-hf).")
@click.option("--json", "as_json", is_flag=True, help="Print the export report as one JSON document on stdout.")
@click.pass_context
def command(
    ctx,
    run_id,
    quants,
    name,
    keep_intermediates,
    max_loss_delta,
    eval_data,
    eval_examples,
    no_eval,
    export_format,
    output,
    as_json,
):
    """Export a finished run into the model store as GGUF quants, showing what each quant costs; or, with
    --format hf, as an HF model directory that vLLM, TGI and SGLang serve.

    Example: llmdeck export sft-smollm2 --quant q8_0,q4_k_m --max-loss-delta 0.1

    Example: llmdeck export sft-smollm2 --format hf --output ./sft-smollm2-hf  (then: vllm serve ./sft-smollm2-hf)
    """
    from llmdeck.core.errors import BadInput, LlmdeckError
    from llmdeck.tuning.export import export_hf, export_run

    if export_format == "hf":
        gguf_only = ["quants", "keep_intermediates", "max_loss_delta", "eval_data", "eval_examples", "no_eval"]
        given = [p for p in gguf_only if ctx.get_parameter_source(p) == click.core.ParameterSource.COMMANDLINE]
        if given:
            flag = next(o for o in ctx.command.params if o.name == given[0]).opts[0]
            raise BadInput(f"{flag}: applies to --format gguf (an HF export is the merged model, unquantized)")
        with closing(StagePrinter()) as printer:
            hf = export_hf(run_id, output, name=name, on_event=printer)
        if as_json:
            emit_json(hf.to_dict())
        else:
            template = "with its chat template" if hf.chat_template else "WITHOUT a chat template"
            info(f"wrote {hf.directory} ({human_size(hf.size_bytes)}, {len(hf.files)} files, {template})")
            info(f"serve it: vllm serve {hf.directory}")
        return
    if output:
        raise BadInput("--output: applies to --format hf (GGUF quants go into the model store)")
    with closing(StagePrinter()) as printer:  # ends a redrawn progress line
        report = export_run(
            run_id,
            quants=quants,
            name=name,
            keep_intermediates=keep_intermediates,
            max_loss_delta=max_loss_delta,
            eval_data_file=eval_data,
            max_eval_examples=eval_examples,
            score=not no_eval,
            on_event=printer,
        )
    if as_json:
        emit_json(report.to_dict())
    else:
        info(f"eval data: {report.eval_data or 'none (--no-eval)'}")
        click.echo(table(report_rows(report), ["quant", "name", "size", "loss", "ppl", "delta", "status"]))
        for kind, path in report.intermediates.items():
            info(f"kept {kind}: {path}")
        if report.template_check:
            consistent = report.template_check["consistent"]
            info(("" if consistent else "warning: ") + report.template_check["summary"])
    refused = [item.quant for item in report.quants if item.refused]
    if refused:
        raise LlmdeckError(f"not registered: {', '.join(refused)} (loss delta above --max-loss-delta {max_loss_delta})")
