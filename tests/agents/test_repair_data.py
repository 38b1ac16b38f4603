"""Better use of each attempt (`agents.run_datasets`, issue 24 item 4), on scripted verify runs recorded as the real
pair records them (each program, its execution, the executor's feedback): the verified attempts best first, a
program verified after a failed round also as its repair conversation (the failed program a weight-0 turn),
preference pairs in the repair context, the weight honoured by the training data and its loss mask, and the
verifier reward reading the checks a GRPO prompt row carries."""

from __future__ import annotations

import json

import pytest

from llmdeck.agents import attempts, records
from llmdeck.agents.events import CodeExecuted, CodeWritten, MessageSent
from llmdeck.agents.rewards import prompt_row, verify_reward
from llmdeck.agents.run_datasets import PREFERENCE_FILE, SFT_FILE, build
from llmdeck.agents.tasks import Task
from llmdeck.tuning.data.rows import RowError, message
from llmdeck.tuning.render import conversation_tokens

TASK = "Print 6 times 7."


def feedback(code: str) -> str:
    return f"Your program ran, but the check failed: expected stdout '42', got {code!r}"


def verify_run(task_id: str, programs: list[str], *, passed: bool, sample: int = 0, collection: str = "v1") -> str:
    """A verify run as services.verify records it: per round the program, its execution and the executor's
    message (the last program passes when `passed`), then its attempt row."""
    run_id = records.start_run(
        "verify",
        TASK,
        "m",
        {
            "system_prompt": "Write Python.",
            "task_prompt": TASK,
            "checks": {"expect": "42", "tests": None},
            "task": {"id": task_id, "split": "train"},
        },
    )
    for n, code in enumerate(programs, start=1):
        ok = passed and n == len(programs)
        records.add_event(run_id, CodeWritten(n, code, records.fenced(code)))
        records.add_event(
            run_id,
            CodeExecuted(
                n, 0, "42\n" if ok else "0\n", "", 0.1, "process", None, "passed" if ok else "failed", None, ok
            ),
        )
        records.add_event(run_id, MessageSent(n, "executor", "VERIFIED: stdout is '42'" if ok else feedback(code)))
    records.finish_run(
        run_id, "verified" if passed else "failed", records.fenced(programs[-1]) if passed else None, len(programs)
    )
    verdict = {"passed": passed, "rounds": len(programs)}
    attempts.add(collection, task_id, sample, run_id, "verify", "tasks.jsonl", "train", verdict, "m")
    return run_id


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_repaired_program_becomes_a_repair_conversation_with_the_failed_turn_weighted_out(tmp_path):
    verify_run("code-1", ["print(6 + 7)", "print(6 * 7)"], passed=True)
    report = build(tmp_path)
    rows = read_jsonl(tmp_path / SFT_FILE)
    assert report.sft_rows == {"verify": 2} and report.repair_rows == 1
    plain, repair = rows
    assert [m["role"] for m in plain["messages"]] == ["system", "user", "assistant"] and "repair" not in plain
    assert repair["repair"] is True
    assert repair["messages"][2:] == [
        {"role": "assistant", "content": "```python\nprint(6 + 7)\n```", "weight": 0},
        {"role": "user", "content": feedback("print(6 + 7)")},
        {"role": "assistant", "content": "```python\nprint(6 * 7)\n```"},
    ]
    from llmdeck.tuning import data

    prepared = data.prepare(tmp_path / SFT_FILE, "messages", "sft")  # the weight survives the data checks
    assert prepared.report.valid == 2 and prepared.report.bad_count == 0


def test_verified_attempts_come_best_first_so_the_cap_keeps_the_best(tmp_path):
    verify_run("code-1", ["print(0)", "print(1)", "print(42)"], passed=True, sample=0)  # three rounds
    verify_run("code-1", ["print(6 * 7)  # the product"], passed=True, sample=1)  # first round, longer
    verify_run("code-1", ["print(6*7)"], passed=True, sample=2)  # first round, shortest
    build(tmp_path, max_per_task=2)
    kept = [r["messages"][-1]["content"] for r in read_jsonl(tmp_path / SFT_FILE)]
    assert kept == ["```python\nprint(6*7)\n```", "```python\nprint(6 * 7)  # the product\n```"]


def test_repair_pairs_put_the_verified_fix_against_the_failed_rewrite_after_the_same_feedback(tmp_path):
    verify_run("code-1", ["print(42)"], passed=True)
    verify_run("code-1", ["print(0)", "print(1)"], passed=False, sample=1)  # failed, then failed its rewrite
    report = build(tmp_path)
    pairs = read_jsonl(tmp_path / PREFERENCE_FILE)
    assert report.repair_pairs == 1 and len(pairs) == 3  # two plain pairs (both failing programs), one repair pair
    (repair,) = [p for p in pairs if p.get("repair")]
    assert [m["role"] for m in repair["prompt"]] == ["system", "user", "assistant", "user"]
    assert repair["prompt"][-1]["content"] == feedback("print(0)")
    assert repair["rejected"] == [{"role": "assistant", "content": "```python\nprint(1)\n```"}]
    assert repair["chosen"] == [{"role": "assistant", "content": "```python\nprint(42)\n```"}]
    assert [bool(p.get("repair")) for p in pairs] == [False, True, False]  # interleaved: the cap keeps both kinds


def test_a_weight_is_an_assistant_turns_zero_or_one():
    assert message({"role": "assistant", "content": "x", "weight": 0}, 0, False) == {
        "role": "assistant",
        "content": "x",
        "weight": 0,
    }
    for bad in ({"role": "user", "content": "x", "weight": 0}, {"role": "assistant", "content": "x", "weight": 0.5}):
        with pytest.raises(RowError, match=r"messages\[3\]\.weight"):
            message(bad, 3, False)


class CharTokenizer:
    """A tokenizer of one token per character and a ChatML-like template: enough for the loss mask's offsets."""

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False, tools=None):
        text = "".join(f"<{m['role']}>{m['content']}</>" for m in messages)
        return text + ("<assistant>" if add_generation_prompt else "")

    def __call__(self, text, add_special_tokens=False, return_offsets_mapping=True):
        return {"input_ids": [ord(c) for c in text], "offset_mapping": [(i, i + 1) for i in range(len(text))]}


def test_the_loss_mask_leaves_out_a_weight_zero_turn():
    messages = [
        {"role": "user", "content": "task"},
        {"role": "assistant", "content": "bad", "weight": 0},
        {"role": "user", "content": "failed"},
        {"role": "assistant", "content": "good"},
    ]
    tokens = conversation_tokens(messages, CharTokenizer())
    trained = "".join(chr(t) for t, keep in zip(tokens["input_ids"], tokens["assistant_masks"]) if keep)
    assert trained == "good</>"


def test_the_verifier_reward_reads_the_checks_of_a_grpo_prompt_row():
    task = Task(id="numbers-1", kind="verify", task="Print 6 times 7.", expect="42")
    row = prompt_row(task)
    assert row["prompt"][-1]["content"].startswith("Print 6 times 7.") and "42" in row["prompt"][-1]["content"]
    assert json.loads(row["answer"]) == {"expect": "42", "tests": None}
    completions = [[{"role": "assistant", "content": text}] for text in ("```python\nprint(6 * 7)\n```", "no code")]
    assert verify_reward([row["prompt"]] * 2, completions, answer=[row["answer"]] * 2) == [1.0, 0.0]  # one sandbox run
