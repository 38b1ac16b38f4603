"""llmdeck's MCP tools through the `mcp` SDK's own client, in-process: their schemas, the model store, chat and
the verify pair on the scripted fake model, and llmdeck's one-line errors as tool errors."""

from __future__ import annotations

import asyncio

import pytest

from llmdeck.services.mcp_server import build_server


def call(name: str, arguments: dict | None = None):
    from mcp import Client

    async def run():
        async with Client(build_server()) as client:
            return await client.call_tool(name, arguments or {})

    return asyncio.run(run())


def test_the_tools_and_their_schemas():
    from mcp import Client

    async def run():
        async with Client(build_server()) as client:
            return (await client.list_tools()).tools

    tools = {tool.name: tool for tool in asyncio.run(run())}
    assert sorted(tools) == ["chat", "models_list", "models_show", "rag_collections", "rag_search", "verify"]
    search = tools["rag_search"].input_schema
    assert search["required"] == ["collection", "query"] and search["properties"]["k"]["default"] == 5
    assert tools["rag_search"].annotations.read_only_hint and not tools["verify"].annotations.read_only_hint
    assert "cite" in (tools["rag_search"].description or "")
    assert tools["verify"].input_schema["required"] == ["task"]


def test_the_model_store_list_and_show():
    listed = call("models_list")
    assert not listed.is_error
    names = [m["name"] for m in listed.structured_content["models"]]
    assert names == ["smollm2-135m-instruct"] and listed.structured_content["models"][0]["is_default"]
    shown = call("models_show", {"name": "smollm2-135m-instruct"}).structured_content
    assert shown["model"]["architecture"] == "llama" and "im_start" in shown["chat_template"]
    missing = call("models_show", {"name": "ghost"})
    assert missing.is_error and "'ghost' is not in the store" in missing.content[0].text


def test_chat_answers_with_a_store_model(fake_model):
    fake_model.enqueue("Paris.")
    result = call("chat", {"prompt": "Capital of France?", "max_tokens": 16})
    assert not result.is_error, result.content
    assert result.structured_content["answer"] == "Paris." and result.structured_content["sources"] == []
    assert result.structured_content["model"] == "smollm2-135m-instruct"
    assert call("chat", {"prompt": "  "}).content[0].text == "Error executing tool chat: chat: the prompt is empty"


@pytest.mark.slow  # ~3 s: AutoGen's import and a sandboxed run
def test_verify_runs_the_pair_and_records_the_run(fake_model):
    from llmdeck.agents import records

    fake_model.enqueue("```python\nprint(6 * 7)\n```")
    result = call("verify", {"task": "Print 6 times 7.", "expect": "42"})
    verdict = result.structured_content
    assert not result.is_error and verdict["passed"] and verdict["status"] == "verified"
    assert "print(6 * 7)" in verdict["code"] and records.get_run(verdict["run_id"]).kind == "verify"


def test_bad_arguments_are_tool_errors_naming_what_was_expected():
    assert call("rag_collections").structured_content == {"collections": []}
    missing = call("rag_search", {"collection": "nope", "query": "x"})
    assert missing.is_error and "nope" in missing.content[0].text
    too_many = call("rag_search", {"collection": "nope", "query": "x", "k": 500})
    assert too_many.is_error and too_many.content[0].text.endswith(": k 500: expected 1..50")
    wrong_type = call("rag_search", {"collection": "nope", "query": "x", "k": "many"})
    assert wrong_type.is_error
