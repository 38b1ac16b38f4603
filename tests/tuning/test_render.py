"""What the model sees, under a real tokenizer (SmolLM2's): text blocks, tools, truncation, chat templates."""

from __future__ import annotations

import json

import pytest

from llmdeck.core.errors import BadInput
from llmdeck.tuning import data, render
from tests.tuning.conftest import write_jsonl
from tests.tuning.test_data import WEATHER_TOOL

pytestmark = pytest.mark.slow  # loads a tokenizer

TOOLS_TEMPLATE = (
    "{% if tools %}{{ '<|im_start|>system\nTools:\n' }}{% for tool in tools %}{{ tool | tojson }}{{ '\n' }}{% endfor %}"
    "{{ '<|im_end|>\n' }}{% endif %}" + render.CHAT_TEMPLATES["chatml"]
)


@pytest.fixture
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_long_text_becomes_max_length_blocks_with_eos_between_documents(tokenizer, tmp_path):
    articles = tmp_path / "articles.txt"
    articles.write_text("\n".join(f"Article {i}: " + "the cat sat on the mat " * 60 for i in range(12)))
    texts = [e["text"] for e in data.prepare(articles).examples]
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    blocks = render.text_blocks(texts, tokenizer, 128)
    flat = [token for block in blocks for token in block]
    assert all(len(block) == 128 for block in blocks[:-1]) and 0 < len(blocks[-1]) <= 128
    assert len(flat) == sum(lengths) + len(texts)  # every token kept, one EOS per document
    assert flat.count(tokenizer.eos_token_id) == len(texts)
    report = data.check(articles, tokenizer=tokenizer, max_length=128)
    assert report.blocks == len(blocks) and report.blocks > report.valid and report.truncation is None


def test_tools_reach_the_template_or_the_system_turn(tokenizer):
    messages = [{"role": "user", "content": "Weather in Oslo?"}, {"role": "assistant", "content": "3 degrees."}]
    assert not render.template_supports_tools(tokenizer)  # SmolLM2's template ignores tools
    example = render.place_tools(
        [{"prompt": messages[:1], "completion": messages[1:], "tools": [WEATHER_TOOL]}],
        tokenizer,
        render.template_supports_tools(tokenizer),
    )[0]
    text = tokenizer.decode(
        render.conversation_tokens(example["prompt"] + example["completion"], tokenizer)["input_ids"]
    )
    assert render.TOOLS_PREAMBLE in text and '"get_weather"' in text
    tokenizer.chat_template = TOOLS_TEMPLATE
    assert render.template_supports_tools(tokenizer)
    example = render.place_tools(
        [{"prompt": messages[:1], "completion": messages[1:], "tools": [WEATHER_TOOL]}], tokenizer, True
    )[0]
    encoded = render.conversation_tokens(
        example["prompt"] + example["completion"], tokenizer, json.loads(example["tools"])
    )
    text = tokenizer.decode(encoded["input_ids"])
    assert (
        text.startswith("<|im_start|>system\nTools:\n")
        and '"get_weather"' in text
        and render.TOOLS_PREAMBLE not in text
    )
    trained = tokenizer.decode([t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m])
    assert trained == "3 degrees.<|im_end|>\n"  # the tool block is context, never trained


def test_truncation_counts_rows_and_cut_assistant_tokens(tokenizer, tmp_path):
    rows = [{"instruction": "Short?", "output": "Yes."}] * 8 + [
        {"instruction": "Tell a long story.", "output": "word " * 300}
    ] * 2
    report = data.check(write_jsonl(tmp_path / "a.jsonl", rows), tokenizer=tokenizer, max_length=64)
    cut = report.truncation
    assert cut["rows"] == 10 and cut["rows_over"] == 2 and cut["rows_over_share"] == 0.2 and cut["longest"] > 300
    assert 0.5 < cut["assistant_cut_share"] < 1.0  # most of the two long replies, none of the short ones
    assert (
        data.check(write_jsonl(tmp_path / "b.jsonl", rows[:8]), tokenizer=tokenizer, max_length=64).truncation[
            "rows_over"
        ]
        == 0
    )


def test_named_and_file_templates_set_the_stop_token(tokenizer, tmp_path):
    render.apply_chat_template(tokenizer, "chatml")
    assert tokenizer.eos_token == "<|im_end|>" and "<|im_start|>" in tokenizer.chat_template
    template = tmp_path / "mine.jinja"
    template.write_text(
        "{% for m in messages %}<|im_start|>{{ m['role'] }}: {{ m['content'] }}<|endoftext|>{% endfor %}"
    )
    render.apply_chat_template(tokenizer, str(template))
    assert tokenizer.eos_token == "<|endoftext|>"
    for name in ("llama3", "gemma"):  # their turn markers are not tokens of SmolLM2's vocabulary
        with pytest.raises(BadInput, match=f"{name} ends turns with .* not a single token"):
            render.apply_chat_template(tokenizer, name)
    with pytest.raises(BadInput, match="neither chatml, llama3, gemma nor an existing Jinja file"):
        render.apply_chat_template(tokenizer, str(tmp_path / "missing.jinja"))
    (tmp_path / "bin.jinja").write_bytes(b"\x00\x01messages")
    with pytest.raises(BadInput, match="binary content"):
        render.apply_chat_template(tokenizer, str(tmp_path / "bin.jinja"))
