"""Scripted models and event-schema checks shared by the agent and verify tests."""

from __future__ import annotations

import pytest

AGENT_EVENT_FIELDS = {
    "thought": {"step": int, "text": str},
    "tool_call": {"step": int, "name": str, "args": dict, "id": str, "text": str},
    "observation": {"step": int, "name": str, "content": str, "error": bool},
    "final": {"answer": str, "steps": int, "limit": (str, type(None)), "seconds": float, "text": str},
    "error": {"message": str},
}
VERIFY_EVENT_FIELDS = {
    "code": {"round": int, "code": str, "text": str},
    "execution": {
        "round": int,
        "exit_code": (int, type(None)),
        "stdout": str,
        "stderr": str,
        "seconds": float,
        "isolation": str,
        "limit": (str, type(None)),
        "checks": str,
        "passed": bool,
    },
    "message": {"round": int, "source": str, "content": str},
    "verdict": {
        "passed": bool,
        "status": str,
        "rounds": int,
        "code": (str, type(None)),
        "checks": (str, type(None)),
        "isolation": str,
        "isolation_note": str,
        "seconds": float,
    },
}


def schema_problems(event: dict, fields_by_type: dict) -> list[str]:
    """Why `event` does not match the documented JSON-lines schema (empty when it does)."""
    kind = event.get("type")
    if kind not in fields_by_type:
        return [f"unknown type {kind!r}"]
    problems = []
    for name, expected in fields_by_type[kind].items():
        if name not in event:
            problems.append(f"{kind}: missing {name}")
        elif not isinstance(event[name], expected) or (expected is int and isinstance(event[name], bool)):
            problems.append(f"{kind}.{name}: {type(event[name]).__name__}")
    return problems


def scripted_chat_model(*messages):
    """LangChain's fake chat model, answering `messages` in order, usable by `create_agent`."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    class Scripted(GenericFakeChatModel):
        def bind_tools(self, tools, **kwargs):
            return self

    return Scripted(messages=iter(messages))


def call(name: str, args: dict, call_id: str = "c1", thought: str = ""):
    from langchain_core.messages import AIMessage

    return AIMessage(content=thought, tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])


def answer(text: str):
    from langchain_core.messages import AIMessage

    return AIMessage(content=text)


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "inventory.txt").write_text("apples: 12\npears: 7\n")
    return root
