"""`llmdeck serve` with two models in a one-model cache: a request to a cold model (evicted, loads first) vs one to a
warm model, and that cold request vs a plain in-process `llama_cpp.Llama(...)` load plus its first chat.

One server (the embedded SmolLM2 under two store names, --max-loaded 1, --keep-alive -1); each round asks A, A, B,
B: the first request to each model is cold (the other one was evicted), the second warm. Same prompt, greedy,
8 tokens. Medians over the rounds; the machine is noisy.
    python bench/serve.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def timed_chat(base: str, model: str) -> float:
    start = time.perf_counter()
    post(f"{base}/chat/completions", {"model": model, "messages": QUESTION, "temperature": 0, "max_tokens": 8})
    return time.perf_counter() - start


def plain_cold_s(path: str, runs: int) -> float:
    """A bare llama-cpp-python load of the same file (same context and threads) and its first chat, no server."""
    from llama_cpp import Llama

    from llmdeck.core.llama_backend import prepare_llama_cpp

    prepare_llama_cpp()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        llama = Llama(model_path=path, n_ctx=2048, n_threads=os.cpu_count() or 1, verbose=False)
        llama.create_chat_completion(messages=QUESTION, temperature=0, max_tokens=8)
        times.append(time.perf_counter() - start)
        llama.close()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="llmdeck-bench-serve-")
    env = {**os.environ, "LLMDECK_HOME": home, "HF_HUB_OFFLINE": "1"}
    os.environ["LLMDECK_HOME"] = home
    from llmdeck.core.embedded import embedded_chat_model_path
    from llmdeck.core.settings import update_settings
    from llmdeck.core.store import ModelStore

    gguf = str(embedded_chat_model_path())
    ModelStore().register(embedded_chat_model_path(), name="bench-b")
    update_settings(n_ctx=2048)
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    server = subprocess.Popen(
        [sys.executable, "-m", "llmdeck.cli", "serve", "-m", "smollm2-135m-instruct", "-m", "bench-b",
         "--max-loaded", "1", "--keep-alive", "-1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    cold, warm = [], []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/models", timeout=5).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.3)
        timed_chat(base, "bench-b")  # first-ever request: one-time costs (page cache, chat template) out of the way
        for _ in range(args.rounds):
            for model in ("smollm2-135m-instruct", "bench-b"):
                cold.append(timed_chat(base, model))
                warm.append(timed_chat(base, model))
    finally:
        server.terminate()
        server.wait(timeout=30)
    plain = plain_cold_s(gguf, args.rounds)
    cold_ms, warm_ms = statistics.median(cold) * 1000, statistics.median(warm) * 1000
    with open("/proc/loadavg") as loadavg:
        load = loadavg.read().split()[:3]
    print(
        f"cold {cold_ms:.0f} ms, warm {warm_ms:.0f} ms (median of {len(cold)}); a plain Llama() load and first chat"
        f" {plain * 1000:.0f} ms; load average {' '.join(load)}",
        file=sys.stderr,
    )
    rows = [
        {
            "metric": "first request ms, cold model (baseline: warm)",
            "ours": round(cold_ms),
            "baseline": round(warm_ms),
            "ratio": round(cold_ms / warm_ms, 2),
            "target": "cold - warm ~ one model load",
        },
        {
            "metric": "cold request ms (baseline: plain Llama() load + first chat)",
            "ours": round(cold_ms),
            "baseline": round(plain * 1000),
            "ratio": round(cold_ms / (plain * 1000), 2),
            "target": "near 1x (where the rest goes is open)",
        },
    ]
    print("SUMMARY " + json.dumps({"bench": "serve", "rows": rows}))


if __name__ == "__main__":
    main()
