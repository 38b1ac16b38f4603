"""The many-models server's parts without llama.cpp: keep-alive parsing, the pool's loading, LRU eviction and
keep-alive unloading, and the router's listing, 404s, key check and embeddings (fake models, a fake app)."""

from __future__ import annotations

import asyncio
import base64
import json
import struct

import pytest

from llmdeck.core.errors import BadInput
from llmdeck.core.serving import (
    EmbeddingModel,
    ModelLoaded,
    ModelPool,
    ModelRouter,
    ModelUnloaded,
    parse_keep_alive,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300.0), ("1h30m", 5400.0), ("45s", 45.0), ("300", 300.0), ("0", 0.0), ("0s", 0.0), ("1.5s", 1.5),
     ("250ms", 0.25), ("-1", None), ("-1m", None), (-1, None), (0, 0.0)],
)  # fmt: skip
def test_keep_alive_takes_ollamas_forms(text, seconds):
    assert parse_keep_alive(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m", "five", "5 m", "inf", "nan", "1e3", "--1"])
def test_a_bad_keep_alive_names_the_flag(text):
    with pytest.raises(BadInput, match=r"^--keep-alive .*: expected a duration like 5m"):
        parse_keep_alive(text)


class FakeLlama:
    def __init__(self, settings):
        self.settings, self.closed = settings, False

    def close(self):
        self.closed = True


def make_pool(names=("a", "b", "c"), capacity=2, keep_alive=None):
    events: list = []
    pool = ModelPool({n: n for n in names}, capacity=capacity, keep_alive=keep_alive, load=FakeLlama,
                     on_event=events.append)  # fmt: skip
    return pool, events


def use(pool, name):
    pool.begin(name)
    llama = pool.acquire(name)
    return llama, pool.end(name)


def test_models_load_on_first_use_and_the_least_recently_used_idle_one_makes_room():
    pool, events = make_pool()
    assert pool.loaded() == [] and pool.name_of(None) == "a"
    a, _ = use(pool, "a")
    use(pool, "b")
    assert use(pool, "a")[0] is a  # warm: the same instance, not reloaded
    use(pool, "c")  # b is the least recently used
    assert sorted(pool.loaded()) == ["a", "c"]
    assert [e for e in events if isinstance(e, ModelUnloaded)] == [ModelUnloaded("b", "evicted")]
    assert [e.name for e in events if isinstance(e, ModelLoaded)] == ["a", "b", "c"]


def test_a_busy_model_is_never_evicted_and_the_pool_shrinks_back_when_it_is_free():
    pool, events = make_pool(capacity=1)
    pool.begin("a")
    a = pool.acquire("a")
    use(pool, "b")  # a is mid-request: b loads beside it
    assert not a.closed and "a" in pool.loaded()
    pool.end("a")
    assert len(pool.loaded()) == 1 and ModelUnloaded("b", "evicted") in events


def test_keep_alive_zero_unloads_after_the_request_and_a_duration_after_its_expiry():
    pool, events = make_pool(keep_alive=0)
    a, token = use(pool, "a")
    assert token is None and a.closed and pool.loaded() == [] and ModelUnloaded("a", "keep-alive") in events
    pool, events = make_pool(keep_alive=60)
    a, token = use(pool, "a")
    assert token is not None and pool.status("a")["expires_at"]
    _, second = use(pool, "a")  # a request since: the first expiry is void
    pool.expire("a", token)
    assert not a.closed
    pool.expire("a", second)
    assert a.closed and pool.status("a") == {"loaded": False, "expires_at": None}


def test_never_unloading_keeps_idle_models_until_the_pool_is_freed():
    pool, _ = make_pool(keep_alive=None)
    a, token = use(pool, "a")
    assert token is None and not a.closed
    pool.free()
    assert a.closed and pool.loaded() == []


# -- the router ------------------------------------------------------------------------------------
def embed(texts):
    return [[float(len(t)), 1.0, -0.5] for t in texts], sum(len(t.split()) for t in texts)


def call(router, method, path, body=None, key=None):
    payload = json.dumps(body).encode() if body is not None else b""
    headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message):
        sent.append(message)

    async def run():
        await router(scope, receive, send)

    asyncio.run(run())
    return sent[0]["status"], json.loads(sent[1]["body"] or b"null")


def make_router(api_key=None, keep_alive=None):
    pool, _ = make_pool(keep_alive=keep_alive)
    served: list[str | None] = []

    async def app(scope, receive, send):
        request = json.loads((await receive())["body"])
        served.append(request.get("model"))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps({"loaded": pool.loaded()}).encode()})

    router = ModelRouter(app, pool, [EmbeddingModel("all-MiniLM-L6-v2", embed)], api_key)
    return router, pool, served


def test_requests_reach_the_app_with_their_model_loaded_and_unknown_models_get_the_openai_404():
    router, pool, served = make_router()
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    assert call(router, "POST", "/v1/chat/completions", {"model": "b", **chat}) == (200, {"loaded": ["b"]})
    assert call(router, "POST", "/v1/chat/completions", chat) == (200, {"loaded": ["a", "b"]})  # the default
    status, error = call(router, "POST", "/v1/chat/completions", {"model": "gpt-4o", **chat})
    assert status == 404 and error["error"]["code"] == "model_not_found" and error["error"]["param"] == "model"
    assert error["error"]["type"] == "invalid_request_error" and "gpt-4o" in error["error"]["message"]
    assert served == ["b", None]
    status, listing = call(router, "GET", "/v1/models")
    assert [(m["id"], m["kind"], m.get("loaded")) for m in listing["data"]] == [
        ("a", "chat", True), ("b", "chat", True), ("c", "chat", False), ("all-MiniLM-L6-v2", "embedding", None)
    ]  # fmt: skip
    assert call(router, "GET", "/v1/models/c")[1]["loaded"] is False
    assert call(router, "GET", "/v1/models/nope")[0] == 404


def test_embeddings_come_in_the_openai_shape_as_floats_or_base64():
    router, pool, served = make_router()
    status, doc = call(router, "POST", "/v1/embeddings", {"model": "all-MiniLM-L6-v2", "input": ["ab", "a b c"]})
    assert status == 200 and doc["object"] == "list" and doc["model"] == "all-MiniLM-L6-v2"
    assert [d["embedding"] for d in doc["data"]] == [[2.0, 1.0, -0.5], [5.0, 1.0, -0.5]]
    assert [d["index"] for d in doc["data"]] == [0, 1] and doc["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    status, doc = call(router, "POST", "/v1/embeddings", {"input": "abc", "encoding_format": "base64"})
    assert struct.unpack("<3f", base64.b64decode(doc["data"][0]["embedding"])) == (3.0, 1.0, -0.5)
    for body, code in [
        ({"model": "a", "input": "x"}, 400),  # a chat model
        ({"model": "ghost", "input": "x"}, 404),
        ({"model": "all-MiniLM-L6-v2", "input": [1, 2, 3]}, 400),
        ({"model": "all-MiniLM-L6-v2", "input": []}, 400),
        ({"model": "all-MiniLM-L6-v2", "input": "x", "dimensions": 1024}, 400),
        ({"model": "all-MiniLM-L6-v2", "input": "x", "encoding_format": "hex"}, 400),
    ]:
        status, error = call(router, "POST", "/v1/embeddings", body)
        assert status == code and error["error"]["message"], body
    assert pool.loaded() == [] and served == []


def test_the_key_guards_every_route_in_the_openai_error_shape():
    router, _, _ = make_router(api_key="k")
    status, error = call(router, "GET", "/v1/models")
    assert status == 401 and error["error"]["code"] == "invalid_api_key"
    assert call(router, "POST", "/v1/embeddings", {"input": "x"}, key="wrong")[0] == 401
    assert call(router, "POST", "/v1/chat/completions", {"model": "ghost"})[0] == 401  # the key before the model
    assert call(router, "GET", "/v1/models", key="k")[0] == 200


def test_keep_alive_zero_through_the_router_unloads_when_the_response_is_sent():
    router, pool, _ = make_router(keep_alive=0)
    assert call(router, "POST", "/v1/completions", {"model": "c", "prompt": "x"}) == (200, {"loaded": ["c"]})
    assert pool.loaded() == []
