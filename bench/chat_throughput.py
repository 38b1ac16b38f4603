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

MESSAGES = [{"role": "user", "content": "Write a short story about a lighthouse keeper who befriends a seagull."}]


def raw_run(llama, max_tokens: int, seed: int) -> tuple[float, float, int]:
    """Plain llama-cpp-python: stream the answer; tokens counted by the tokenizer, like llmdeck's stats."""
    start = time.perf_counter()
    first, pieces = None, []
    for chunk in llama.create_chat_completion(
        messages=MESSAGES, temperature=0.7, top_p=0.95, max_tokens=max_tokens, seed=seed, stream=True
    ):
        text = chunk["choices"][0].get("delta", {}).get("content")
        if text:
            first = first or time.perf_counter()
            pieces.append(text)
    end = time.perf_counter()
    tokens = len(llama.tokenize("".join(pieces).encode(), add_bos=False, special=True))
    return first - start, (tokens - 1) / (end - first), tokens


def ours_run(max_tokens: int, seed: int) -> tuple[float, float, int]:
    """The CLI's path: `llmdeck.cli.chat.answer` (services.chat, every piece written to stdout and flushed)."""
    from llmdeck.cli.chat import answer
    from llmdeck.core.runtime import Sampling

    sink, real_stdout = io.StringIO(), sys.stdout
    sys.stdout = sink  # keep the CLI's write-and-flush cost, drop the terminal
    start = time.perf_counter()
    try:
        response = answer(
            MESSAGES[0]["content"],
            False,
            sampling=Sampling(temperature=0.7, top_p=0.95, max_tokens=max_tokens, seed=seed),
            n_threads=os.cpu_count() or 1,
        )
    finally:
        sys.stdout = real_stdout
    stats = response.stats
    # time to first token from the call (store lookup and prompt budgeting included), decode rate as measured
    return stats.ttft_s + _setup_s(start, stats), stats.tokens_per_s, stats.tokens


def _setup_s(start: float, stats) -> float:
    """What `answer` spent before llama.cpp was called: wall time minus the generation's own time."""
    return max(0.0, (time.perf_counter() - start) - stats.total_s)


def help_time(runs: int) -> tuple[float, float]:
    """Median wall time of `llmdeck --help` vs a bare `python -c pass`."""

    def timed(cmd):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - start

    ours = [timed([sys.executable, "-m", "llmdeck.cli", "--help"]) for _ in range(runs)]
    base = [timed([sys.executable, "-c", "pass"]) for _ in range(runs)]
    return statistics.median(ours), statistics.median(base)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    os.environ.setdefault("LLMDECK_HOME", tempfile.mkdtemp(prefix="llmdeck-bench-"))

    from llama_cpp import Llama

    from llmdeck.core.embedded import embedded_chat_model_path
    from llmdeck.core.llama_backend import prepare_llama_cpp
    from llmdeck.core.runtime import LoadOptions

    prepare_llama_cpp()  # both sides load with the same llama.cpp buffer types (no AMX where it crashes)
    threads = os.cpu_count() or 1
    options = LoadOptions.from_settings(n_threads=threads)
    # the baseline loads the model the way llmdeck does (same context, threads and GPU offload)
    raw = Llama(
        model_path=str(embedded_chat_model_path()),
        n_ctx=options.n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        n_gpu_layers=options.n_gpu_layers,
        verbose=False,
    )
    raw_run(raw, 8, 0), ours_run(8, 0)  # warm-up both
    raw_stats, our_stats = [], []
    for i in range(args.runs):
        raw_stats.append(raw_run(raw, args.max_tokens, seed=100 + i))
        our_stats.append(ours_run(args.max_tokens, seed=100 + i))
        print(
            f"run {i}: raw {raw_stats[-1][1]:.1f} tok/s ttft {raw_stats[-1][0] * 1000:.0f} ms | "
            f"ours {our_stats[-1][1]:.1f} tok/s ttft {our_stats[-1][0] * 1000:.0f} ms",
            file=sys.stderr,
        )
    raw.close()

    raw_tps = statistics.median(s[1] for s in raw_stats)
    our_tps = statistics.median(s[1] for s in our_stats)
    raw_ttft = statistics.median(s[0] for s in raw_stats)
    our_ttft = statistics.median(s[0] for s in our_stats)
    ours_help, python_start = help_time(args.runs)
    print(
        f"tokens/s  raw {raw_tps:.1f}  ours {our_tps:.1f}  ratio {our_tps / raw_tps:.3f} (target >= 0.97)",
        file=sys.stderr,
    )
    print(
        f"TTFT      raw {raw_ttft * 1000:.1f} ms  ours {our_ttft * 1000:.1f} ms  "
        f"overhead {(our_ttft - raw_ttft) * 1000:+.1f} ms (target <= 50 ms)",
        file=sys.stderr,
    )
    print(
        f"--help    {ours_help * 1000:.0f} ms (python start {python_start * 1000:.0f} ms; target < 500 ms)",
        file=sys.stderr,
    )
    rows = [
        {
            "metric": "decode tokens/s (median)",
            "ours": round(our_tps, 1),
            "baseline": round(raw_tps, 1),
            "ratio": round(our_tps / raw_tps, 3),
            "target": ">= 0.97x",
        },
        {
            "metric": "TTFT ms (median)",
            "ours": round(our_ttft * 1000, 1),
            "baseline": round(raw_ttft * 1000, 1),
            "ratio": round(our_ttft / raw_ttft, 3),
            "target": "overhead <= 50 ms",
        },
        {
            "metric": "llmdeck --help ms",
            "ours": round(ours_help * 1000),
            "baseline": round(python_start * 1000),
            "ratio": round(ours_help / python_start, 2),
            "target": "< 500 ms",
        },
    ]
    print("SUMMARY " + json.dumps({"bench": "chat_throughput", "rows": rows}))


if __name__ == "__main__":
    main()
