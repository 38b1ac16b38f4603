"""The plan summary both front ends render: `llmdeck train --dry-run` prints its lines, the app's form shows them."""

from __future__ import annotations

from llmdeck.tuning import data
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.estimate import Estimate
from llmdeck.tuning.plan_summary import summarize
from llmdeck.tuning.runs import LaunchPlan

GIB = 2**30


def launch_plan(
    available: int | None = 8 * GIB,
    placeholders: dict | None = None,
    generation_s: float | None = None,
    notes: list[str] | None = None,
    allow_truncation: bool = False,
) -> LaunchPlan:
    report = data.DataReport(
        source="/data/sample.jsonl",
        format="chat",
        rows=10,
        valid=9,
        bad_count=1,
        with_tools=2,
        placeholders=placeholders or {},
        truncation={
            "rows_over": 2,
            "rows": 10,
            "rows_over_share": 0.2,
            "max_length": 64,
            "longest": 90,
            "assistant_cut_share": 0.1,
        },
    )
    estimate = Estimate(
        135_000_000,
        1_000_000,
        GIB // 2,
        16 * 2**20,
        GIB // 4,
        600 * 2**20,
        2 * GIB,
        available,
        "cpu",
        12_345,
        20,
        1e12,
        1e10,
        100.0,
        generation_seconds=generation_s,
        generation_tokens_per_s=38.0 if generation_s else None,
    )
    return LaunchPlan(
        TrainConfig(max_length=64, base_model="smollm2", allow_truncation=allow_truncation),
        report,
        estimate,
        "fp32",
        "cpu",
        "dir:abcdef0123456789abc",
        notes or [],
    )


def test_the_summary_names_data_base_memory_peak_and_time_in_order():
    summary = summarize(launch_plan())
    assert [line.label for line in summary.lines] == [
        "data",
        "truncation",
        "base",
        "precision",
        "parameters",
        "memory",
        "peak",
        "time",
    ]
    assert summary.text("data") == "/data/sample.jsonl: chat, 9 rows (1 bad, 2 with tools)"
    assert summary.text("base") == "smollm2 (abcdef0123456789)"
    assert summary.text("peak") == "~2.0 GB of 8.0 GB available on cpu (fits)"
    assert summary.text("time") == "~20 steps, 12.3K tokens, ~1m40s"
    assert summary.fits
    assert "pass --allow-truncation" in summary.refusal  # 20% of the rows cut: a launch refuses it


def test_the_truncation_line_says_would_be_cut_until_truncation_is_allowed():
    head = "2 of 10 rows (20.0%) exceed max_length 64 (longest 90 tokens): 10.0% of assistant tokens"
    assert summarize(launch_plan()).text("truncation") == f"{head} would be cut"
    allowed = launch_plan(allow_truncation=True)
    assert summarize(allowed).text("truncation") == f"{head} are cut" and allowed.refusal() is None


def test_placeholders_generation_notes_and_a_plan_that_does_not_fit():
    summary = summarize(launch_plan(available=GIB, placeholders={"name": 3}, generation_s=40.0, notes=["a", "b"]))
    assert summary.text("warning") == "placeholders left in the data ({{name}} in 3 rows): pass --var NAME=VALUE"
    assert summary.text("generation") == "~40s of ~1m40s (measured 38 tokens/s on cpu)"
    assert [line.text for line in summary.lines if line.label == "note"] == ["a", "b"]
    assert summary.text("peak").endswith("(DOES NOT FIT)") and not summary.fits


def test_the_dry_run_prints_each_line_under_its_label(capsys):
    from llmdeck.cli.train import print_plan

    plan = launch_plan(placeholders={"name": 3})
    print_plan(plan)
    printed = capsys.readouterr().err.splitlines()
    assert printed == [f"{line.label:<12}{line.text}" for line in summarize(plan).lines]
    assert printed[0] == "data        /data/sample.jsonl: chat, 9 rows (1 bad, 2 with tools)"
    assert printed[-1] == "time        ~20 steps, 12.3K tokens, ~1m40s"
