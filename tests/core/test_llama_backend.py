"""The AMX work-around: llama.cpp builds with AMX kernels load models without the extra buffer types."""

import subprocess
import sys

from llmdeck.core.llama_backend import build_uses_amx

AMX_INFO = "CPU : SSE3 = 1 | AVX512 = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |"
EPYC_INFO = "CPU : SSE3 = 1 | AVX512 = 1 | AVX512_BF16 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |"


def test_only_a_build_with_amx_kernels_needs_the_work_around():
    assert build_uses_amx(AMX_INFO)
    assert not build_uses_amx(EPYC_INFO)
    assert not build_uses_amx(AMX_INFO.replace("AMX_INT8 = 1", "AMX_INT8 = 0"))


PROBE = """
import llama_cpp, llama_cpp.llama_cpp as low
from llmdeck.core.llama_backend import build_uses_amx, prepare_llama_cpp
on = prepare_llama_cpp()
amx = build_uses_amx(llama_cpp.llama_print_system_info().decode())
print(on, amx, low.llama_model_default_params().use_extra_bufts)
"""


def test_every_llama_of_the_process_skips_extra_buffers_exactly_where_the_build_has_amx(monkeypatch):
    monkeypatch.delenv("LLMDECK_LLAMA_EXTRA_BUFFERS", raising=False)
    on, amx, extra = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    assert on == amx
    assert extra == str(amx != "True")


def test_the_environment_keeps_the_extra_buffers(monkeypatch):
    monkeypatch.setenv("LLMDECK_LLAMA_EXTRA_BUFFERS", "1")
    on, _amx, extra = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout.split()
    assert (on, extra) == ("False", "True")
