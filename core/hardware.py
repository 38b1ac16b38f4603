"""What the machine's CPU can do fast; shared by training (frozen-base dtype) and RAG (embedding precision)."""

from __future__ import annotations

import functools


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True where oneDNN has bf16 kernels (AVX512-BF16 / AMX): bf16 matmuls run ~2-3x fp32 there."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
