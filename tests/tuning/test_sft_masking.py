"""Loss on every assistant turn of a multi-turn conversation, through trl's own label building."""

from __future__ import annotations

import pytest

from llmdeck.tuning.config import build_config
from llmdeck.tuning.render import conversation_tokens

# builds trl's SFT trainer on a real tokenizer and model: seconds each. datasets, the trainer and the model loader
# are imported inside the tests: collecting this module for the fast tier imported datasets (pandas, pyarrow), ~1 s
pytestmark = pytest.mark.slow

CONVERSATION = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What colour is the sky on a clear day?"},
    {"role": "assistant", "content": "It is blue."},
    {"role": "user", "content": "And at sunset?"},
    {"role": "assistant", "content": "Orange and red."},
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from llmdeck.tuning.models import load_tokenizer, resolve_base

    return load_tokenizer(resolve_base(str(tiny_model_dir)))


def sft_trainer(tiny_model_dir, tokenizer, config, run_dir):
    """trl's SFT trainer as the worker builds it, on one prompt/completion row of CONVERSATION."""
    import datasets

    from llmdeck.tuning.methods.sft import build_trainer
    from llmdeck.tuning.models import load_base_model, resolve_base
    from llmdeck.tuning.recipe import Device, adapter_config

    rows = [{"prompt": CONVERSATION[:-1], "completion": CONVERSATION[-1:]}]
    model = load_base_model(resolve_base(str(tiny_model_dir)), dtype=None)
    dataset = datasets.Dataset.from_list(rows)
    return build_trainer(
        model, tokenizer, dataset, None, config, run_dir, Device("cpu", "float32"), [], adapter_config(config)
    )


def masked_text(tokenizer, input_ids, keep) -> str:
    return tokenizer.decode([token for token, kept in zip(input_ids, keep) if kept])


def test_every_assistant_turn_is_masked_in_and_nothing_else(tokenizer):
    tokens = conversation_tokens(CONVERSATION, tokenizer)
    assert len(tokens["input_ids"]) == len(tokens["assistant_masks"])
    assert masked_text(tokenizer, tokens["input_ids"], tokens["assistant_masks"]) == (
        "It is blue.<|im_end|>\nOrange and red.<|im_end|>\n"
    )
    full = tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert tokenizer.decode(tokens["input_ids"]) == full


def test_trainer_labels_cover_both_replies(tiny_model_dir, tokenizer, tmp_path):
    config = build_config(
        {"base_model": str(tiny_model_dir), "max_length": 128, "batch_size": 1, "max_steps": 1, "packing": False}
    )
    trainer = sft_trainer(tiny_model_dir, tokenizer, config, tmp_path)
    example = trainer.train_dataset[0]
    labels = example["labels"]
    assert masked_text(tokenizer, example["input_ids"], [label != -100 for label in labels]) == (
        "It is blue.<|im_end|>\nOrange and red.<|im_end|>\n"
    )


def test_without_assistant_only_loss_the_whole_conversation_trains(tiny_model_dir, tokenizer, tmp_path):
    config = build_config(
        {
            "base_model": str(tiny_model_dir),
            "max_length": 128,
            "batch_size": 1,
            "max_steps": 1,
            "packing": False,
            "assistant_only_loss": False,
        }
    )
    trainer = sft_trainer(tiny_model_dir, tokenizer, config, tmp_path)
    assert all(label != -100 for label in trainer.train_dataset[0]["labels"])
