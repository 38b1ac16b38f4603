"""The evaluation table: each metric per model with its n and a 95% interval, and each model's paired difference
from the first model with a paired bootstrap 95% interval (fixed seed, so a report re-reads the same).

Pass rates get a Wilson interval, means a t interval. A metric holds its per-item values (item: a row id, a
problem id), so two models are compared on the items both have. `llmdeck eval --tasks` and `--suite` fill the
same `EvalReport`; `format_table` prints it, `to_dict` is its `--json` form.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Z95 = 1.959964
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0
T975: tuple[float, ...] = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179)
T975 += (2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052)
T975 += (2.048, 2.045, 2.042)  # df 1..30


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass
class Metric:
    """One number of one model: its value, n and 95% interval; `per_item` keeps what it was computed from."""

    value: float | None
    n: int
    low: float | None
    high: float | None
    per_item: dict[str, float] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        return {"value": _round(self.value), "n": self.n, "low": _round(self.low), "high": _round(self.high)}


@dataclass(frozen=True)
class Delta:
    """other - first over the items both have, with its paired bootstrap 95% interval."""

    value: float | None
    low: float | None
    high: float | None
    n: int

    def to_dict(self) -> dict:
        return {"value": _round(self.value), "low": _round(self.low), "high": _round(self.high), "n": self.n}


def wilson(successes: float, n: int) -> tuple[float | None, float | None]:
    """The Wilson score 95% interval of a proportion (None, None for no trials)."""
    if n == 0:
        return None, None
    p = successes / n
    denominator = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(max(0.0, p * (1 - p) / n + Z95**2 / (4 * n * n))) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom (exact to 3 decimals)."""
    if df < 1:
        raise ValueError("t975: df must be at least 1")
    if df <= len(T975):
        return T975[df - 1]
    z = Z95  # Cornish-Fisher expansion: within 0.001 of the exact value above 30 degrees of freedom
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def rate(per_item: Mapping[str, float]) -> Metric:
    """A pass rate (values 0 or 1) with its Wilson interval."""
    values = dict(per_item)
    n = len(values)
    passed = sum(values.values())
    low, high = wilson(passed, n)
    return Metric(passed / n if n else None, n, low, high, values)


UNIT = (0.0, 1.0)  # a mean of shares or reciprocal ranks (pass@k, MRR)
NON_NEGATIVE = (0.0, math.inf)  # a mean of counts (steps, rounds)


def mean(per_item: Mapping[str, float], bounds: tuple[float, float] | None = None) -> Metric:
    """A mean with its t interval (a single item: the value itself, no width), cut to `bounds` where the metric
    cannot leave them (an MRR or a pass@k in 0..1: a t interval of few items would reach past them)."""
    values = dict(per_item)
    n = len(values)
    if not n:
        return Metric(None, 0, None, None, values)
    centre = statistics.fmean(values.values())
    half = t975(n - 1) * statistics.stdev(values.values()) / math.sqrt(n) if n > 1 else 0.0
    low, high = centre - half, centre + half
    if bounds is not None:
        low, high = max(bounds[0], low), min(bounds[1], high)
    return Metric(centre, n, low, high, values)


def paired_delta(first: Metric, other: Metric, seed: int = BOOTSTRAP_SEED) -> Delta:
    """other - first over the items both have: the mean difference and a paired bootstrap 95% interval (the items
    resampled with their pair of values, `BOOTSTRAP_SAMPLES` times, percentiles)."""
    shared = sorted(set(first.per_item) & set(other.per_item))
    if not shared:
        return Delta(None, None, None, 0)
    differences = [other.per_item[item] - first.per_item[item] for item in shared]
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(differences, k=len(differences))) for _ in range(BOOTSTRAP_SAMPLES))
    return Delta(
        statistics.fmean(differences),
        means[int(0.025 * BOOTSTRAP_SAMPLES)],
        means[int(0.975 * BOOTSTRAP_SAMPLES) - 1],
        len(shared),
    )


@dataclass
class ReportRow:
    """One metric across the models, and every model's paired difference from the first."""

    metric: str
    kind: str  # "rate" or "mean": how the interval was made
    higher_is_better: bool
    models: dict[str, Metric]
    deltas: dict[str, Delta] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "kind": self.kind,
            "higher_is_better": self.higher_is_better,
            "models": {label: m.to_dict() for label, m in self.models.items()},
            "deltas": {label: d.to_dict() for label, d in self.deltas.items()},
        }


def report_row(
    metric: str, kind: str, per_model: Mapping[str, Mapping[str, float]], higher_is_better: bool = True
) -> ReportRow:
    """A row from each model's per-item values (in the models' order; the first is what the others are compared
    with): `kind` "rate" for 0/1 values, "mean" for scores."""
    if kind not in ("rate", "mean"):
        raise ValueError(f"report_row: kind {kind!r} is not rate or mean")
    build = rate if kind == "rate" else mean
    models = {label: build(values) for label, values in per_model.items()}
    row = ReportRow(metric, kind, higher_is_better, models)
    labels = list(models)
    for label in labels[1:]:
        row.deltas[label] = paired_delta(models[labels[0]], models[label])
    return row


@dataclass
class EvalReport:
    """The whole table: the models compared (the first is the reference), the rows, and where the items came from."""

    models: list[str]
    source: str
    rows: list[ReportRow] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"models": self.models, "source": self.source, "rows": [row.to_dict() for row in self.rows]}


def interval_text(metric: Mapping | None) -> str:
    """A metric's JSON form as `value [low, high]` ("-" when it has no value)."""
    if not metric or metric.get("value") is None:
        return "-"
    return f"{metric['value']:.3f} [{metric['low']:.3f}, {metric['high']:.3f}]"


def delta_text(delta: Mapping | None) -> str:
    """A difference's JSON form as `+value [+low, +high]` ("-" when it has no value)."""
    if not delta or delta.get("value") is None:
        return "-"
    return f"{delta['value']:+.3f} [{delta['low']:+.3f}, {delta['high']:+.3f}]"


def format_table(report: EvalReport | Mapping) -> str:
    """The report (or its `to_dict()` form) as an aligned text table: value [95% interval] per model with n, then
    each model minus the first with its paired bootstrap interval."""
    document = report.to_dict() if isinstance(report, EvalReport) else report
    labels: Sequence[str] = document["models"]
    header = ["metric", "n", *labels, *[f"{label} - {labels[0]}" for label in labels[1:]]]
    lines = [header]
    for row in document["rows"]:
        counts = sorted({m["n"] for m in row["models"].values()})
        cells = [row["metric"], "/".join(str(c) for c in counts)]
        cells += [interval_text(row["models"].get(label)) for label in labels]
        cells += [delta_text(row["deltas"].get(label)) for label in labels[1:]]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)
