"""The AutoGen pair driven by AutoGen's ReplayChatCompletionClient as the writer, with the real sandbox as
the executor: verified at once, failing-then-fixed, --tests failures, no checks, give-up, max rounds; the
runs recorded and exported as SFT and preference data."""

from __future__ import annotations

import pytest

from llmdeck.agents import records
from llmdeck.agents.verify import GIVE_UP, VerifyOptions, closed_fence, writer_grammar
from llmdeck.core.errors import BadInput
from llmdeck.services.verify import verify
from tests.agents.conftest import VERIFY_EVENT_FIELDS, schema_problems


def writer(*replies):
    """A replaying writer that also keeps the messages it was sent."""
    from autogen_ext.models.replay import ReplayChatCompletionClient

    class Recording(ReplayChatCompletionClient):
        received: list = []

        async def create(self, messages, **kwargs):
            self.received.append([getattr(m, "content", None) for m in messages])
            return await super().create(messages, **kwargs)

    client = Recording(list(replies))
    client.received = []
    return client


def block(code: str) -> str:
    return f"```python\n{code}\n```"


def run(task, client, **kwargs):
    response = verify(task, client=client, **kwargs)
    events = [event.to_json() for event in response]  # the JSON forms: what --json prints and the records store
    assert [schema_problems(e, VERIFY_EVENT_FIELDS) for e in events] == [[]] * len(events)
    assert events[-1]["type"] == "verdict" and sum(e["type"] == "verdict" for e in events) == 1
    return response, events


def test_verified_in_the_first_round():
    response, events = run("Print 6 times 7.", writer(block("print(6 * 7)")), expect="42")
    assert [e["type"] for e in events] == ["code", "execution", "message", "verdict"]
    execution, verdict = events[1], events[-1]
    assert (execution["exit_code"], execution["stdout"], execution["checks"], execution["passed"]) == (
        0,
        "42\n",
        "passed",
        True,
    )
    assert verdict["passed"] is True and verdict["status"] == "verified" and verdict["rounds"] == 1
    assert verdict["code"] == "print(6 * 7)" and verdict["checks"] == "expect"
    assert verdict["isolation"] in ("bubblewrap", "namespaces", "process") and verdict["isolation_note"]
    stored = records.get_run(response.run_id, "verify")
    assert stored.status == "verified" and stored.passed is True and stored.answer == block("print(6 * 7)")


def test_failing_then_fixed_feeds_the_error_back():
    client = writer(block("print(1 / 0)"), block("print(2)"))
    _, events = run("Print two.", client, expect="2")
    first = [e for e in events if e["type"] == "execution"][0]
    assert first["exit_code"] == 1 and "ZeroDivisionError" in first["stderr"] and not first["passed"]
    assert events[-1]["status"] == "verified" and events[-1]["rounds"] == 2
    second_call = client.received[1]
    assert any("ZeroDivisionError" in str(content) for content in second_call)  # the stderr reached the writer


def test_wrong_output_is_a_failed_check_not_a_pass():
    client = writer(block("print('The answer is 42')"), block("print(42)"))
    _, events = run("Print 42.", client, expect="42")
    first = [e for e in events if e["type"] == "execution"][0]
    assert first["exit_code"] == 0 and first["checks"] == "failed"
    assert "expected stdout '42', got 'The answer is 42'" in first["check_message"]
    assert "expected stdout '42'" in str(client.received[1])
    assert events[-1]["status"] == "verified"


def test_tests_file_failures_then_pass(tmp_path):
    tests = tmp_path / "test_add.py"
    tests.write_text("assert add(2, 3) == 5\n\ndef test_negative():\n    assert add(-1, 1) == 0\n")
    client = writer(block("def add(a, b):\n    return a - b"), block("def add(a, b):\n    return a + b"))
    response, events = run("Define add(a, b).", client, tests=tests)
    first = [e for e in events if e["type"] == "execution"][0]
    assert first["exit_code"] == 0 and first["checks"] == "failed" and "AssertionError" in first["check_message"]
    assert "assert add(2, 3) == 5" in first["check_message"]  # the failing line goes back to the writer
    verdict = events[-1]
    assert verdict["status"] == "verified" and verdict["checks"] == "tests" and verdict["rounds"] == 2
    assert "checks passed (1 test functions)" in [e for e in events if e["type"] == "execution"][1]["check_message"]


def test_without_checks_it_ran_but_is_never_passed():
    _, events = run("Say hi.", writer(block("print('hi')")))
    verdict = events[-1]
    assert verdict["status"] == "ran, unverified" and verdict["passed"] is False and verdict["checks"] is None


def test_the_writer_can_give_up():
    response, events = run("Solve the halting problem.", writer(GIVE_UP), expect="yes")
    assert [e["type"] for e in events] == ["message", "verdict"]
    assert events[-1]["status"] == "gave up" and events[-1]["rounds"] == 0 and events[-1]["code"] is None
    assert records.get_run(response.run_id).status == "gave_up"


def test_max_rounds_ends_a_run_that_never_passes():
    client = writer(*[block("print(1)")] * 5)
    response, events = run("Print 2.", client, expect="2", options=VerifyOptions(max_rounds=2))
    assert events[-1]["status"] == "failed" and events[-1]["rounds"] == 2 and not events[-1]["passed"]
    assert records.get_run(response.run_id).status == "failed"


def test_verified_and_fixed_runs_export_as_sft_and_preference_data(tmp_path):
    from llmdeck.tuning.data import prepare

    run("Print two.", writer(block("print(1 / 0)"), block("print(2)")), expect="2")
    run("Print 2.", writer(block("print(3)")), expect="2", options=VerifyOptions(max_rounds=1))
    sft = records.verify_sft_rows()
    assert len(sft) == 1
    assert [m["role"] for m in sft[0]["messages"]] == ["system", "user", "assistant"]
    assert sft[0]["messages"][-1]["content"] == block("print(2)")
    assert "The program must print exactly:\n2" in sft[0]["messages"][1]["content"]
    pairs = records.verify_preference_rows()
    assert [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in pairs] == [
        (block("print(2)"), block("print(1 / 0)"))
    ]
    sft_file, pairs_file = tmp_path / "sft.jsonl", tmp_path / "pairs.jsonl"
    records.write_jsonl(sft, sft_file)
    records.write_jsonl(pairs, pairs_file)
    assert prepare(sft_file).report.format == "messages"
    assert prepare(pairs_file, method="dpo").report.valid == 1


def test_bad_inputs_are_refused_before_anything_runs(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("assert (\n")
    with pytest.raises(BadInput, match="not both"):
        verify("x", client=writer(), expect="1", tests=broken)
    with pytest.raises(BadInput, match=r"broken.py:\d+: not valid Python"):
        verify("x", client=writer(), tests=broken)
    with pytest.raises(BadInput, match="missing.py: no such tests file"):
        verify("x", client=writer(), tests=tmp_path / "missing.py")
    with pytest.raises(BadInput, match="task is empty"):
        verify(" ", client=writer())
    assert records.list_runs("verify") == []


def test_the_writer_grammar_and_the_closed_fence():
    grammar = writer_grammar(max_lines=5, max_line_chars=10)
    assert grammar.startswith('root ::= "```python\\n" line{1,5} "```" | "I give up."')
    assert 'line ::= [^`\\n]{0,10} "\\n"' in grammar
    assert closed_fence("```python\nprint(1)\n") == "```python\nprint(1)\n```"
    assert closed_fence("```python\nprint(1)\n```") == "```python\nprint(1)\n```"
    assert closed_fence(GIVE_UP) == GIVE_UP


def test_a_stop_mid_reply_ends_the_run_at_the_next_token_recorded_cancelled(fake_model):
    """The writer on the store model (a fake streaming one chunk per 50 ms, ~75 s for its whole reply):
    close() from another thread, as the app's Esc or quitting does, ends the generation, not only the iteration."""
    import threading

    from llmdeck.testing.fake_model import fake_tokens

    reply = "```python\n" + "print(1)\n" * 300 + "```"
    fake_model.delay_s = 0.05
    fake_model.enqueue(reply)
    response = verify("Print 1 many times.", expect="1")
    threading.Timer(0.5, response.close).start()
    events = list(response)
    assert 0 < fake_model.chunks_streamed < len(fake_tokens(reply)) // 2  # stopped early, however late the timer fired
    assert events == [] and response.cancelled and response.status is None  # no round, no verdict
    assert fake_model.active_streams == 0  # the generation itself ended, not only the iteration
    assert records.get_run(response.run_id, "verify").status == "cancelled"


def test_a_stop_check_that_never_fires_changes_nothing(fake_model):
    """The app's stop check streams the writer's reply inside: the same rounds and verdict as without."""
    fake_model.enqueue(block("print(1 / 0)"), block("print(2)"))
    response = verify("Print two.", expect="2", stop_when=lambda: False)
    events = [event.to_json() for event in response]
    assert [e["type"] for e in events] == ["code", "execution", "message", "code", "execution", "message", "verdict"]
    assert events[-1]["status"] == "verified" and events[-1]["code"] == "print(2)"
