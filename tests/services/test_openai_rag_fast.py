"""The rag:COLLECTION layer of the OpenAI endpoint in front of a stand-in server app (fast: no model, no store)."""

from __future__ import annotations

import json

import httpx
import pytest

from llmdeck.services.openai_rag import RagEndpoint, _conversation, sources_block


async def downstream(scope, receive, send):
    """A stand-in for llama-cpp-python's app: lists one model, echoes chat bodies."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/v1/models":
        payload = {"object": "list", "data": [{"id": "base", "object": "model", "owned_by": "me", "permissions": []}]}
    else:
        payload = {"echo": json.loads(body)}
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


def client(api_key=None, complete=None) -> httpx.AsyncClient:
    app = RagEndpoint(downstream, ["docs"], model=None, api_key=api_key, complete=complete)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_models_list_gains_the_rag_models():
    async with client() as http:
        listing = (await http.get("/v1/models")).json()
    assert [m["id"] for m in listing["data"]] == ["base", "rag:docs"]


async def test_other_models_pass_through_with_their_body():
    request = {"model": "base", "messages": [{"role": "user", "content": "hi"}]}
    async with client(api_key="k") as http:
        answer = (await http.post("/v1/chat/completions", json=request)).json()
    assert answer == {"echo": request}  # the downstream app applies its own key rule


async def test_wrong_key_unknown_collection_and_bad_messages_are_refused():
    ask = {"model": "rag:docs", "messages": [{"role": "user", "content": "q"}]}
    async with client(api_key="right", complete=lambda *a: pytest.fail("must not answer")) as http:
        wrong = await http.post("/v1/chat/completions", json=ask, headers={"Authorization": "Bearer wrong"})
        missing = await http.post("/v1/chat/completions", json=ask)
        unknown = await http.post(
            "/v1/chat/completions", json={**ask, "model": "rag:nope"}, headers={"Authorization": "Bearer right"}
        )
        bad = await http.post(
            "/v1/chat/completions",
            headers={"Authorization": "Bearer right"},
            json={**ask, "messages": [{"role": "assistant", "content": "x"}]},
        )
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert unknown.status_code == 404 and "served: rag:docs" in unknown.json()["error"]["message"]
    assert bad.status_code == 400 and "last message to be from the user" in bad.json()["error"]["message"]


async def test_a_rag_request_is_answered_from_its_collection_with_the_conversation():
    seen = {}

    def fake_completion(model_id, collection, model, prompt, history, options):
        seen.update(collection=collection, prompt=prompt, history=history, options=options)
        return {"model": model_id, "choices": [{"message": {"content": "ok"}}], "sources": []}

    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    async with client(complete=fake_completion) as http:
        answer = (
            await http.post("/v1/chat/completions", json={"model": "rag:docs", "messages": messages, "max_tokens": 9})
        ).json()
    assert answer["model"] == "rag:docs"
    assert seen["collection"] == "docs" and seen["prompt"] == "c" and seen["options"]["max_tokens"] == 9
    assert seen["history"] == [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]


def test_sources_block_numbers_each_source():
    block = sources_block([{"n": 1, "source": "a.md", "chunk": 0}, {"n": 2, "source": "b.txt", "chunk": None}])
    assert block == "\n\nSources:\n[1] a.md (chunk 0)\n[2] b.txt"
    assert sources_block([]) == ""
    with pytest.raises(ValueError, match="non-empty list"):
        _conversation([])
