"""`llmdeck runs diff A B` on runs recorded in a temp store without training: config, data (the launch's file
hashes and row counts, "not recorded" for an old run), base, method, final metrics and export evals side by side."""

from __future__ import annotations

import json

from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.core import db, store
from llmdeck.tuning import data
from llmdeck.tuning.data_record import read_record, record
from llmdeck.tuning.registry import Registry


def write_rows(path, rows: list[dict]):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def fake_run(name: str, dataset, config: dict, metrics: dict, eval_losses=(), with_record: bool = True):
    """A completed run as the worker leaves it: registry row, metrics.jsonl, and (when launched by this version)
    the data record the launcher writes."""
    registry = Registry()
    run = registry.create(name, "sft", "smollm2-135m-instruct", str(dataset), config, "local", base_sha256="ab" * 32)
    registry.update(
        run.id,
        status="completed",
        global_step=20,
        max_steps=20,
        started_at=100.0,
        finished_at=160.0,
        last_metrics=metrics,
    )
    rows = [{"step": 10 * (i + 1), "eval_loss": loss} for i, loss in enumerate(eval_losses)]
    write_rows(run.path / "metrics.jsonl", rows)
    if with_record:
        record(run.path, data.prepare(str(dataset)).report)
    return registry.get(run.id)


def chat_rows(n: int) -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
        for i in range(n)
    ]


def invoke(*args: str):
    return CliRunner().invoke(cli, ["runs", "diff", *args])


def test_two_runs_side_by_side_with_their_differences_marked(tmp_path):
    same = write_rows(tmp_path / "train.jsonl", chat_rows(3))
    config = {"method": "sft", "learning_rate": 1e-4, "lora_r": 16, "max_steps": 20}
    first = fake_run("lr-1e-4", same, config, {"loss": 1.25, "eval_loss": 1.5, "step": 20}, eval_losses=(1.75, 1.5))
    second = fake_run("lr-3e-4", same, {**config, "learning_rate": 3e-4}, {"loss": 1.0, "step": 20})
    db.connection(store.COMPONENT, store.MIGRATIONS).execute(  # the export's row, as `export` registers it
        "INSERT INTO models (name, path, architecture, parameter_count, file_type, size_bytes, has_chat_template,"
        " copied, created_at, run_id, quant_type, eval_loss) VALUES ('lr-1e-4.q8_0', ?, 'llama', 1, 'Q8_0', 10, 1,"
        " 1, 0, ?, 'q8_0', 1.5)",
        (str(tmp_path / "lr-1e-4.q8_0.gguf"), first.id),
    )
    result = invoke(first.id, "lr-3e-4", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["a"] == {"id": first.id, "name": "lr-1e-4"} and report["b"] == {"id": second.id, "name": "lr-3e-4"}
    rows = {(row["section"], row["field"]): (row["a"], row["b"], row["differs"]) for row in report["rows"]}
    assert rows[("run", "method")] == ("sft", "sft", False)
    assert rows[("run", "base model")] == ("smollm2-135m-instruct", "smollm2-135m-instruct", False)
    assert rows[("run", "seconds trained")] == (60.0, 60.0, False)
    assert rows[("config", "learning_rate")] == (1e-4, 3e-4, True)
    assert rows[("config", "lora_r")] == (16, 16, False)
    assert ("config", "method") not in rows  # shown once, in the run section
    sha = read_record(first.path)["sha256"]
    assert rows[("data", "sha256")] == (sha, sha, False) and len(sha) == 64
    assert rows[("data", "rows")] == (3, 3, False)
    assert rows[("metrics", "loss")] == (1.25, 1.0, True)
    assert rows[("metrics", "eval_loss")] == (1.5, None, True)
    assert rows[("metrics", "best eval_loss")] == (1.5, None, True)
    assert ("metrics", "step") not in rows
    assert rows[("eval", "export q8_0 loss")] == (1.5, None, True)
    assert report["differing"] == sum(differs for _, _, differs in rows.values()) == 5

    table = invoke(first.id, second.id)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["SECTION", "FIELD", "A:", "LR-1E-4", "B:", "LR-3E-4"]
    marked = {line.split()[2] for line in lines[1:] if line.startswith("*")}
    assert marked == {"learning_rate", "loss", "eval_loss", "best", "export"}
    assert [line.split()[:3] for line in lines if "learning_rate" in line] == [["*", "config", "learning_rate"]]
    assert "5 of" in table.stderr and "fields differ" in table.stderr


def test_other_data_and_an_old_run_without_a_record(tmp_path):
    first = fake_run("a", write_rows(tmp_path / "a.jsonl", chat_rows(3)), {"method": "sft"}, {"loss": 1.0})
    second = fake_run("b", write_rows(tmp_path / "b.jsonl", chat_rows(4)), {"method": "sft"}, {"loss": 1.0})
    old = fake_run("old", tmp_path / "a.jsonl", {"method": "sft"}, {"loss": 1.0}, with_record=False)
    result = invoke(first.id, second.id, "--only-differences", "--json")
    differing = {row["field"]: (row["a"], row["b"]) for row in json.loads(result.stdout)["rows"]}
    assert set(differing) == {"dataset", "rows", "valid rows", "sha256", "file a.jsonl", "file b.jsonl"}
    assert differing["rows"] == (3, 4)
    assert differing["file b.jsonl"][0] is None and differing["file b.jsonl"][1].endswith(" bytes)")
    with_old = json.loads(invoke(first.id, old.id, "--json").stdout)["rows"]
    data_rows = {row["field"]: row["b"] for row in with_old if row["section"] == "data"}
    assert data_rows["sha256"] == data_rows["rows"] == data_rows["file a.jsonl"] == "not recorded"
    assert data_rows["dataset"] == str(tmp_path / "a.jsonl")


def test_an_unknown_run_is_bad_input(tmp_path):
    run = fake_run("a", write_rows(tmp_path / "a.jsonl", chat_rows(2)), {}, {})
    result = invoke(run.id, "ghost")
    assert result.exit_code == 2
    assert result.output.strip() == "error: run 'ghost' not found (see `llmdeck runs list`)"


def test_stored_eval_scores_of_a_runs_models_sit_in_the_eval_section(tmp_path):
    from llmdeck.services import evaluate

    first = fake_run("tuned", write_rows(tmp_path / "a.jsonl", chat_rows(2)), {}, {})
    second = fake_run("other", tmp_path / "a.jsonl", {}, {})
    conn = db.connection(evaluate.COMPONENT, evaluate.MIGRATIONS)
    for model, row_id, value in (
        ("smollm2-135m-instruct+tuned", "q1", 1.0),
        ("smollm2-135m-instruct+tuned", "q2", 0.0),
        ("smollm2-135m-instruct+tuned", "q3", 1.0),
        (f"+{second.id}", "q1", 0.0),
        ("smollm2-135m-instruct", "q1", 1.0),  # the base alone: neither run's
    ):
        conn.execute(
            "INSERT INTO eval_scores VALUES (?, ?, ?, ?, ?, 'exact', ?, 'a', '{}', 0.1, 0)",
            (model, row_id, model, str(tmp_path / "questions.jsonl"), row_id, value),
        )
    rows = {
        row["field"]: (row["a"], row["b"]) for row in json.loads(invoke(first.id, second.id, "--json").stdout)["rows"]
    }
    assert rows["eval questions.jsonl exact"] == ("0.667 (n=3)", "0.000 (n=1)")
