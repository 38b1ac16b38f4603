"""Does the loop pay off? The embedded SmolLM2-135M runs `llmdeck loop` on the bundled task sets (its own sampled
attempts at the train split, verified, become SFT data and DPO pairs; the tuned model is exported, the gate
promotes it only when its paired 95% interval on the held-out score is above zero, and the current model
collects the next round). The loop itself measures the base, the current and each round's model:

- held-out: tool-choice and answer accuracy without grammar constraints (free text, parsed) and with them,
  verify pass@1 (the first, greedy program), pass within the rounds, mean rounds, and the held-out score (the
  gate's metric);
- transfer, never trained on: HumanEval pass@1 (greedy; `--humaneval-limit N` for the first N problems) and the
  perplexity of a general text (the Apache License text in the huggingface-hub wheel);

each with n and a 95% interval. This script writes the curve as a Markdown table and an SVG plot (a panel per
metric, an error bar per round, accepted rounds green and rejected red) into `--out`, prints each round's stage
times, and ends with the SUMMARY line: the last round's model against the base with the paired difference,
the gate's decision and the current model.

    python bench/loop.py [--rounds 1] [--limit N] [--samples 3] [--eval-limit N] [--humaneval-limit N]
                         [--sft-max-steps N] [--home DIR] [--out DIR] [--threads 1]

`--home DIR` keeps the state (and resumes a run that was interrupted); without it a temp dir is used and removed.
`--home DIR --name NAME --report-only` runs nothing and writes the table and the plot of the rounds measured so
far (for a loop stopped by Ctrl-C when the night ran out: the same command without it resumes the loop).
The table and the plot go to `--out` (default bench/results/: loop-curve.md, loop-curve.svg).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {  # what the issue asks the loop's model to beat the base on
    "held-out score": "current > base",
    "tool-choice accuracy, free": "current > base",
    "answer accuracy, free": ">= 0.60",
    "answer accuracy, constrained": "current > base",
    "verify pass@1 (first program)": "+0.15 over base, interval > 0",
    "humaneval pass@1": "current >= base",
    "text perplexity": "current <= base (not worse elsewhere)",
}
PANEL_W, PANEL_H, MARGIN = 260, 170, 40
COLOURS = {"accepted": "#2a9d3f", "rejected": "#c0392b", None: "#1f5fa8"}


def curve_markdown(rows: list[dict], metrics: list[str]) -> str:
    """The curve as a Markdown table: a row per round (0: the base), `value [low, high]` per metric."""
    from llmdeck.services.loop import curve_table_rows

    cells = curve_table_rows(rows, tuple(metrics))
    header = list(cells[0]) if cells else ["round"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[c]) for c in header) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def curve_svg(rows: list[dict], metrics: list[str], title: str) -> str:
    """A panel per metric: each round's value with its 95% interval as an error bar, joined by a line; a point
    is green when the gate accepted that round, red when it rejected it, blue for the base (round 0)."""
    shown = [m for m in metrics if any(row.get(m) for row in rows)]
    columns = min(3, max(1, len(shown)))
    lines_needed = -(-len(shown) // columns) if shown else 1
    width, height = columns * (PANEL_W + MARGIN) + MARGIN, lines_needed * (PANEL_H + MARGIN + 20) + 50
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif"'
        ' font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{MARGIN}" y="22" font-size="14">{html.escape(title)}</text>',
    ]
    rounds = [row["round"] for row in rows]
    x_max = max(rounds) if rounds else 1
    for index, metric in enumerate(shown):
        left = MARGIN + (index % columns) * (PANEL_W + MARGIN)
        top = 50 + (index // columns) * (PANEL_H + MARGIN + 20)
        points = [(row["round"], row[metric], row.get("gate")) for row in rows if row.get(metric)]
        values = [p[1]["value"] for p in points if p[1].get("value") is not None]
        ends = [v for p in points for v in (p[1].get("low"), p[1].get("high")) if v is not None]
        low, high = (0.0, 1.0) if metric != "text perplexity" else (min(values + ends), max(values + ends))
        if high - low < 1e-9:
            low, high = low - 1, high + 1

        def x(r: float, left: float = left) -> float:
            return left + 10 + (PANEL_W - 20) * (r / x_max if x_max else 0.5)

        def y(v: float, top: float = top, low: float = low, high: float = high) -> float:
            return top + PANEL_H - (v - low) / (high - low) * PANEL_H

        parts.append(f'<rect x="{left}" y="{top}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#999"/>')
        parts.append(f'<text x="{left}" y="{top - 6}">{html.escape(metric)}</text>')
        parts.append(f'<text x="{left - 4}" y="{top + 10}" text-anchor="end">{high:.3g}</text>')
        parts.append(f'<text x="{left - 4}" y="{top + PANEL_H}" text-anchor="end">{low:.3g}</text>')
        for r in rounds:
            parts.append(f'<text x="{x(r):.1f}" y="{top + PANEL_H + 14}" text-anchor="middle">{r}</text>')
        line = " ".join(f"{x(r):.1f},{y(m['value']):.1f}" for r, m, _ in points if m.get("value") is not None)
        parts.append(f'<polyline points="{line}" fill="none" stroke="#1f5fa8" stroke-width="1.5"/>')
        for r, m, gate in points:
            if m.get("value") is None:
                continue
            colour = COLOURS.get(gate, COLOURS[None])
            if m.get("low") is not None and m.get("high") is not None:
                parts.append(
                    f'<line x1="{x(r):.1f}" y1="{y(m["low"]):.1f}" x2="{x(r):.1f}" y2="{y(m["high"]):.1f}"'
                    f' stroke="{colour}" stroke-width="2"/>'
                )
            parts.append(f'<circle cx="{x(r):.1f}" cy="{y(m["value"]):.1f}" r="3.5" fill="{colour}"/>')
    parts.append(
        f'<text x="{MARGIN}" y="{height - 8}">x: round (0 = base); bars: 95% intervals; green accepted, red'
        " rejected by the gate</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
            if line.startswith("Model name")
        ),
        platform.processor(),
    )
    return {"cpu": model, "cores": os.cpu_count(), "loadavg": Path("/proc/loadavg").read_text().split()[:3]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--limit", type=int, help="Train tasks per category collected per round (default: all).")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=0.6)
    parser.add_argument("--eval-limit", type=int, help="Held-out tasks per category (default: all).")
    parser.add_argument("--humaneval-limit", type=int, help="The first N HumanEval problems (default: all 164).")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (1 is fastest on a busy 2-core box).")
    parser.add_argument("--train-threads", type=int)
    parser.add_argument("--sft-epochs", type=float, default=1.0)
    parser.add_argument("--sft-max-steps", type=int)
    parser.add_argument("--preference", default="dpo", choices=["dpo", "orpo", "none"])
    parser.add_argument("--gate-metric")
    parser.add_argument(
        "--hints", action="store_true", help="Hinted agent attempts (the data asks the plain question)."
    )
    parser.add_argument("--name", default="bench")
    parser.add_argument("--home", help="LLMDECK_HOME to use and keep (resumes an interrupted run).")
    parser.add_argument("--out", default="bench/results", help="Where the table and the plot go.")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="Run nothing: write the table and the plot of the loop --name saved in --home (e.g. one stopped by"
        " Ctrl-C after the rounds that fit), its rounds so far.",
    )
    args = parser.parse_args()
    if args.report_only and not args.home:
        parser.error("--report-only needs --home (the LLMDECK_HOME the loop ran in)")
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="llmdeck-bench-loop-"))
    os.environ["LLMDECK_HOME"] = str(home)

    from llmdeck.core.procs import cleanup_on_sigterm
    from llmdeck.services.loop import LoopFinished, curve_rows, run_loop

    config = {
        "name": args.name,
        "rounds": args.rounds,
        "limit": args.limit,
        "samples": args.samples,
        "temperature": args.temperature,
        "eval_limit": args.eval_limit,
        "humaneval_limit": args.humaneval_limit,
        "threads": args.threads,
        "train_threads": args.train_threads,
        "sft_epochs": args.sft_epochs,
        "sft_max_steps": args.sft_max_steps,
        "preference": args.preference,
        "gate_metric": args.gate_metric,
        "hints": args.hints,
    }
    started = time.perf_counter()
    if args.report_only:
        from llmdeck.core.errors import NotFound
        from llmdeck.services.loop_state import load_state

        try:
            state = load_state(args.name)
        except NotFound as exc:
            parser.error(f"--name: {exc}")
        measured = [row["round"] for row in curve_rows(state) if row["round"]]
        wall = sum(float(e.get("seconds") or 0.0) for e in state.rounds if e["round"] in measured)
        # a loop killed without a handler (status still "running") never saved its CPU time
        cpu = state.cpu_seconds if state.status != "running" else None
        write_report(args, state, len(measured), wall, cpu, started)
        return
    loop = run_loop({k: v for k, v in config.items() if v is not None})
    done = None
    shown: dict[str, int] = {}
    try:
        with cleanup_on_sigterm():  # a `kill` saves the loop's state as stopped, with its time, as Ctrl-C does
            for event in loop:
                show(event, shown)
                if isinstance(event, LoopFinished):
                    done = event
    except KeyboardInterrupt:
        raise SystemExit(
            f"stopped: loop {args.name} saved in {home}; the same command resumes it, and --report-only writes"
            " the curve of its rounds so far"
        ) from None
    if done is None or done.status != "completed":
        raise SystemExit(f"the loop did not complete: {loop.state.status} {loop.state.error or ''}")
    write_report(args, loop.state, args.rounds, done.seconds, done.cpu_seconds, started)
    if not args.home:
        shutil.rmtree(home, ignore_errors=True)


def show(event, shown: dict[str, int]) -> None:
    """A stage's end, and every 20th step of its progress, on stderr."""
    from llmdeck.services.loop import StageEnded, StageProgressed

    if isinstance(event, StageEnded):
        print(
            f"[round {event.round}] {event.stage} {event.status} {json.dumps(event.result, default=str)[:300]}",
            file=sys.stderr,
            flush=True,
        )
    elif isinstance(event, StageProgressed) and event.done % 20 == 0 and shown.get(event.stage) != event.done:
        shown[event.stage] = event.done  # a training run reports the same step every second: once
        print(f"  {event.stage} {event.done}/{event.total} {event.detail}", file=sys.stderr, flush=True)


def write_report(args, state, rounds: int, seconds: float, cpu_seconds: float | None, started: float) -> None:
    """The curve's table and plot into --out, the stage times and the SUMMARY line, for `rounds` rounds."""
    from llmdeck.services.eval_report import delta_text
    from llmdeck.services.loop import CURVE_METRICS, current_model, current_reason, curve_rows, stage_times

    base, current = state.rounds[0]["model"], current_model(state)
    curve = curve_rows(state)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    host = machine()
    title = f"llmdeck loop {state.name}: {rounds} round(s), {when}, {host['cpu']} x{host['cores']}"
    (out / "loop-curve.md").write_text(f"{title}\n\n" + curve_markdown(curve, list(CURVE_METRICS)))
    (out / "loop-curve.svg").write_text(curve_svg(curve, list(CURVE_METRICS), title))
    print(curve_markdown(curve, list(CURVE_METRICS)), file=sys.stderr)
    print(f"current model: {current} ({current_reason(state)})", file=sys.stderr)
    for row in stage_times(state):
        print("stage seconds " + json.dumps(row), file=sys.stderr)
    print(f"wrote {out / 'loop-curve.md'} and {out / 'loop-curve.svg'}", file=sys.stderr)

    rows = []
    first, last_curve = (curve[0], curve[-1]) if curve else ({}, {})
    # the curve's last round (a round stopped before its measurement is not on it): its deltas from the base
    last = next((e["stages"] for e in state.rounds if e["round"] == last_curve.get("round")), {})
    evaluated = ((last.get("evaluate") or {}).get("result") or {}).get("report") or {}
    by_metric = {row["metric"]: row for row in evaluated.get("rows", [])}
    newest = last_curve.get("model")  # the last round's model, whatever the gate said of it
    for metric in CURVE_METRICS:
        ours, theirs = last_curve.get(metric), first.get(metric)
        if not ours or not theirs:
            continue
        delta = (by_metric.get(metric, {}).get("deltas") or {}).get(newest)
        rows.append(
            {
                "metric": f"{metric} (n={ours['n']}; {newest} ({last_curve.get('gate')}) vs base; paired delta"
                f" {delta_text(delta)}; current: {current})",
                "ours": ours["value"],
                "baseline": theirs["value"],
                "ratio": round(ours["value"] / theirs["value"], 2) if theirs["value"] else None,
                "target": TARGETS.get(metric, "report"),
            }
        )
    rows.append(
        {
            "metric": f"loop wall minutes ({rounds} round(s); load {' '.join(host['loadavg'])})",
            "ours": round(seconds / 60, 1),
            "baseline": None,
            "ratio": None,
            "target": "< 60 per round",
        }
    )
    rows.append(
        {
            "metric": f"loop CPU minutes ({rounds} round(s))",
            "ours": round(cpu_seconds / 60, 1) if cpu_seconds is not None else None,
            "baseline": None,
            "ratio": None,
            "target": "report",
        }
    )
    print(
        f"total {(time.perf_counter() - started) / 60:.1f} min; last round's model {last_curve.get('model')}",
        file=sys.stderr,
    )
    print("SUMMARY " + json.dumps({"bench": "loop", "base": base, "current": current, "rows": rows}))


if __name__ == "__main__":
    main()
