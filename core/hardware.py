"""What the machine's CPU can do fast; shared by training (frozen-base dtype) and RAG (embedding precision).

bf16 pays off on a CPU only with native bf16 instructions (AVX512_BF16 or AMX on x86): elsewhere oneDNN
emulates it and bf16 matmuls run ~4x slower than fp32, even where
`torch.ops.mkldnn._is_mkldnn_bf16_supported()` says True (it only needs AVX512). So the CPU's own flags
decide; where there are none to read (not Linux/x86), a one-time bf16-vs-fp32 matmul benchmark, cached per
machine under LLMDECK_HOME, decides.
"""

from __future__ import annotations

import functools
import json
import platform
from pathlib import Path

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")
BENCH_CACHE_FILE = "cpu_bf16.json"
BF16_SPEEDUP_NEEDED = 1.2  # bf16 must beat fp32 by this much to be worth the precision loss


def cpuinfo_text() -> str | None:
    try:
        return CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _cpuinfo_field(text: str, name: str) -> str | None:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def cpu_model_name() -> str:
    """The CPU's marketing name ('AMD EPYC 9R14'), for reports of measured numbers."""
    text = cpuinfo_text()
    name = _cpuinfo_field(text, "model name") if text else None
    return name or platform.processor() or platform.machine() or "unknown CPU"


def native_bf16_from_cpuinfo(text: str | None) -> bool | None:
    """True/False from x86 flags in /proc/cpuinfo text; None when the text has no x86 flags line (decide otherwise)."""
    flags = _cpuinfo_field(text, "flags") if text else None
    if flags is None:
        return None
    present = set(flags.split())
    return any(flag in present for flag in NATIVE_BF16_FLAGS)


def bf16_matmul_speedup(size: int = 512, repeats: int = 6) -> float:
    """fp32 time / bf16 time of a square matmul (best of `repeats`): >1 means bf16 is faster here."""
    import time

    import torch

    def best(dtype) -> float:
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        a @ b
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        return min(times)

    return best(torch.float32) / best(torch.bfloat16)


def _benchmark_decision() -> dict:
    """The cached (per CPU and torch build) benchmark verdict, measuring once when there is none."""
    from importlib.metadata import version

    from llmdeck.core import paths

    # the installed torch's version without importing it (seconds): a cached verdict needs no torch at all
    key = f"{cpu_model_name()}|{platform.machine()}|torch {version('torch')}"
    cache = paths.home() / "cache" / BENCH_CACHE_FILE
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached.get("key") == key:
            return cached
    except (OSError, ValueError):
        pass
    speedup = bf16_matmul_speedup()
    decision = {"key": key, "speedup": round(speedup, 3), "native_bf16": speedup >= BF16_SPEEDUP_NEEDED}
    try:
        from llmdeck.core.atomic import atomic_write_text

        atomic_write_text(cache, json.dumps(decision))
    except OSError:  # a read-only home: decide again next time
        pass
    return decision


@functools.cache
def cpu_bf16_support() -> dict:
    """{"cpu", "native_bf16", "source" (cpuinfo flag | benchmark), "detail"}: how bf16 was decided on this CPU."""
    flags_say = native_bf16_from_cpuinfo(cpuinfo_text())
    if flags_say is not None:
        text = cpuinfo_text() or ""
        found = [flag for flag in NATIVE_BF16_FLAGS if flag in (_cpuinfo_field(text, "flags") or "").split()]
        detail = ", ".join(found) if found else "no avx512_bf16/amx_bf16 flag"
        return {"cpu": cpu_model_name(), "native_bf16": flags_say, "source": "cpuinfo", "detail": detail}
    decision = _benchmark_decision()
    return {
        "cpu": cpu_model_name(),
        "native_bf16": bool(decision["native_bf16"]),
        "source": "benchmark",
        "detail": f"bf16 matmul {decision['speedup']}x fp32",
    }


def cpu_has_native_bf16() -> bool:
    """True where bf16 matmuls really run faster than fp32 on this CPU (AVX512_BF16 / AMX, or measured so)."""
    return cpu_bf16_support()["native_bf16"]


def cuda_device_possible() -> bool:
    """False when this machine has no NVIDIA device node (/dev/nvidia*, or WSL's /dev/dxg): CUDA cannot be
    available then, and asking torch (a 3-second import) is not needed to say so."""
    dev = Path("/dev")
    return Path("/dev/dxg").exists() or any(dev.glob("nvidia[0-9]*")) or Path("/proc/driver/nvidia").exists()
