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
    seconds: float  # training plus, for online RL, generation
    generation_seconds: float | None = None  # online RL: sampling completions (measured rate x completions)
    generation_tokens_per_s: float | None = None  # the measured rate, tokens per second for the step's batch

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


def memory_bytes(
    parameters: int,
    trainable: int,
    weight_format: str,
    batch: int,
    seq: int,
    hidden: int,
    layers: int,
    vocab: int,
    checkpointing: bool,
    act_bytes: float = 4.0,
    preference: bool = False,
) -> dict:
    """The memory terms (bytes) of one training step."""
    weights = parameters * BYTES_PER_WEIGHT[weight_format]
    trainable_state = trainable * (4 + 4 + 8)  # fp32 master/param, grad, two AdamW moments
    sequences = batch * (2 if preference else 1)  # chosen and rejected go through together
    per_layer = (2 if checkpointing else 18) * sequences * seq * hidden * act_bytes
    logits = 3 * sequences * seq * vocab * 4  # logits, log-softmax, grad, in fp32
    activations = layers * per_layer + logits
    return {
        "weights": int(weights),
        "trainable": int(trainable_state),
        "activations": int(activations),
        "overhead": RUNTIME_OVERHEAD_BYTES,
    }


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


def estimate_run(
    config,
    n_examples: int,
    mean_tokens: float,
    device: str = "cpu",
    dtype_name: str = "float32",
    prompts: list[dict] | None = None,
) -> Estimate:
    """Estimate for `config` over `n_examples` of `mean_tokens` each (weights counted from a meta model). Online RL
    (`prompts` given) adds the generation time, measured on the policy itself for the step's batch."""
    from llmdeck.tuning.methods import get_method
    from llmdeck.tuning.models import parameter_shapes, resolve_base

    method = get_method(config.method)  # its factors: sequences per row, logits, packing, generation
    base = resolve_base(config.base_model)
    auto_class = "AutoModel" if method.encoder else "AutoModelForCausalLM"
    parameters, linears, facts = parameter_shapes(base, auto_class)
    full = config.tuning == "full"
    trainable = parameters if full else adapter_parameters(config, linears, facts)
    weight_format = {"qlora": "nf4", "lora-8bit": "int8"}.get(config.tuning, dtype_name)
    sequences = method.sequences_per_row
    preference = sequences > 1
    online = method.online
    packing = config.packing if config.packing is not None else device == "cuda"
    packing = packing and method.packs
    if online:  # rows are prompts; a step trains batch_size completions of prompt + completion tokens
        mean_tokens = mean_tokens + config.max_completion_length
    if packing:
        seq = config.max_length
    elif online:  # prompts are not truncated; completions stop at max_completion_length
        seq = int(mean_tokens)
    else:
        seq = min(config.max_length, max(16, int(mean_tokens * 1.5)))
    vocab = facts["vocab_size"] if method.vocab_logits else 0
    terms = memory_bytes(
        parameters,
        trainable,
        weight_format,
        config.batch_size,
        seq,
        facts["hidden_size"],
        facts["num_layers"],
        vocab,
        checkpointing_on(config),
        act_bytes=2.0 if dtype_name != "float32" else 4.0,
        preference=preference,
    )
    rows_per_step = config.batch_size * config.gradient_accumulation_steps
    if online:
        rows_per_step = max(1, rows_per_step // config.num_generations)  # each prompt gives num_generations completions
    per_step = config.batch_size * config.gradient_accumulation_steps * (config.max_length if packing else mean_tokens)
    epoch_tokens = n_examples * min(mean_tokens, config.max_length)
    if online:  # an epoch is every prompt once; a step trains batch_size completions
        steps = (
            config.max_steps if config.max_steps > 0 else max(1, int(config.num_epochs * n_examples / rows_per_step))
        )
        tokens = int(steps * per_step)
    else:
        steps = (
            config.max_steps
            if config.max_steps > 0
            else max(1, int(config.num_epochs * epoch_tokens / max(per_step, 1)))
        )
        tokens = (
            int(steps * min(per_step, epoch_tokens)) if config.max_steps > 0 else int(config.num_epochs * epoch_tokens)
        )
    flops = training_flops(parameters, tokens * sequences, full, checkpointing_on(config), method.reference_forward)
    rate = matmul_flops_per_s(device) * MATMUL_EFFICIENCY
    peak = sum(terms.values())
    seconds = flops / rate if rate else 0.0
    generation_seconds = generation_rate = None
    if online and prompts:
        completions = config.batch_size * config.gradient_accumulation_steps
        generation_rate = measured_generation_rate(base, dtype_name, completions, prompts[0]["prompt"], device)
        generation_seconds = steps * completions * config.max_completion_length / generation_rate
        seconds += generation_seconds
    return Estimate(
        parameters=parameters,
        trainable_parameters=trainable,
        weights_bytes=terms["weights"],
        trainable_bytes=terms["trainable"],
        activations_bytes=terms["activations"],
        overhead_bytes=terms["overhead"],
        peak_bytes=peak,
        available_bytes=available_memory(device),
        device=device,
        tokens=tokens,
        steps=steps,
        flops=flops,
        flops_per_s=rate,
        seconds=seconds,
        generation_seconds=generation_seconds,
        generation_tokens_per_s=generation_rate,
    )


def checkpointing_on(config) -> bool:
    from llmdeck.tuning.recipe import checkpointing

    return checkpointing(config)


def adapter_parameters(config, linears: list[tuple[str, int, int]], facts: dict) -> int:
    """Trainable parameters of the adapter: LoRA r x (in + out) per layer (DoRA adds a magnitude per output),
    IA3 one scale per output, soft prompts the virtual tokens' embeddings (prefix: one key and value per layer)."""
    tuning, hidden = config.tuning, facts["hidden_size"]
    if tuning == "prompt":
        return config.num_virtual_tokens * hidden
    if tuning == "prefix":
        return config.num_virtual_tokens * 2 * facts["num_layers"] * hidden
    if tuning == "ptuning":  # virtual tokens + the MLP prompt encoder (hidden -> hidden -> hidden)
        return config.num_virtual_tokens * hidden + 2 * (hidden * hidden + hidden)
    if tuning == "ia3":
        return sum(n_out for name, _, n_out in linears if name.rsplit(".", 1)[-1] in IA3_TARGETS)
    lora = lora_parameters(linears, config.lora_r, config.lora_target_modules)
    if tuning == "dora":
        lora += sum(
            n_out
            for name, _, n_out in linears
            if config.lora_target_modules == "all-linear" or name.rsplit(".", 1)[-1] in config.lora_target_modules
        )
    return lora


IA3_TARGETS = ("k_proj", "v_proj", "down_proj", "key", "value", "dense", "c_attn", "c_proj")


def measured_generation_rate(
    base, dtype_name: str, batch: int, prompt: list[dict], device: str, new_tokens: int = 16
) -> float:
    """Tokens per second the policy generates for `batch` completions of `prompt` (sampling, as trl does),
    measured once per base, precision, batch and thread count (cached in LLMDECK_HOME/cache)."""
    import json
    import time

    import torch

    from llmdeck.core import paths
    from llmdeck.core.atomic import atomic_write_text
    from llmdeck.tuning.models import load_base_model, load_tokenizer

    key = f"{base.location}/{base.gguf_file or ''}|{dtype_name}|{batch}|{torch.get_num_threads()}|{device}"
    cache = paths.home() / "cache" / GENERATION_CACHE_FILE
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    if key in cached:
        return float(cached[key])
    tokenizer = load_tokenizer(base)
    model = load_base_model(base, getattr(torch, dtype_name)).to(device).eval()
    text = (
        tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        if tokenizer.chat_template
        else str(prompt[-1]["content"])
    )
    inputs = tokenizer([text] * batch, return_tensors="pt", add_special_tokens=False).to(device)
    with torch.inference_mode():
        model.generate(
            **inputs, max_new_tokens=2, min_new_tokens=2, do_sample=True, pad_token_id=tokenizer.pad_token_id
        )
        start = time.perf_counter()
        model.generate(
            **inputs,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=True,
            pad_token_id=tokenizer.pad_token_id,
        )
        rate = batch * new_tokens / (time.perf_counter() - start)
    cached[key] = rate
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache, json.dumps(cached))
    return rate


GENERATION_CACHE_FILE = "generation_rate.json"
