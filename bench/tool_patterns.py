"""The tools' argument patterns alone, before any training (issue 24, item 5): the embedded SmolLM2-135M answers
held-out tool questions greedily under the grammar twice, once with the argument patterns in the grammar
(`decoding.ARGUMENT_PATTERNS`, the default) and once without (the grammar bounds only the JSON's shape, as before
the patterns); the model, prompt, tools and tasks are the same. Both arms are ordinary `llmdeck bench agents`
sweeps (`services.collect`, split heldout, one greedy sample, constrained), recorded in a throwaway LLMDECK_HOME.

Reported per arm: tool-choice accuracy (first action), answer accuracy and both together (`passed`), each with
its Wilson 95% interval (`services.eval_report`), and the paired difference with-patterns minus without, with a
paired bootstrap 95% interval; then the same per family, the seconds per arm, the load average and the CPU.

By default the questions are the held-out ones of the families whose tools carry patterns (arithmetic and units:
the calculator; files: the files tool), the rest being decoded identically in both arms unless the model reaches
for one of those tools. `--families all` runs every held-out question (about 130: an hour and more on 2 cores).

    python bench/tool_patterns.py [--families arithmetic,units,files] [--limit N] [--threads 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARMS = ("without patterns", "with patterns")
METRICS = (("tool-choice accuracy", "tool_ok"), ("answer accuracy", "correct"), ("passed (both)", "passed"))


def heldout_subset(families: list[str] | None, limit: int | None, out: Path) -> tuple[Path, list[dict]]:
    """The bundled held-out agent questions of `families` (None: all), at most `limit` per family, written to `out`
    with their fixture folders made absolute (the sweep reads them from there)."""
    from llmdeck.agents.task_sets import DATA_DIR, bundled

    rows = [json.loads(line) for line in bundled("agent").read_text(encoding="utf-8").splitlines()]
    chosen: list[dict] = []
    for row in rows:
        if row["split"] != "heldout" or (families and row["category"] not in families):
            continue
        if limit and sum(r["category"] == row["category"] for r in chosen) >= limit:
            continue
        for key in ("workspace", "corpus"):
            if key in row:
                row[key] = str((DATA_DIR / row[key]).resolve())
        chosen.append(row)
    out.write_text("".join(json.dumps(row) + "\n" for row in chosen), encoding="utf-8")
    return out, chosen


def sweep(path: Path, collection: str, patterns: bool, n_threads: int | None) -> tuple[dict[str, dict], float]:
    """One arm: every task once, greedy, constrained; its verdicts by task id and its seconds."""
    from llmdeck.agents import decoding
    from llmdeck.services.collect import AttemptRecorded, collect

    decoding.ARGUMENT_PATTERNS = patterns
    started = time.perf_counter()
    options = {"split": "heldout", "temperature": 0.0, "samples": 1, "constrained": True, "max_steps": 4}
    verdicts = {}
    try:
        for event in collect(path, "agent", options=options, collection=collection, n_threads=n_threads):
            if isinstance(event, AttemptRecorded):
                verdicts[event.task_id] = event.verdict
                print(
                    f"  [{'on' if patterns else 'off'}] {event.done}/{event.total} {event.task_id}:"
                    f" {'pass' if event.passed else 'fail'}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        decoding.ARGUMENT_PATTERNS = True
    return verdicts, time.perf_counter() - started


def compare(arms: dict[str, dict[str, dict]], task_ids: list[str]) -> list[dict]:
    from llmdeck.services.eval_report import paired_delta, rate

    rows = []
    for name, key in METRICS:
        off, on = (rate({t: float(arms[arm][t][key]) for t in task_ids if t in arms[arm]}) for arm in ARMS)
        rows.append(
            {
                "metric": name,
                "n": on.n,
                ARMS[0]: off.to_dict(),
                ARMS[1]: on.to_dict(),
                "difference": paired_delta(off, on).to_dict(),
            }
        )
    return rows


def text(metric: dict) -> str:
    return f"{metric['value']:.3f} [{metric['low']:.2f}, {metric['high']:.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default="arithmetic,units,files", help="comma-separated, or 'all'")
    parser.add_argument("--limit", type=int, help="at most this many held-out questions per family")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (default 2)")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    families = None if args.families == "all" else [f.strip() for f in args.families.split(",") if f.strip()]
    with tempfile.TemporaryDirectory(prefix="llmdeck-tool-patterns-") as tmp:
        os.environ["LLMDECK_HOME"] = str(Path(tmp) / "home")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        path, chosen = heldout_subset(families, args.limit, Path(tmp) / "heldout.jsonl")
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        arms, seconds = {}, {}
        for arm, patterns in zip(ARMS, (False, True)):
            arms[arm], seconds[arm] = sweep(path, f"tool-patterns-{int(patterns)}", patterns, args.threads)
        load_after = Path("/proc/loadavg").read_text().split()[:3]
    ids = [row["id"] for row in chosen]
    by_family = {}
    for family in sorted({row["category"] for row in chosen}):
        members = [row["id"] for row in chosen if row["category"] == family]
        by_family[family] = {arm: sum(arms[arm][t]["passed"] for t in members) for arm in ARMS} | {"n": len(members)}
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": "embedded SmolLM2-135M-Instruct (greedy, constrained, max 4 steps)",
        "tasks": f"bundled held-out agent questions, families: {args.families}, limit {args.limit}",
        "rows": compare(arms, ids),
        "passed_by_family": by_family,
        "seconds": {arm: round(s, 1) for arm, s in seconds.items()},
        "loadavg": {"before": load_before, "after": load_after},
        "cpu": _cpu_model(),
        "answers": {t: {arm: arms[arm][t].get("answer") for arm in ARMS} for t in ids},
    }
    print(f"{len(ids)} held-out questions ({args.families}); {report['cpu']}; load {load_before} -> {load_after}")
    print(f"{'metric':<22} {ARMS[0]:<22} {ARMS[1]:<22} difference (paired bootstrap 95%)")
    for row in report["rows"]:
        d = row["difference"]
        print(
            f"{row['metric']:<22} {text(row[ARMS[0]]):<22} {text(row[ARMS[1]]):<22} "
            f"{d['value']:+.3f} [{d['low']:+.2f}, {d['high']:+.2f}]"
        )
    for family, counts in by_family.items():
        print(f"  {family:<12} passed {counts[ARMS[0]]}/{counts['n']} -> {counts[ARMS[1]]}/{counts['n']}")
    print(f"seconds: {report['seconds']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def _cpu_model() -> str:
    try:
        found = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        name = next((line.split(":", 1)[1].strip() for line in found.splitlines() if "Model name" in line), "")
    except OSError:
        name = ""
    return f"{name or platform.processor()}, {os.cpu_count()} cores"


if __name__ == "__main__":
    sys.exit(main())
