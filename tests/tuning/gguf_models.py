"""A second architecture for tests: a tiny random-init Qwen2 written straight to GGUF (gguf-py's writer) with
SmolLM2's real BPE vocabulary and NO chat template - a base model as hubs publish them."""

from __future__ import annotations

from pathlib import Path

QWEN2_TENSORS = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def _gguf_name(hf_name: str) -> str:
    if hf_name in QWEN2_TENSORS:
        return QWEN2_TENSORS[hf_name]
    _, _, layer, rest = hf_name.split(".", 3)  # model.layers.N.self_attn.q_proj.weight
    module, kind = rest.rsplit(".", 1)
    return f"blk.{layer}.{QWEN2_TENSORS[module]}.{kind}"


def build_templateless_qwen2_gguf(target: Path, seed: int = 0, layers: int = 2, hidden: int = 64) -> Path:
    import gguf
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from llmdeck.core.embedded import embedded_chat_model_path

    source = gguf.GGUFReader(embedded_chat_model_path())
    tokens = source.fields["tokenizer.ggml.tokens"].contents()
    merges = source.fields["tokenizer.ggml.merges"].contents()
    token_types = source.fields["tokenizer.ggml.token_type"].contents()
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokens),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
    )
    model = Qwen2ForCausalLM(config)
    target.mkdir(parents=True, exist_ok=True)
    path = target / "tiny-qwen2-base.f32.gguf"
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_name("tiny qwen2 base")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_context_length(1024)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(2 * hidden)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(10000.0)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_merges(merges)
    writer.add_token_types(token_types)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(0)  # <|endoftext|>: a base model's document end, not a chat turn's
    writer.add_add_bos_token(False)
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":  # tied to the embeddings
            continue
        writer.add_tensor(_gguf_name(name), tensor.detach().float().numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


if __name__ == "__main__":
    import sys

    print(build_templateless_qwen2_gguf(Path(sys.argv[1])))
