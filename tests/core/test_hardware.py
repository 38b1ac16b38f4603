"""`auto` precision follows what the CPU really does: its bf16 flags, or a cached benchmark where it has none."""

from __future__ import annotations

import json
import math

import pytest

from llmdeck.core import hardware

AVX512_NO_BF16 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz
flags\t\t: fpu sse sse2 avx avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni
"""
AVX512_BF16 = AVX512_NO_BF16.replace("avx512_vnni", "avx512_vnni avx512_bf16")
AMX = AVX512_NO_BF16.replace("avx512_vnni", "amx_tile amx_bf16 amx_int8")
ARM = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics bf16
CPU implementer\t: 0x41
"""


@pytest.fixture
def cpu(monkeypatch):
    """Pretend to run on a CPU whose /proc/cpuinfo is the given text (None: unreadable)."""

    def use(text):
        monkeypatch.setattr(hardware, "cpuinfo_text", lambda: text)
        hardware.cpu_bf16_support.cache_clear()

    yield use
    hardware.cpu_bf16_support.cache_clear()


@pytest.mark.parametrize(
    "text, expected", [(AVX512_NO_BF16, False), (AVX512_BF16, True), (AMX, True), (ARM, None), (None, None), ("", None)]
)
def test_flags_decide_on_x86(text, expected):
    assert hardware.native_bf16_from_cpuinfo(text) is expected


@pytest.mark.slow  # end to end through the app or the training stack: seconds
def test_avx512_without_bf16_trains_and_embeds_in_fp32_even_where_mkldnn_says_bf16(cpu, monkeypatch, tmp_path):
    import torch

    from llmdeck.rag.embeddings import embedding_precision
    from llmdeck.tuning.config import build_config
    from llmdeck.tuning.recipe import pick_device, trainer_arguments

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    cpu(AVX512_NO_BF16)
    device = pick_device(build_config({}))
    assert (device.kind, device.dtype_name) == ("cpu", "float32")
    assert not pick_device(build_config({"method": "reward"})).autocast_bf16  # bf16 autocast would be slower here
    assert "Xeon(R) Platinum 8259CL" in device.precision and "no avx512_bf16/amx_bf16 flag" in device.precision
    assert embedding_precision() == "fp32"
    cpu(AVX512_BF16)
    device = pick_device(build_config({}))
    assert (
        device.dtype_name == "bfloat16"
        and device.precision.startswith("bf16 (auto:")
        and "avx512_bf16" in device.precision
    )
    assert embedding_precision() == "bf16"
    full = pick_device(build_config({"tuning": "full"}))
    assert full.dtype_name == "float32" and full.autocast_bf16  # full tuning keeps fp32 weights, computes in bf16
    assert full.precision.startswith("bf16 mixed (auto:") and "fp32 weights under bf16 autocast" in full.precision
    for values in ({"method": "reward"}, {"tuning": "prompt"}, {"method": "mlm"}):  # trained heads and soft prompts too
        assert trainer_arguments(build_config(values), tmp_path, pick_device(build_config(values)), False)["bf16"]
    assert not trainer_arguments(build_config({}), tmp_path, pick_device(build_config({})), False)[
        "bf16"
    ]  # bf16 weights
    assert pick_device(build_config({"precision": "bf16"})).dtype_name == "bfloat16"


def test_without_flags_a_benchmark_decides_once_and_is_cached(cpu, monkeypatch, llmdeck_home):
    calls = []

    def fake_speedup():
        calls.append(1)
        return 0.26  # bf16 ~4x slower, as on AVX512 without native bf16

    monkeypatch.setattr(hardware, "bf16_matmul_speedup", fake_speedup)
    cpu(ARM)
    support = hardware.cpu_bf16_support()
    assert support["native_bf16"] is False and support["source"] == "benchmark" and "0.26x" in support["detail"]
    cached = json.loads((llmdeck_home / "cache" / hardware.BENCH_CACHE_FILE).read_text())
    assert cached["native_bf16"] is False and cached["speedup"] == 0.26
    hardware.cpu_bf16_support.cache_clear()  # a new process on the same machine reads the cache
    assert hardware.cpu_has_native_bf16() is False and len(calls) == 1
    monkeypatch.setattr(hardware, "bf16_matmul_speedup", lambda: 2.5)
    (llmdeck_home / "cache" / hardware.BENCH_CACHE_FILE).write_text("{torn")  # a damaged cache is measured again
    hardware.cpu_bf16_support.cache_clear()
    assert hardware.cpu_has_native_bf16() is True


@pytest.mark.slow  # imports torch (~3 s of CPU): the fast tier imports no torch
def test_the_real_benchmark_runs_both_dtypes_and_gives_a_ratio():
    """The real matmuls in fp32 and bf16, timed; the ratio itself is whatever the (possibly busy) machine gives."""
    speedup = hardware.bf16_matmul_speedup(size=64, repeats=2)
    assert isinstance(speedup, float) and math.isfinite(speedup) and speedup > 0
