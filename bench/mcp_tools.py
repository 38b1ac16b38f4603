"""Tool-call round trip through MCP over stdio vs a built-in tool, both called the way the agent calls them (the
LangChain tool's `invoke`, from `ToolCatalog.build`).

Arms, each timed in the same run: the built-in `calculator` ("2 + 3"), and `add(2, 3)` on an MCP server over stdio,
once on the SDK's own server (testing/mcp_test_server.py, `mcp` MCPServer) and once on the dependency-free one
(testing/mcp_lite_server.py), so the client's share and the server's are apart. A session is kept between calls (as
in an agent run); the first call of each server (start the process, handshake, list) is timed apart. Medians of
--calls calls after --warmup; the machine's load average and CPU model are printed with them.
    python bench/mcp_tools.py [--calls 200]

(Not bench/mcp.py: run as a script, that name would shadow the `mcp` SDK for its own imports.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVERS = {"sdk": ROOT / "testing" / "mcp_test_server.py", "lite": ROOT / "testing" / "mcp_lite_server.py"}


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "loadavg": Path("/proc/loadavg").read_text().split()[:3]}


def timed_ms(call, calls: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("LLMDECK_HOME", tempfile.mkdtemp(prefix="llmdeck-bench-mcp-"))

    from llmdeck.agents.mcp_client import close_all
    from llmdeck.agents.tools import ToolCatalog
    from llmdeck.core.settings import McpServer

    host = machine()
    print(f"machine: {host['cpu']}, {host['cores']} cores, load {' '.join(host['loadavg'])}", file=sys.stderr)
    builtin = ToolCatalog(mcp_servers={}).build(["calculator"])[0]
    assert builtin.invoke({"expression": "2 + 3"}) == "5"
    results = {"builtin": timed_ms(lambda: builtin.invoke({"expression": "2 + 3"}), args.calls, args.warmup)}
    first_ms = {}
    for name, script in SERVERS.items():
        server = McpServer(command=sys.executable, args=[str(script)], timeout_s=60)
        start = time.perf_counter()
        tool = ToolCatalog(mcp_servers={name: server}).build(["add"])[0]
        assert tool.invoke({"a": 2, "b": 3}) == "5"
        first_ms[name] = (time.perf_counter() - start) * 1000
        results[name] = timed_ms(lambda t=tool: t.invoke({"a": 2, "b": 3}), args.calls, args.warmup)
    close_all()
    host_after = machine()["loadavg"]

    medians = {arm: statistics.median(times) for arm, times in results.items()}
    for arm, times in results.items():
        quartiles = statistics.quantiles(times, n=4)
        print(
            f"{arm:8s} median {medians[arm]:8.3f} ms  (IQR {quartiles[0]:.3f}-{quartiles[2]:.3f}, {len(times)} calls)"
            + (f"; first call with start and handshake {first_ms[arm]:.0f} ms" if arm in first_ms else ""),
            file=sys.stderr,
        )
    print(f"load average after: {' '.join(host_after)}", file=sys.stderr)
    load = " ".join(host["loadavg"])
    rows = [
        {
            "metric": f"tool call ms, MCP stdio ({arm} server) vs built-in calculator"
            f" (median of {args.calls}; load {load})",
            "ours": round(medians[arm], 3),
            "baseline": round(medians["builtin"], 3),
            "ratio": round(medians[arm] / medians["builtin"], 1),
            "target": "",
        }
        for arm in SERVERS
    ]
    rows += [
        {
            "metric": f"first MCP call ms ({arm} server: start, handshake, list, call)",
            "ours": round(first_ms[arm]),
            "baseline": "",
            "ratio": "",
            "target": "",
        }
        for arm in SERVERS
    ]
    print("SUMMARY " + json.dumps({"bench": "mcp_tools", "machine": host, "rows": rows}))


if __name__ == "__main__":
    main()
