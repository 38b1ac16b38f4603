"""llama-cpp-python set up once per process before any model loads: the AMX work-around lives here.

llama.cpp builds made with `-march=native` on a CPU with AMX (Intel Sapphire Rapids and later) route quantized
matmuls through ggml's AMX kernels, which crash (SIGSEGV in `ggml_backend_amx_mul_mat`) on the first decode of
the embedded SmolLM2 Q4_1 with llama-cpp-python 0.3.36. The AMX kernels live in llama.cpp's "extra buffer types";
on such a build the model loads without them (`use_extra_bufts = false`), which is llama.cpp's own switch
(`--no-extra-bufts`). `LLMDECK_LLAMA_EXTRA_BUFFERS=1` keeps them (for a build where the bug is fixed).
"""

from __future__ import annotations

import functools
import os

KEEP_EXTRA_BUFFERS_ENV = "LLMDECK_LLAMA_EXTRA_BUFFERS"


def build_uses_amx(system_info: str) -> bool:
    """True when llama.cpp's system info line says its CPU backend runs AMX kernels ('AMX_INT8 = 1')."""
    return "AMX_INT8 = 1" in system_info


@functools.cache
def prepare_llama_cpp() -> bool:
    """Make every `Llama(...)` of this process skip the extra buffer types where they would crash.

    Returns whether the work-around is on. llama-cpp-python's `Llama` reads
    `llama_cpp.llama_cpp.llama_model_default_params` at construction, so wrapping that one function covers
    the runtime, perplexity, the server and any plain `Llama` built in this process afterwards.
    """
    import llama_cpp
    import llama_cpp.llama_cpp as low_level

    info = llama_cpp.llama_print_system_info()
    if os.environ.get(KEEP_EXTRA_BUFFERS_ENV) == "1" or not build_uses_amx(info.decode(errors="replace")):
        return False
    default_params = low_level.llama_model_default_params

    def params_without_extra_buffers():
        params = default_params()
        params.use_extra_bufts = False
        return params

    low_level.llama_model_default_params = params_without_extra_buffers
    llama_cpp.llama_model_default_params = params_without_extra_buffers
    return True
