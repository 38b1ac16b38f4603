"""Run every bench/*.py script and print one summary table of their SUMMARY lines.

Each bench script prints human text on stderr and, as its last stdout line,
`SUMMARY {"bench": NAME, "rows": [{"metric", "ours", "baseline", "ratio", "target"}]}`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def run_script(script: Path) -> list[dict]:
    print(f"== {script.name}", file=sys.stderr, flush=True)
    result = subprocess.run([sys.executable, str(script)], cwd=BENCH_DIR.parent, stdout=subprocess.PIPE, text=True)
    summaries = [line for line in result.stdout.splitlines() if line.startswith("SUMMARY ")]
    if result.returncode != 0 or not summaries:
        return [
            {
                "bench": script.stem,
                "metric": "FAILED",
                "ours": f"exit {result.returncode}",
                "baseline": "",
                "ratio": "",
                "target": "",
            }
        ]
    summary = json.loads(summaries[-1].removeprefix("SUMMARY "))
    return [{"bench": summary["bench"], **row} for row in summary["rows"]]


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)


def main() -> None:
    scripts = [
        p
        for p in sorted(BENCH_DIR.glob("*.py"))
        if p.name not in ("run_all.py", "__init__.py") and not p.name.startswith("_")
    ]
    if len(sys.argv) > 1:
        scripts = [p for p in scripts if p.stem in sys.argv[1:]]
    rows = [row for script in scripts for row in run_script(script)]
    columns = ["bench", "metric", "ours", "baseline", "ratio", "target"]
    cells = [[fmt(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))


if __name__ == "__main__":
    main()
