"""`llmdeck runs diff A B` and the app's compare screen: two runs side by side, field by field.

Sections: the run (status, method, base and its pinned sha256, precision, steps, time), its config, its data
(the files' sha256 and row counts recorded at launch; "not recorded" for runs launched before that), its final
metrics (the last logged values, the best eval loss), and its evaluations (each exported quant's loss and
perplexity as the export scored it, and `llmdeck eval` scores of the run's models). A row `differs` when the
two values are not equal.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from llmdeck.tuning.registry import Run

NOT_RECORDED = "not recorded"
SHOWN_ELSEWHERE = ("method", "base_model", "dataset", "dataset_format")  # config keys shown in run/data
SKIPPED_METRICS = ("time", "step", "epoch")


@dataclass(frozen=True)
class DiffRow:
    section: str
    field: str
    first: Any
    second: Any

    @property
    def differs(self) -> bool:
        return self.first != self.second

    def to_dict(self) -> dict:
        return {
            "section": self.section,
            "field": self.field,
            "a": self.first,
            "b": self.second,
            "differs": self.differs,
        }


@dataclass(frozen=True)
class RunDiff:
    first: Run
    second: Run
    rows: list[DiffRow]

    def differing(self) -> list[DiffRow]:
        return [row for row in self.rows if row.differs]

    def to_dict(self) -> dict:
        return {
            "a": {"id": self.first.id, "name": self.first.name},
            "b": {"id": self.second.id, "name": self.second.name},
            "differing": len(self.differing()),
            "rows": [row.to_dict() for row in self.rows],
        }


def shown(value: Any, width: int | None = None) -> str:
    """A value as a table cell: '-' for none, floats to 4 significant digits, lists joined; cut to `width`."""
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(shown(item) for item in value) or "-"
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={shown(v)}" for k, v in value.items()) or "-"
    else:
        text = str(value)
    return text if width is None or len(text) <= width else text[: width - 3] + "..."


def diff_runs(first_ref: str, second_ref: str) -> RunDiff:
    """The two runs (ids, id prefixes or names) compared; NotFound (exit 2) naming a run that does not exist."""
    from llmdeck.tuning.registry import Registry

    registry = Registry()
    first, second = registry.get(first_ref), registry.get(second_ref)
    rows: list[DiffRow] = []
    for section, values in (
        ("run", (_run_fields(first), _run_fields(second))),
        ("config", (_config_fields(first), _config_fields(second))),
        ("data", (_data_fields(first), _data_fields(second))),
        ("metrics", (_metric_fields(first), _metric_fields(second))),
        ("eval", (_eval_fields(first), _eval_fields(second))),
    ):
        rows += _side_by_side(section, *values)
    return RunDiff(first, second, rows)


def _side_by_side(section: str, first: dict[str, Any], second: dict[str, Any]) -> list[DiffRow]:
    """One row per key of either side; a key one side lacks is None there, or "not recorded" for a run
    launched before data records (its data fields say so)."""
    keys = list(first) + [key for key in second if key not in first]

    def missing(fields: dict[str, Any]) -> Any:
        return NOT_RECORDED if fields.get("sha256") == NOT_RECORDED else None

    return [DiffRow(section, key, first.get(key, missing(first)), second.get(key, missing(second))) for key in keys]


def _run_fields(run: Run) -> dict[str, Any]:
    trained = round(run.finished_at - run.started_at, 1) if run.finished_at and run.started_at else None
    return {
        "status": run.status,
        "method": run.method,
        "base model": run.base_model,
        "base sha256": run.base_sha256,
        "precision": run.precision,
        "device": run.device,
        "steps": f"{run.global_step}/{run.max_steps or '?'}",
        "seconds trained": trained,
    }


def _config_fields(run: Run) -> dict[str, Any]:
    return {key: value for key, value in run.config.items() if key not in SHOWN_ELSEWHERE}


def _data_fields(run: Run) -> dict[str, Any]:
    from llmdeck.tuning.data_record import read_record

    fields: dict[str, Any] = {"dataset": run.dataset}
    record = read_record(run.path)
    if record is None:
        return {**fields, "format": run.config.get("dataset_format"), "rows": NOT_RECORDED, "sha256": NOT_RECORDED}
    fields.update(
        {
            "format": record.get("format"),
            "rows": record.get("rows"),
            "valid rows": record.get("valid"),
            "sha256": record.get("sha256") or "hub dataset (not hashed)",
        }
    )
    for file in record.get("files") or []:
        fields[f"file {file.get('name')}"] = f"{str(file.get('sha256'))[:16]} ({file.get('bytes')} bytes)"
    return fields


def _metric_fields(run: Run) -> dict[str, Any]:
    from llmdeck.tuning.callbacks import read_metrics

    fields = {
        key: value
        for key, value in (run.last_metrics or {}).items()
        if key not in SKIPPED_METRICS and value is not None
    }
    evals = [row["eval_loss"] for row in read_metrics(run.path) if isinstance(row.get("eval_loss"), (int, float))]
    if evals:
        fields["best eval_loss"] = min(evals)
    return fields


def _eval_fields(run: Run) -> dict[str, Any]:
    """Each export's loss/perplexity by quant (as the export scored it), then stored `llmdeck eval` scores."""
    from llmdeck.core import db, store

    # the store's table read directly: ModelStore() would first register the embedded model in a new home
    conn = db.connection(store.COMPONENT, store.MIGRATIONS)
    exports = conn.execute(
        "SELECT name, COALESCE(quant_type, LOWER(file_type)), eval_loss, eval_perplexity, loss_delta FROM models"
        " WHERE run_id = ? ORDER BY 2, name",
        (run.id,),
    ).fetchall()
    fields: dict[str, Any] = {}
    for _, quant, loss, perplexity, loss_delta in exports:
        fields[f"export {quant} loss"] = loss
        fields[f"export {quant} perplexity"] = perplexity
        fields[f"export {quant} loss delta"] = loss_delta
    fields.update(_stored_eval_scores(run, [row[0] for row in exports]))
    return fields


def _stored_eval_scores(run: Run, export_names: list[str]) -> dict[str, Any]:
    """Mean `llmdeck eval` score per eval file and scorer for the run's models (`MODEL+RUN` labels and its
    exports), read from the evaluations component's table when it exists."""
    from llmdeck.tuning.registry import Registry

    labels = {f"+{run.id}", f"+{run.name}"}
    try:
        conn = Registry().conn  # the one state database; the evaluations component's table may not exist yet
        rows = conn.execute("SELECT model, source, scorer, AVG(value), COUNT(*) FROM eval_scores GROUP BY 1, 2, 3")
        found = rows.fetchall()
    except sqlite3.Error:  # no evaluations recorded in this home yet
        return {}
    fields: dict[str, Any] = {}
    for model, source, scorer, value, count in found:
        if model in export_names or any(str(model).endswith(label) for label in labels):
            name = str(source).rsplit("/", 1)[-1]
            fields[f"eval {name} {scorer}"] = f"{value:.3f} (n={count})"
    return fields
