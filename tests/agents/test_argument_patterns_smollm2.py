"""The argument patterns on the real embedded SmolLM2-135M (llama.cpp's grammar, greedy): every calculator call it
makes is arithmetic and every files call names a path the workspace holds. Without the patterns this model wrote
'} + 23 # 17 * 23 = 321 # ...' and '.17 * 23' for 17 * 23."""

from __future__ import annotations

import re

import pytest

from llmdeck.agents import task_sets
from llmdeck.agents.calculator import is_arithmetic
from llmdeck.agents.tools import workspace_paths
from llmdeck.services.agent import ask

pytestmark = pytest.mark.slow

QUESTIONS = ["What is 17 * 23?", "What is (66 + 68) * 7?", "How many pears are listed in inventory.txt?"]


def test_the_embedded_model_writes_only_what_the_patterns_admit():
    workspace = task_sets.DATA_DIR / "workspace"
    paths = workspace_paths(workspace)
    assert paths is not None and "inventory.txt" in paths
    calls = []
    for question in QUESTIONS:
        response = ask(question, tools=["calculator", "files"], workspace=workspace)
        events = [event.to_json() for event in response]
        calls += [(e["name"], e["args"]) for e in events if e["type"] == "tool_call"]
    assert calls, "the model called no tool at all"
    for name, args in calls:
        if name == "calculator":
            assert is_arithmetic(args["expression"]), args
        else:
            assert args.get("path", ".") in paths, args
    first = next((args["expression"] for name, args in calls if name == "calculator"), "")
    assert re.sub(r"\s", "", first) == "17*23"  # what the question asks, not '.17 * 23'
