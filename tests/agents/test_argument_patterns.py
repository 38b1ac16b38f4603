"""Tool argument patterns (issue 24, item 5): the calculator admits only arithmetic, the files tool only the
workspace's paths, http_get only http(s) addresses; the grammar is built with them (and without them when asked),
small integer ranges become enums, and a call that breaks a pattern without the grammar is refused in one line."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from llmdeck.agents import task_sets
from llmdeck.agents.calculator import ARITHMETIC_PATTERN, calculate, is_arithmetic
from llmdeck.agents.chat_model import tool_specs
from llmdeck.agents.decoding import (
    FINAL_ANSWER,
    StepDecoder,
    ToolSpec,
    arguments_grammar,
    final_answer_spec,
    parse_step,
    ranges_as_enums,
    without_patterns,
)
from llmdeck.agents.tasks import load_tasks
from llmdeck.agents.tools import URL_PATTERN, ToolCatalog, ToolSettings, tool_parameters, workspace_paths
from llmdeck.core.runtime import LoadedModel, LoadOptions
from llmdeck.services.agent import ask
from llmdeck.testing.fake_model import FakeLlama

ARITHMETIC = ["17 * 23", "(66 + 68) * 7", "sqrt(16) + 1", "max(3, 4)", "-5 + 3", "2^10", "17×23", "5²", "2 ** 0.5"]
ARITHMETIC += ["round(2.5)", "log(8, 2)", "10 // 3", "2 * -3", "1e3 / 4", "pi * 2", "( 1 + 2 ) * 3", "7 ="]
NOT_ARITHMETIC = ["} + 23 # 17 * 23 = 321 # ...", "17 * 23 = 391", "x + 1", "", "seventeen times 23", "17 23"]
NOT_ARITHMETIC += ["__import__('os')", "[1, 2]", "'a' * 3", ".17 * 23", "1 +", "(1).real"]


@pytest.mark.parametrize("text", ARITHMETIC)
def test_the_calculator_pattern_admits_arithmetic(text):
    assert is_arithmetic(text)
    calculate(text)  # and the calculator evaluates all of it


@pytest.mark.parametrize("text", NOT_ARITHMETIC)
def test_the_calculator_pattern_refuses_everything_else(text):
    assert not is_arithmetic(text)


def test_every_bundled_calculator_hint_fits_the_pattern():
    tasks = [t for t in load_tasks(task_sets.bundled("agent")).tasks if t.tool == "calculator"]
    assert len(tasks) > 50
    for task in tasks:
        call = json.loads(task.hint.removeprefix("Use calculator with ").removesuffix(", then answer from its result."))
        assert re.search(ARITHMETIC_PATTERN, call["expression"]), task.id


def test_the_tools_declare_their_patterns_and_the_model_is_shown_the_same_schema(tmp_path):
    tmp_path = tmp_path / "ws"
    tmp_path.mkdir()
    (tmp_path / "notes.txt").write_text("hi\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.csv").write_text("a\n")
    (tmp_path / ".hidden").write_text("x\n")
    tools = ToolCatalog(settings=ToolSettings(workspace=tmp_path)).build(["calculator", "files", "http_get"])
    specs = {spec.name: spec.parameters for spec in tool_specs(tools)}
    assert specs["calculator"]["properties"]["expression"]["pattern"] == ARITHMETIC_PATTERN
    assert specs["files"]["properties"]["path"]["pattern"] == "^([.]|notes[.]txt|sub|sub/deep[.]csv)$"
    assert specs["http_get"]["properties"]["url"]["pattern"] == URL_PATTERN
    assert specs == {tool.name: tool_parameters(tool) for tool in tools}
    assert "pattern" not in specs["files"]["properties"]["pattern"]  # the grep argument named "pattern" is free text
    # the tools themselves still run what they are given (the check is the agent's, before the call)
    assert tools[1].invoke({"operation": "read", "path": "notes.txt"}).startswith("hi")


def test_a_large_or_oddly_named_workspace_gets_no_path_pattern(tmp_path):
    tmp_path = tmp_path / "ws"
    tmp_path.mkdir()
    for n in range(70):
        (tmp_path / f"f{n}.txt").write_text("")
    assert workspace_paths(tmp_path) is None
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / 'quote".txt').write_text("")
    assert workspace_paths(odd) is None
    special = tmp_path / "special"
    special.mkdir()
    os.mkfifo(special / "pipe")  # listed by name, never opened
    (special / "loop").symlink_to(special / "loop")
    assert workspace_paths(special) == [".", "loop", "pipe"]
    assert workspace_paths(tmp_path / "missing") is None


def grammar_rules(grammar: str) -> dict[str, str]:
    return dict(line.split(" ::= ", 1) for line in grammar.splitlines() if " ::= " in line)


def test_the_grammar_enforces_patterns_enums_and_small_ranges_and_llama_cpp_parses_it():
    from llama_cpp import LlamaGrammar

    schema = {
        "type": "object",
        "properties": {
            "expression": {"type": "string", "maxLength": 200, "pattern": ARITHMETIC_PATTERN},
            "k": {"type": "integer", "minimum": 1, "maximum": 5},
            "big": {"type": "integer", "minimum": 0, "maximum": 10_000},
        },
        "required": ["expression", "k", "big"],
    }
    with_patterns = arguments_grammar(schema, 200)
    rules = grammar_rules(with_patterns)
    assert '"sqr" "t"' in rules["expression"] and "char" not in rules["expression"]
    assert rules["k"] == '"1" | "2" | "3" | "4" | "5"'
    assert rules["big-kv"].endswith("integer")  # a wide range stays an integer
    plain = grammar_rules(arguments_grammar(schema, 200, patterns=False))
    assert "char" in plain["expression"] and '"sqr"' not in plain["expression"]
    assert "k" not in plain and plain["k-kv"].endswith("integer")
    for grammar in (with_patterns, arguments_grammar(schema, 200, patterns=False)):
        LlamaGrammar.from_string(grammar, verbose=False)  # llama.cpp's own parser accepts both
    assert ranges_as_enums({"type": "integer", "minimum": 0, "maximum": 300}) == {
        "type": "integer",
        "minimum": 0,
        "maximum": 300,
    }


def test_a_pattern_the_converter_cannot_spell_is_left_to_the_call_check():
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(?=a)a+$"}}, "required": ["s"]}
    assert arguments_grammar(schema, 50) == arguments_grammar(schema, 50, patterns=False)
    dotted = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^a.c$"}}, "required": ["s"]}
    dot_rule = grammar_rules(arguments_grammar(dotted, 50))["dot"]
    assert '"' in dot_rule and "\\\\" in dot_rule and dot_rule.startswith("[^")  # no quote or backslash via `.`


def test_without_patterns_keeps_everything_else():
    files = tool_parameters(
        ToolCatalog(settings=ToolSettings(workspace=Path(task_sets.DATA_DIR / "workspace"))).build(["files"])[0]
    )
    plain = without_patterns(files)
    assert "pattern" in files["properties"]["path"] and "pattern" not in plain["properties"]["path"]
    assert plain["properties"]["pattern"] == files["properties"]["pattern"]
    assert plain["properties"]["operation"]["enum"] == ["list", "read", "grep"]


CALCULATOR = ToolSpec(
    "calculator",
    "Evaluate arithmetic.",
    {
        "type": "object",
        "properties": {"expression": {"type": "string", "maxLength": 200, "pattern": ARITHMETIC_PATTERN}},
        "required": ["expression"],
    },
)


def decoder(fake: FakeLlama, **kwargs) -> StepDecoder:
    return StepDecoder(LoadedModel(Path("fake.gguf"), LoadOptions(), fake), **kwargs)


def test_the_decoder_builds_its_argument_grammar_with_or_without_patterns():
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "What is 17 * 23?"}]
    for patterns in (True, False):
        fake = FakeLlama().enqueue(" calculator\n", ' {"expression": "17 * 23"}')
        step = decoder(fake, argument_patterns=patterns).next_step(messages, [CALCULATOR])
        assert step.args == {"expression": "17 * 23"}
        grammar = fake.completion_calls[-1]["grammar"]
        assert grammar == arguments_grammar(CALCULATOR.parameters, 200, patterns=patterns)
        assert ('"sqr" "t"' in grammar) is patterns


def test_arguments_cut_at_the_token_budget_are_a_malformed_step_not_a_crash():
    fake = FakeLlama().enqueue(" calculator\n", ' {"expression": "1 + 1 + 1 + 1')
    step = decoder(fake).next_step([{"role": "user", "content": "Q"}], [CALCULATOR])
    assert (step.action, step.well_formed) == (FINAL_ANSWER, False)
    assert "token budget" in step.problem


def test_a_free_step_that_breaks_a_pattern_is_well_formed_and_refused_in_one_line_when_called(fake_model):
    bad = "Action: calculator\nAction Input: " + json.dumps({"expression": "} + 23 # 17 * 23 = 321 # ..."})
    step = parse_step(bad, [CALCULATOR, final_answer_spec()])
    assert (step.action, step.well_formed) == ("calculator", True)  # its shape is right; its value is not
    fake_model.enqueue(bad, 'Action: final_answer\nAction Input: {"answer": "391"}')
    response = ask("What is 17 * 23?", tools=["calculator"], constrained=False)
    events = [event.to_json() for event in response]
    observation = next(e["content"] for e in events if e["type"] == "observation")
    assert observation.startswith("Error: invalid arguments for calculator: expression: '} + 23 # 17 * 23")
    assert "does not match" in observation and "\n" not in observation
    assert response.answer == "391"
