"""A miniature loop end to end on the embedded SmolLM2-135M through the real `llmdeck` entry point: a handful of
tasks, a few training steps. Asserts the plumbing and the files (attempts recorded on the train split only, data
built with the held-out tasks kept out, an SFT run trained and exported, a DPO run when there are pairs, both
models compared on the held-out tasks), never that the model got better."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

TASKS = [
    {
        "id": "say-banana",
        "kind": "agent",
        "question": "Repeat the word banana.",
        "answers": ["banana"],
        "tool": "final_answer",
        "tools": ["calculator"],
        "split": "train",
        "category": "no-tool",
    },
    {
        "id": "say-down",
        "kind": "agent",
        "question": "What is the opposite of up?",
        "answers": ["down"],
        "tool": "final_answer",
        "tools": ["calculator"],
        "split": "train",
        "category": "no-tool",
    },
    {
        "id": "add",
        "kind": "agent",
        "question": "What is 27 + 29?",
        "answers": ["56"],
        "tool": "calculator",
        "tools": ["calculator"],
        "split": "train",
        "category": "arithmetic",
    },
    {
        "id": "held-agent",
        "kind": "agent",
        "question": "What is 12 + 30?",
        "answers": ["42"],
        "tool": "calculator",
        "tools": ["calculator"],
        "split": "heldout",
        "category": "arithmetic",
    },
    {
        "id": "sum",
        "kind": "verify",
        "task": "Print the sum of the numbers from 1 to 100.",
        "expect": "5050",
        "split": "train",
    },
    {"id": "hello", "kind": "verify", "task": "Print the word hello.", "expect": "hello", "split": "train"},
    {"id": "held-code", "kind": "verify", "task": "Print the number 7.", "expect": "7", "split": "heldout"},
]


def test_a_miniature_loop(tmp_path, llmdeck_home):
    tasks = tmp_path / "mini.jsonl"
    tasks.write_text("".join(json.dumps(task) + "\n" for task in TASKS))
    result = run_cli(
        "loop",
        "--name",
        "mini",
        "--tasks",
        str(tasks),
        "--rounds",
        "1",
        "--samples",
        "2",
        "--max-rounds",
        "1",
        "--sft-max-steps",
        "2",
        "--preference-max-steps",
        "1",
        "--min-pairs",
        "1",
        "--max-length",
        "384",
        "--batch-size",
        "2",
        "--threads",
        "1",
        "--evaluate",
        "--no-transfer",  # HumanEval and the text's perplexity: measured by bench/loop.py, not in this test's time
        "--json",
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["type"] == "done" and events[-1]["status"] == "completed"
    stages = {e["stage"]: e for e in events if e["type"] == "stage" and e["status"] in ("done", "skip")}

    # attempts: every train task twice, nothing held out collected
    agent, code = stages["collect-agent"]["result"], stages["collect-verify"]["result"]
    assert (agent["attempts"], code["attempts"]) == (6, 4)
    shown = run_cli("agent", "runs", "list", "--json", "--limit", "100")
    recorded = json.loads(shown.stdout)
    train_prompts = {t.get("question") or t.get("task") for t in TASKS if t["split"] == "train"}
    assert {r["prompt"] for r in recorded if r["kind"] == "agent"} <= train_prompts | {"What is 12 + 30?"}

    # data: written where the state says, held-out tasks named in the manifest and absent from the rows
    data = stages["data"]["result"]
    loop_dir = llmdeck_home / "loops" / "mini"
    manifest = json.loads((loop_dir / "round-1" / "data" / "manifest.json").read_text())
    assert {"held-agent", "held-code"} <= set(manifest["heldout_tasks"])
    rows = [json.loads(line) for line in (loop_dir / "round-1" / "data" / "sft.jsonl").read_text().splitlines()]
    assert rows and len(rows) == data["sft_rows"] and not {r["task_id"] for r in rows} & {"held-agent", "held-code"}

    # training and export: a completed SFT run, registered in the store under the loop's name
    sft = stages["sft"]["result"]
    run = json.loads(run_cli("runs", "show", sft["run_id"], "--json").stdout)
    assert run["status"] == "completed" and run["global_step"] == 2 and run["config"]["dataset"].endswith("sft.jsonl")
    models = {m["name"] for m in json.loads(run_cli("models", "list", "--json").stdout)}
    assert "mini-r1-sft.q8_0" in models
    if data["preference_rows"] >= 1:  # the base model wrote a verified and a failed attempt of one task
        assert stages["preference"]["status"] == "done" and "mini-r1.q8_0" in models
        dpo = json.loads(run_cli("runs", "show", stages["preference"]["result"]["run_id"], "--json").stdout)
        assert dpo["method"] == "dpo" and dpo["config"]["base_model"] == "mini-r1-sft.q8_0"
    else:
        assert stages["preference"]["status"] == "skip"
    final_model = "mini-r1.q8_0" if data["preference_rows"] >= 1 else "mini-r1-sft.q8_0"

    # comparison: base and tuned side by side on the held-out tasks only
    report = stages["evaluate"]["result"]["report"]
    assert report["models"] == ["smollm2-135m-instruct", final_model]
    metrics = {row["metric"]: row for row in report["rows"]}
    assert metrics["answer accuracy, constrained"]["models"][final_model]["n"] == 1
    assert metrics["verify pass within the rounds"]["models"]["smollm2-135m-instruct"]["n"] == 1
    shown = run_cli("loop", "show", "mini")
    assert shown.returncode == 0 and "mini-r1" in shown.stdout

    # the same command again: everything done, nothing re-run
    again = run_cli("loop", "--name", "mini", "--tasks", str(tasks), "--rounds", "1", "--json", timeout=600)
    statuses = {json.loads(line)["status"] for line in again.stdout.splitlines() if '"stage"' in line}
    assert again.returncode == 0 and statuses == {"skip"}
