"""What a run will do, summarized once for every front end: a launch plan (`runs.plan`) as labelled lines
(data, base, precision, parameters, memory, peak, time, ...) and the verdict; `llmdeck train --dry-run` prints
the lines, the app's new-run form shows them beside the form.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmdeck.core.units import duration, human_count, human_size


@dataclass(frozen=True)
class SummaryLine:
    label: str  # data | truncation | warning | base | precision | parameters | memory | peak | time | generation | note
    text: str


@dataclass(frozen=True)
class PlanSummary:
    lines: tuple[SummaryLine, ...]
    fits: bool  # the peak memory estimate fits what the device has
    refusal: str | None  # why a launch refuses this plan (None: it launches)

    def text(self, label: str) -> str | None:
        """The first line with `label`, or None."""
        return next((line.text for line in self.lines if line.label == label), None)


def summarize(plan) -> PlanSummary:
    """The summary of a `runs.LaunchPlan`."""
    e, d = plan.estimate, plan.data_report
    blocks = f" -> {d.blocks} blocks of {plan.config.max_length} tokens" if d.blocks else ""
    lines = [
        (
            "data",
            f"{d.source}: {d.format}, {d.valid} rows{blocks} ({d.bad_count} bad"
            f"{f', {d.with_tools} with tools' if d.with_tools else ''})",
        )
    ]
    if plan.truncation_warning():
        lines.append(("truncation", plan.truncation_warning()))
    if d.placeholders:
        lines.append(("warning", placeholder_warning(d)))
    lines += [
        ("base", f"{plan.config.base_model} ({(plan.base_sha256 or 'not pinned').removeprefix('dir:')[:16]})"),
        ("precision", plan.precision),
        (
            "parameters",
            f"{human_count(e.parameters)} ({human_count(e.trainable_parameters)} trainable, {plan.config.tuning})",
        ),
        (
            "memory",
            f"weights {human_size(e.weights_bytes)} + trainable/optimizer {human_size(e.trainable_bytes)} "
            f"+ activations {human_size(e.activations_bytes)} + runtime {human_size(e.overhead_bytes)}",
        ),
        (
            "peak",
            f"~{human_size(e.peak_bytes)} of {human_size(e.available_bytes) if e.available_bytes else 'unknown'}"
            f" available on {e.device} ({'fits' if e.fits else 'DOES NOT FIT'})",
        ),
        ("time", f"~{e.steps} steps, {human_count(e.tokens)} tokens, ~{duration(e.seconds)}"),
    ]
    if e.generation_seconds is not None:
        lines.append(("generation", generation_phrase(e)))
    lines += [("note", note) for note in plan.notes]
    return PlanSummary(tuple(SummaryLine(label, text) for label, text in lines), e.fits, plan.refusal())


def generation_phrase(estimate) -> str:
    """'~4m10s of ~5m (measured 38 tokens/s on cpu)': online RL's sampling share of the time estimate."""
    return (
        f"~{duration(estimate.generation_seconds)} of ~{duration(estimate.seconds)} "
        f"(measured {estimate.generation_tokens_per_s:.0f} tokens/s on {estimate.device})"
    )


def placeholder_warning(report) -> str:
    """'placeholders left in the data ({{name}} in 3 rows): pass --var NAME=VALUE', or '' when none are left."""
    if not report.placeholders:
        return ""
    names = ", ".join(f"{{{{{name}}}}} in {count} rows" for name, count in sorted(report.placeholders.items()))
    return f"placeholders left in the data ({names}): pass --var NAME=VALUE"
