"""Peak memory and time of a run, estimated before anything is loaded.

peak = weights at the chosen precision + LoRA (or full) trainable params, their gradients and
AdamW state + activations for batch x sequence length (+ logits) + a fixed runtime overhead.
Time = training FLOPs / a measured matmul rate. Both are estimates: the CLI refuses a launch
whose memory estimate exceeds what is available unless --force.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

BYTES_PER_WEIGHT = {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0, "nf4": 0.5 + 0.0625, "int8": 1.0 + 0.03}
RUNTIME_OVERHEAD_BYTES = 600 * 2**20  # torch, transformers, trl, tokenizer, allocator slack
MATMUL_EFFICIENCY = 0.35  # share of peak matmul FLOP/s a training step reaches


@dataclass
class Estimate:
    parameters: int
    trainable_parameters: int
    weights_bytes: int
    trainable_bytes: int  # params + grads + AdamW moments of the trainable part
    activations_bytes: int
    overhead_bytes: int
    peak_bytes: int
    available_bytes: int | None
    device: str
    tokens: int
    steps: int
    flops: float
    flops_per_s: float
    seconds: float

    @property
    def fits(self) -> bool:
        return self.available_bytes is None or self.peak_bytes <= self.available_bytes

    def to_dict(self) -> dict:
        return {**asdict(self), "fits": self.fits}


def lora_parameters(linears: list[tuple[str, int, int]], r: int, targets) -> int:
    """r x (in + out) per adapted linear layer."""
    def wanted(name: str) -> bool:
        return targets == "all-linear" or name.rsplit(".", 1)[-1] in targets

    return sum(r * (n_in + n_out) for name, n_in, n_out in linears if wanted(name))


def memory_bytes(parameters: int, trainable: int, weight_format: str, batch: int, seq: int, hidden: int,
                 layers: int, vocab: int, checkpointing: bool, act_bytes: float = 4.0, preference: bool = False) -> dict:
    """The memory terms (bytes) of one training step."""
    weights = parameters * BYTES_PER_WEIGHT[weight_format]
    trainable_state = trainable * (4 + 4 + 8)  # fp32 master/param, grad, two AdamW moments
    sequences = batch * (2 if preference else 1)  # chosen and rejected go through together
    per_layer = (2 if checkpointing else 18) * sequences * seq * hidden * act_bytes
    logits = 3 * sequences * seq * vocab * 4  # logits, log-softmax, grad, in fp32
    activations = layers * per_layer + logits
    return {"weights": int(weights), "trainable": int(trainable_state), "activations": int(activations),
            "overhead": RUNTIME_OVERHEAD_BYTES}


def training_flops(parameters: int, tokens: int, full: bool, checkpointing: bool, preference: bool) -> float:
    """2N per token forward, 2N backward through activations, +2N weight grads when full, +2N recompute."""
    per_token = 2 + 2 + (2 if full else 0) + (2 if checkpointing else 0)
    flops = per_token * parameters * tokens
    return flops * (1.5 if preference else 1.0)  # the reference forward of DPO


def available_memory(device: str) -> int | None:
    if device == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info()
        return int(free)
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def matmul_flops_per_s(device: str, size: int = 512, repeats: int = 4) -> float:
    """Measured matmul rate (a fraction of a second)."""
    import time

    import torch

    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def estimate_run(config, n_examples: int, mean_tokens: float, device: str = "cpu", dtype_name: str = "float32") -> Estimate:
    """Estimate for `config` over `n_examples` of `mean_tokens` each (weights counted from a meta model)."""
    from llmdeck.tuning.models import parameter_shapes, resolve_base

    parameters, linears, facts = parameter_shapes(resolve_base(config.base_model))
    full = config.tuning == "full"
    trainable = parameters if full else lora_parameters(linears, config.lora_r, config.lora_target_modules)
    weight_format = {"qlora": "nf4", "lora-8bit": "int8"}.get(config.tuning, dtype_name)
    preference = config.method in ("dpo", "orpo")
    packing = config.packing if config.packing is not None else device == "cuda"
    seq = config.max_length if packing and not preference else min(config.max_length, max(16, int(mean_tokens * 1.5)))
    terms = memory_bytes(parameters, trainable, weight_format, config.batch_size, seq, facts["hidden_size"],
                         facts["num_layers"], facts["vocab_size"], config.gradient_checkpointing,
                         act_bytes=2.0 if dtype_name != "float32" else 4.0, preference=preference)
    epoch_tokens = n_examples * min(mean_tokens, config.max_length)
    per_step = config.batch_size * config.gradient_accumulation_steps * (config.max_length if packing else mean_tokens)
    steps = config.max_steps if config.max_steps > 0 else max(1, int(config.num_epochs * epoch_tokens / max(per_step, 1)))
    tokens = int(steps * min(per_step, epoch_tokens)) if config.max_steps > 0 else int(config.num_epochs * epoch_tokens)
    flops = training_flops(parameters, tokens, full, config.gradient_checkpointing, preference)
    rate = matmul_flops_per_s(device) * MATMUL_EFFICIENCY
    peak = sum(terms.values())
    return Estimate(parameters=parameters, trainable_parameters=trainable, weights_bytes=terms["weights"],
                    trainable_bytes=terms["trainable"], activations_bytes=terms["activations"],
                    overhead_bytes=terms["overhead"], peak_bytes=peak, available_bytes=available_memory(device),
                    device=device, tokens=tokens, steps=steps, flops=flops, flops_per_s=rate,
                    seconds=flops / rate if rate else 0.0)
