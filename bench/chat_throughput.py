"""llmdeck chat's code path vs raw llama-cpp-python: decode tokens/s, time to first token, `--help` time.

Same model (the embedded SmolLM2 Q4_1), prompt, threads, context, seed and max tokens; runs are
interleaved and medians reported, since the machine is noisy.
    python bench/chat_throughput.py [--runs 7] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
MESSAGES = [{"role": "user", "content": "Write a short story about a lighthouse keeper who befriends a seagull."}]


def raw_run(llama, max_tokens: int, seed: int) -> tuple[float, float, int]:
    start = time.perf_counter()
    first = None
    tokens = 0
    for chunk in llama.create_chat_completion(messages=MESSAGES, temperature=0.7, top_p=0.95, max_tokens=max_tokens, seed=seed, stream=True):
        if chunk["choices"][0].get("delta", {}).get("content"):
            if first is None:
                first = time.perf_counter()
            tokens += 1
    end = time.perf_counter()
    return first - start, (tokens - 1) / (end - first), tokens


def ours_run(model, max_tokens: int, seed: int) -> tuple[float, float, int]:
    from core.runtime import Sampling
    from tui.commands.chat import _stream_one

    sink, real_stdout = io.StringIO(), sys.stdout
    sys.stdout = sink  # the CLI writes every piece to stdout and flushes: keep that cost, drop the terminal
    try:
        stats = _stream_one(model, MESSAGES, Sampling(temperature=0.7, top_p=0.95, max_tokens=max_tokens, seed=seed), as_json=False)
    finally:
        sys.stdout = real_stdout
    return stats.ttft_s, stats.tokens_per_s, stats.tokens


def help_time(runs: int) -> tuple[float, float]:
    """Median wall time of `llmdeck --help` vs a bare `python -c pass`."""
    def timed(cmd):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - start

    ours = [timed([sys.executable, "-m", "tui", "--help"]) for _ in range(runs)]
    base = [timed([sys.executable, "-c", "pass"]) for _ in range(runs)]
    return statistics.median(ours), statistics.median(base)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    os.environ.setdefault("LLMDECK_HOME", tempfile.mkdtemp(prefix="llmdeck-bench-"))

    from llama_cpp import Llama

    from core.embedded import embedded_chat_model_path
    from core.runtime import load_model

    threads = os.cpu_count() or 1
    model = load_model(None, n_ctx=4096, n_threads=threads)
    raw = Llama(model_path=str(embedded_chat_model_path()), n_ctx=4096, n_threads=threads, n_threads_batch=threads, n_gpu_layers=0, verbose=False)
    raw_run(raw, 8, 0), ours_run(model, 8, 0)  # warm-up both
    raw_stats, our_stats = [], []
    for i in range(args.runs):
        raw_stats.append(raw_run(raw, args.max_tokens, seed=100 + i))
        our_stats.append(ours_run(model, args.max_tokens, seed=100 + i))
        print(f"run {i}: raw {raw_stats[-1][1]:.1f} tok/s ttft {raw_stats[-1][0]*1000:.0f} ms | "
              f"ours {our_stats[-1][1]:.1f} tok/s ttft {our_stats[-1][0]*1000:.0f} ms", file=sys.stderr)
    raw.close()

    raw_tps = statistics.median(s[1] for s in raw_stats)
    our_tps = statistics.median(s[1] for s in our_stats)
    raw_ttft = statistics.median(s[0] for s in raw_stats)
    our_ttft = statistics.median(s[0] for s in our_stats)
    ours_help, python_start = help_time(args.runs)
    print(f"tokens/s  raw {raw_tps:.1f}  ours {our_tps:.1f}  ratio {our_tps / raw_tps:.3f} (target >= 0.97)", file=sys.stderr)
    print(f"TTFT      raw {raw_ttft*1000:.1f} ms  ours {our_ttft*1000:.1f} ms  overhead {(our_ttft-raw_ttft)*1000:+.1f} ms (target <= 50 ms)", file=sys.stderr)
    print(f"--help    {ours_help*1000:.0f} ms (python start {python_start*1000:.0f} ms; target < 500 ms)", file=sys.stderr)
    rows = [
        {"metric": "decode tokens/s (median)", "ours": round(our_tps, 1), "baseline": round(raw_tps, 1), "ratio": round(our_tps / raw_tps, 3), "target": ">= 0.97x"},
        {"metric": "TTFT ms (median)", "ours": round(our_ttft * 1000, 1), "baseline": round(raw_ttft * 1000, 1), "ratio": round(our_ttft / raw_ttft, 3), "target": "overhead <= 50 ms"},
        {"metric": "llmdeck --help ms", "ours": round(ours_help * 1000), "baseline": round(python_start * 1000), "ratio": round(ours_help / python_start, 2), "target": "< 500 ms"},
    ]
    print("SUMMARY " + json.dumps({"bench": "chat_throughput", "rows": rows}))


if __name__ == "__main__":
    main()
