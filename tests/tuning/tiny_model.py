"""Tiny random-init causal LMs with SmolLM2's real tokenizer (from the embedded GGUF), saved as HF directories."""

from __future__ import annotations

from pathlib import Path

# a chat template unlike SmolLM2's own: a run trained on it must carry it into what it exports
CUSTOM_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}: {{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant: {% endif %}"
)


def build_tiny_model(
    target: Path, seed: int = 0, architecture: str = "llama", chat_template: str | None = None
) -> Path:
    """A 2-layer model of `architecture` (llama, or qwen3: q/k norms, no llama tensor names) that transformers and
    llama.cpp both support. (Not qwen2: transformers then swaps SmolLM2's tokenizer for Qwen2Tokenizer's
    pre-tokenizer, which llama.cpp's converter rightly does not recognise.)"""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM

    from llmdeck.core.embedded import embedded_chat_model_path

    gguf = embedded_chat_model_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if chat_template:
        tokenizer.chat_template = chat_template
    torch.manual_seed(seed)
    config_class, model_class = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen3": (Qwen3Config, Qwen3ForCausalLM)}[
        architecture
    ]
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = model_class(config)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


if __name__ == "__main__":
    import sys

    print(build_tiny_model(Path(sys.argv[1])))
