"""The constrained two-step decode on the scripted fake llama.cpp model: which grammar each step is decoded
under, the prompts in the model's own template (tool results rendered by us), the parse of free steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmdeck.agents.decoding import (
    FINAL_ANSWER,
    THOUGHT_GRAMMAR,
    StepDecoder,
    ToolSpec,
    action_grammar,
    arguments_grammar,
    capped_schema,
    final_answer_spec,
    parse_step,
)
from llmdeck.core.runtime import LoadedModel, LoadOptions
from llmdeck.services.agent import ask
from llmdeck.testing.fake_model import FakeLlama
from tests.agents.conftest import AGENT_EVENT_FIELDS, schema_problems

CALCULATOR = ToolSpec(
    "calculator",
    "Evaluate arithmetic.",
    {"type": "object", "properties": {"expression": {"type": "string", "maxLength": 500}}, "required": ["expression"]},
)
FILES = ToolSpec(
    "files",
    "Files.",
    {
        "type": "object",
        "properties": {
            "operation": {"enum": ["list", "read"], "type": "string"},
            "path": {"type": "string", "default": "."},
        },
        "required": ["operation"],
    },
)


def decoder(fake: FakeLlama, **kwargs) -> StepDecoder:
    return StepDecoder(LoadedModel(Path("fake.gguf"), LoadOptions(), fake), **kwargs)


def conversation(question: str = "What is 2 + 2?") -> list[dict]:
    return [{"role": "system", "content": "SYSTEM"}, {"role": "user", "content": question}]


def test_thought_then_action_then_arguments_each_under_its_grammar():
    fake = FakeLlama().enqueue(" I add.\n", " calculator\n", ' {"expression": "2 + 2"}')
    step = decoder(fake, thoughts=True).next_step(conversation(), [CALCULATOR, FILES])
    assert (step.thought, step.action, step.args) == ("I add.", "calculator", {"expression": "2 + 2"})
    assert step.text == 'Thought: I add.\nAction: calculator\nAction Input: {"expression": "2 + 2"}'
    thought, action, arguments = fake.completion_calls
    assert thought["grammar"] == THOUGHT_GRAMMAR
    assert action["grammar"] == action_grammar(["calculator", "files", FINAL_ANSWER])
    assert '"calculator" | "files" | "final_answer"' in action["grammar"]
    assert arguments["grammar"] == arguments_grammar(CALCULATOR.parameters, 200)
    assert all(call["temperature"] == 0.0 for call in fake.completion_calls)
    base = "<|im_start|>system\nSYSTEM<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
    assert thought["prompt"] == base + "Thought:"
    assert action["prompt"] == base + "Thought: I add.\nAction:"
    assert arguments["prompt"] == base + "Thought: I add.\nAction: calculator\nAction Input:"


def test_without_thoughts_and_with_the_tools_withheld_only_the_answer_is_decoded():
    fake = FakeLlama().enqueue(' {"answer": "4"}')
    step = decoder(fake).next_step(conversation(), [CALCULATOR], final_only=True)
    assert (step.action, step.answer) == (FINAL_ANSWER, "4")
    (only,) = fake.completion_calls
    assert only["grammar"] == arguments_grammar(final_answer_spec().parameters, 200)
    assert only["prompt"].endswith("<|im_start|>assistant\nAction: final_answer\nAction Input:")


def test_tool_results_are_rendered_as_user_results_or_tool_messages():
    messages = [
        *conversation(),
        {"role": "assistant", "content": "Action: calculator\nAction Input: {}"},
        {"role": "tool", "content": "4"},
    ]
    fake = FakeLlama().enqueue(" final_answer\n", ' {"answer": "4"}')
    decoder(fake).next_step(messages, [CALCULATOR])
    assert "<|im_start|>user\nResult: 4<|im_end|>" in fake.completion_calls[0]["prompt"]
    fake = FakeLlama().enqueue(" final_answer\n", ' {"answer": "4"}')
    decoder(fake, observation_role="tool").next_step(messages, [CALCULATOR])
    assert "<|im_start|>tool\n4<|im_end|>" in fake.completion_calls[0]["prompt"]


def test_string_arguments_are_capped_and_required_ones_non_empty():
    capped = capped_schema(
        FILES.parameters
        | {"properties": {**FILES.parameters["properties"], "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}}},
        50,
    )
    assert capped["properties"]["path"]["maxLength"] == 50 and "minLength" not in capped["properties"]["path"]
    assert "maxLength" not in capped["properties"]["operation"]  # an enum is bounded already
    assert capped["properties"]["note"]["anyOf"][0]["maxLength"] == 50
    assert capped_schema(CALCULATOR.parameters, 50)["properties"]["expression"] == {
        "type": "string",
        "maxLength": 50,
        "minLength": 1,
    }
    grammar = arguments_grammar(CALCULATOR.parameters, 3)
    assert grammar.rstrip().endswith('root ::= " " llmdeck-arguments')
    assert 'char ::= [^"\\\\\\x7F\\x00-\\x1F]' in grammar  # no raw control characters inside JSON strings


@pytest.mark.parametrize(
    "raw, action, problem",
    [
        ('Thought: add\nAction: calculator\nAction Input: {"expression": "2+2"}', "calculator", None),
        ('Action: final_answer\nAction Input: {"answer": "4"} trailing words', FINAL_ANSWER, None),
        ("The answer is 4.", FINAL_ANSWER, "no 'Action:'"),
        ("Action: teleport\nAction Input: {}", FINAL_ANSWER, "unknown action 'teleport'"),
        ("Action: calculator\nAction Input: {expression: 2}", FINAL_ANSWER, "not JSON"),
        ('Action: calculator\nAction Input: {"expr": "2"}', FINAL_ANSWER, "does not fit the schema"),
    ],
)
def test_free_steps_parse_or_are_flagged_malformed(raw, action, problem):
    step = parse_step(raw, [CALCULATOR, final_answer_spec()])
    assert step.action == action
    assert step.well_formed is (problem is None)
    if problem is None:
        assert step.problem is None
    else:
        assert problem in step.problem


def test_unconstrained_decoding_uses_no_grammar():
    fake = FakeLlama().enqueue(" I guess.\nThe answer is four.")
    step = decoder(fake, constrained=False, thoughts=True).next_step(conversation(), [CALCULATOR])
    assert not step.well_formed and step.action == FINAL_ANSWER
    assert fake.completion_calls[0]["grammar"] is None


def test_a_stop_mid_step_ends_the_run_at_the_next_token_recorded_cancelled(fake_model):
    """The app's cancellation turns true while the first step's action is decoded: that generation ends
    (llama.cpp's stopping criteria raise), nothing else is decoded, no event comes, the run is cancelled."""
    from llmdeck.agents import records

    fake_model.enqueue(
        " I use the calculator.\n",
        " calculator\n",
        ' {"expression": "2 + 2"}',
        " I know it.\n",
        " final_answer\n",
        ' {"answer": "4"}',
    )
    response = ask(
        "What is 2 + 2?", tools=["calculator"], thoughts=True, stop_when=lambda: len(fake_model.completion_calls) >= 2
    )
    assert list(response) == []
    assert len(fake_model.completion_calls) == 2  # the thought, then the stopped action: nothing after
    assert response.cancelled and response.answer is None
    assert records.get_run(response.run_id).status == "cancelled"


def test_an_agent_run_on_the_fake_model_end_to_end(fake_model):
    fake_model.enqueue(
        " I use the calculator.\n",
        " calculator\n",
        ' {"expression": "2 + 2"}',
        " I know it.\n",
        " final_answer\n",
        ' {"answer": "4"}',
    )
    response = ask("What is 2 + 2?", tools=["calculator"], thoughts=True)
    events = [event.to_json() for event in response]
    assert [schema_problems(e, AGENT_EVENT_FIELDS) for e in events] == [[]] * len(events)
    assert [
        (e["type"], e.get("text") if e["type"] == "thought" else e.get("content", e.get("answer"))) for e in events
    ] == [
        ("thought", "I use the calculator."),
        ("tool_call", None),
        ("observation", "4"),
        ("thought", "I know it."),
        ("final", "4"),
    ]
    assert events[1]["args"] == {"expression": "2 + 2"}
    second_step_prompt = fake_model.completion_calls[3]["prompt"]
    assert second_step_prompt.endswith(
        "<|im_start|>assistant\nThought: I use the calculator.\nAction: calculator\n"
        'Action Input: {"expression": "2 + 2"}'
        "<|im_end|>\n<|im_start|>user\nResult: 4<|im_end|>\n<|im_start|>assistant\nThought:"
    )
    system = fake_model.completion_calls[0]["prompt"].split("<|im_end|>")[0]
    assert "- calculator: Evaluate arithmetic" in system and "- final_answer: Give the final answer" in system
    assert response.answer == "4" and json.loads(events[1]["text"].split("Action Input: ")[1]) == {
        "expression": "2 + 2"
    }
