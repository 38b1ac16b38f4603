"""`llmdeck merge`: combine fine-tunes of one base (mergekit), or LoRA adapters of one base (peft); optionally
export."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from typing import Any

import click

from llmdeck.cli.options import FLOAT, NAME
from llmdeck.cli.output import emit_json, info


class ManyValues(click.Option):
    """An option taking every value up to the next flag (`--models A B C`); commas separate values too."""

    def __init__(self, param_decls: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(param_decls, multiple=True, **kwargs)

    def add_to_parser(self, parser, ctx) -> None:
        super().add_to_parser(parser, ctx)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is None:
                continue
            process = option.process

            def greedy(value, state, process=process):
                process(value, state)
                while state.rargs and not state.rargs[0].startswith("--"):
                    process(state.rargs.pop(0), state)

            option.process = greedy


def _values(items) -> list[str]:
    return [part.strip() for item in (items or []) for part in str(item).split(",") if part.strip()]


@click.command("merge")
@click.option(
    "--method",
    "method",
    type=click.Choice(["linear", "slerp", "ties", "dare_ties"]),
    required=True,
    help="linear (weighted average), slerp (spherical, two models), ties / dare_ties (task vectors over --base).",
)
@click.option(
    "--models", cls=ManyValues, required=True, help="Finished runs (id or name) or HF model directories: A B [...]."
)
@click.option("--weights", cls=ManyValues, help="One weight per model (default: equal). slerp: t = w2 / (w1 + w2).")
@click.option(
    "--out",
    "name",
    required=True,
    type=NAME,
    help="Name of the merged model (a run; and the store name with --export).",
)
@click.option("--base", help="ties/dare_ties: the shared base (default: the runs' base).")
@click.option(
    "--density", type=FLOAT, default=0.5, show_default=True, help="ties/dare_ties: share of each task vector kept."
)
@click.option(
    "--as-adapter", is_flag=True, help="Combine LoRA runs of one base into one adapter (peft add_weighted_adapter)."
)
@click.option(
    "--export", "quants", help="Also export to GGUF with these quants (e.g. q8_0,q4_k_m), registered as OUT.QUANT."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def command(method, models, weights, name, base, density, as_adapter, quants, as_json) -> None:
    """Merge fine-tunes of the same base into a new model, recorded as a run (method merge) with its lineage.

    Example: llmdeck merge --method ties --models run-a run-b --weights 0.6 0.4 --out ab --export q4_k_m
    """
    from llmdeck.core.errors import BadInput
    from llmdeck.tuning.model_merge import merge

    try:
        parsed_weights = [float(w) for w in _values(weights)] if weights else None
    except ValueError:
        raise BadInput(f"--weights {' '.join(_values(weights))}: expected numbers, one per model") from None
    report = merge(
        method,
        _values(models),
        name,
        parsed_weights,
        base,
        density,
        as_adapter,
        on_progress=None if as_json else lambda message: info(f"[merge] {message}"),
        export_quants=quants,
    )
    document = {"merge": report.to_dict()}
    if not as_json:
        info(
            f"merged {len(report.sources)} models ({report.method}, {report.library}) into run {report.run_id} "
            f"({report.name}) in {report.seconds:.1f}s"
        )
    if quants:
        from llmdeck.cli.export import StagePrinter
        from llmdeck.tuning.export import export_run

        with closing(StagePrinter()) as printer:  # ends a redrawn progress line
            exported = export_run(report.run_id, quants=quants, name=name, on_event=None if as_json else printer)
        document["export"] = exported.to_dict()
        if not as_json:
            for item in exported.quants:
                info(f"registered {item.name}" if item.registered else f"not registered: {item.name} ({item.refused})")
    if as_json:
        emit_json(document)
    else:
        click.echo(report.run_id)
