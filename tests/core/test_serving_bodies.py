"""A hostile request body (100k-deep JSON, a 5000-digit integer) reaches the served app unchanged: the router in
front of it neither crashes, nor loads a model for it, nor answers for it (the app answers malformed bodies)."""

from __future__ import annotations

import asyncio

import pytest

from llmdeck.core.serving import ModelPool, ModelRouter


@pytest.mark.parametrize(
    "body",
    [b'{"model": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b'{"model": "m", "max_tokens": ' + b"9" * 5000 + b"}"],
    ids=["100k-deep", "5000-digit"],
)
def test_hostile_bodies_pass_the_model_check_to_the_app(body):
    seen: list[bytes] = []
    loads: list[str] = []

    async def app(scope, receive, send):
        message = await receive()
        seen.append(message["body"])
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
    pool = ModelPool({"m": "settings"}, capacity=1, keep_alive=None, load=loads.append)
    asyncio.run(ModelRouter(app, pool)(scope, receive, send))
    assert seen == [body] and sent[0]["status"] == 400 and loads == []
