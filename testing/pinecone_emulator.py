"""A local emulator of the Pinecone REST API, enough for the official client and langchain-pinecone.

Control plane (one server): POST/GET /indexes, GET/DELETE /indexes/{name}. Each index gets its own
data-plane server on another loopback port (like Pinecone's per-index host): POST /vectors/upsert,
POST /query, GET /vectors/fetch, POST /vectors/delete, POST /describe_index_stats. Vectors live in
memory; cosine/dotproduct/euclidean scoring with numpy; metadata filters support $eq/$ne/$in and
plain equality. Run it as a dev tool: `python -m rag.pinecone_emulator --port 5081`.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class _Index:
    def __init__(self, name: str, dimension: int, metric: str, spec: dict):
        self.name, self.dimension, self.metric, self.spec = name, dimension, metric, spec
        self.namespaces: dict[str, dict[str, dict]] = {}
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer  # set by the emulator once the index's handler class exists

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def model(self) -> dict:
        return {
            "name": self.name,
            "dimension": self.dimension,
            "metric": self.metric,
            "host": self.host,
            "spec": self.spec,
            "status": {"ready": True, "state": "Ready"},
            "deletion_protection": "disabled",
            "vector_type": "dense",
            "tags": None,
        }


class _Handler(BaseHTTPRequestHandler):
    emulator: PineconeEmulator
    index: _Index | None = None

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, status: int, body: dict | None = None) -> None:
        data = json.dumps(body if body is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._reply(status, {"error": {"code": code, "message": message}, "status": status})

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def _authorized(self) -> bool:
        if not self.headers.get("Api-Key"):
            self._error(401, "UNAUTHENTICATED", "missing Api-Key header")
            return False
        return True

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_DELETE(self):
        self._route("DELETE")

    def _route(self, method: str) -> None:
        if not self._authorized():
            return
        url = urlparse(self.path)
        try:
            if self.index is None:
                self.emulator.control(self, method, url.path)
            else:
                self.emulator.data(self, self.index, method, url.path, parse_qs(url.query))
        except (ValueError, KeyError, TypeError) as exc:
            self._error(400, "INVALID_ARGUMENT", f"{type(exc).__name__}: {exc}")


class PineconeEmulator:
    """Start with `.start()`; `.url` is the control-plane host to give the client."""

    def __init__(self, port: int = 0):
        self.indexes: dict[str, _Index] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path), for tests
        handler = type("ControlHandler", (_Handler,), {"emulator": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> PineconeEmulator:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for index in list(self.indexes.values()):
            index.close()
        self.server.shutdown()
        self.server.server_close()

    # -- control plane -------------------------------------------------------------------------------
    def control(self, handler: _Handler, method: str, path: str) -> None:
        self.requests.append((method, path))
        parts = [p for p in path.split("/") if p]
        if parts == ["indexes"] and method == "GET":
            return handler._reply(200, {"indexes": [i.model() for i in self.indexes.values()]})
        if parts == ["indexes"] and method == "POST":
            return self._create(handler, handler._body())
        if len(parts) == 2 and parts[0] == "indexes":
            index = self.indexes.get(parts[1])
            if index is None:
                return handler._error(404, "NOT_FOUND", f"Resource {parts[1]} not found")
            if method == "GET":
                return handler._reply(200, index.model())
            if method == "DELETE":
                del self.indexes[parts[1]]
                threading.Thread(target=index.close).start()
                return handler._reply(202, {})
        handler._error(404, "NOT_FOUND", f"{method} {path} is not emulated")

    def _create(self, handler: _Handler, body: dict) -> None:
        name, dimension = body["name"], int(body["dimension"])
        if name in self.indexes:
            return handler._error(409, "ALREADY_EXISTS", f"Resource {name} already exists")
        if "serverless" not in (body.get("spec") or {}):
            return handler._error(400, "INVALID_ARGUMENT", "only serverless specs are emulated")
        index = _Index(name, dimension, body.get("metric", "cosine"), body["spec"])
        index_handler = type("IndexHandler", (_Handler,), {"emulator": self, "index": index})
        index.server = ThreadingHTTPServer(("127.0.0.1", 0), index_handler)
        threading.Thread(target=index.server.serve_forever, daemon=True).start()
        self.indexes[name] = index
        handler._reply(201, index.model())

    # -- data plane ----------------------------------------------------------------------------------
    def data(self, handler: _Handler, index: _Index, method: str, path: str, params: dict) -> None:
        self.requests.append((method, path))
        if path == "/vectors/upsert" and method == "POST":
            body = handler._body()
            vectors = body["vectors"]
            for vector in vectors:
                if len(vector["values"]) != index.dimension:
                    return handler._error(
                        400,
                        "INVALID_ARGUMENT",
                        f"Vector dimension {len(vector['values'])} does not match "
                        f"the dimension of the index {index.dimension}",
                    )
            with index.lock:
                space = index.namespaces.setdefault(body.get("namespace", ""), {})
                for vector in vectors:
                    space[vector["id"]] = {
                        "id": vector["id"],
                        "values": vector["values"],
                        "metadata": vector.get("metadata") or {},
                    }
            return handler._reply(200, {"upsertedCount": len(vectors)})
        if path == "/query" and method == "POST":
            return handler._reply(200, self._query(index, handler._body()))
        if path == "/vectors/fetch" and method == "GET":
            space = index.namespaces.get((params.get("namespace") or [""])[0], {})
            found = {i: space[i] for i in params.get("ids", []) if i in space}
            return handler._reply(
                200, {"vectors": found, "namespace": (params.get("namespace") or [""])[0], "usage": {"readUnits": 1}}
            )
        if path == "/vectors/delete" and method == "POST":
            body = handler._body()
            with index.lock:
                space = index.namespaces.setdefault(body.get("namespace", ""), {})
                if body.get("deleteAll"):
                    space.clear()
                for vector_id in body.get("ids") or []:
                    space.pop(vector_id, None)
                for vector_id in [
                    i for i, v in space.items() if body.get("filter") and _matches(v["metadata"], body["filter"])
                ]:
                    space.pop(vector_id)
            return handler._reply(200, {})
        if path == "/describe_index_stats" and method in ("POST", "GET"):
            namespaces = {ns: {"vectorCount": len(v)} for ns, v in index.namespaces.items() if v}
            return handler._reply(
                200,
                {
                    "namespaces": namespaces,
                    "dimension": index.dimension,
                    "indexFullness": 0.0,
                    "totalVectorCount": sum(n["vectorCount"] for n in namespaces.values()),
                },
            )
        handler._error(404, "NOT_FOUND", f"{method} {path} is not emulated")

    def _query(self, index: _Index, body: dict) -> dict:
        import numpy as np

        namespace = body.get("namespace", "")
        space = index.namespaces.get(namespace, {})
        vector = body.get("vector")
        if vector is None and body.get("id"):
            vector = space[body["id"]]["values"]
        with index.lock:
            candidates = [
                v for v in space.values() if not body.get("filter") or _matches(v["metadata"], body["filter"])
            ]
        matches = []
        if candidates:
            matrix = np.asarray([v["values"] for v in candidates], dtype=np.float32)
            query = np.asarray(vector, dtype=np.float32)
            if index.metric == "cosine":
                scores = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query) + 1e-12)
            elif index.metric == "dotproduct":
                scores = matrix @ query
            else:
                scores = -np.linalg.norm(matrix - query, axis=1)
            for position in np.argsort(-scores)[: int(body.get("topK", 10))]:
                hit = candidates[position]
                match = {"id": hit["id"], "score": float(scores[position]), "values": []}
                if body.get("includeValues"):
                    match["values"] = hit["values"]
                if body.get("includeMetadata"):
                    match["metadata"] = hit["metadata"]
                matches.append(match)
        return {"matches": matches, "namespace": namespace, "usage": {"readUnits": 1}}


def _matches(metadata: dict, condition: dict) -> bool:
    for key, expected in condition.items():
        if key == "$and":
            if not all(_matches(metadata, c) for c in expected):
                return False
            continue
        value = metadata.get(key)
        if isinstance(expected, dict):
            for op, operand in expected.items():
                ok = {
                    "$eq": value == operand,
                    "$ne": value != operand,
                    "$in": value in operand if op == "$in" else False,
                    "$nin": value not in operand if op == "$nin" else False,
                }.get(op)
                if ok is None:
                    raise ValueError(f"filter operator {op} is not emulated")
                if not ok:
                    return False
        elif value != expected:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5081)
    emulator = PineconeEmulator(parser.parse_args().port)
    print(f"pinecone emulator on {emulator.url} (PINECONE_HOST={emulator.url} PINECONE_API_KEY=any)", flush=True)
    emulator.server.serve_forever()


if __name__ == "__main__":
    main()
