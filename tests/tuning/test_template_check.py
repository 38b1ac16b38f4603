"""Template consistency on a tiny tokenizer built here (fast: no transformers, no GGUF): the same conversation
through a training-side chat template and an Ollama TEMPLATE; a deliberately broken TEMPLATE is caught at the
token where it parts, and shown token by token."""

from __future__ import annotations

import re

import jinja2

from llmdeck.core.interop import CHATML, ollama_template
from llmdeck.tuning.template_check import (
    CONVERSATION,
    Rendering,
    compare,
    modelfile_rendering,
    training_rendering,
)

CHATML_JINJA = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIALS = ("<|im_start|>", "<|im_end|>")


class TinyTokenizer:
    """Special tokens whole, then words, single spaces/newlines and punctuation; ids handed out as first seen.
    Enough of a transformers tokenizer for `training_rendering` (chat_template, apply_chat_template, decode)."""

    def __init__(self, chat_template: str | None = CHATML_JINJA):
        self.chat_template = chat_template
        self.vocab: dict[str, int] = {}
        self.pattern = re.compile("|".join(map(re.escape, SPECIALS)) + r"|\w+|\s|[^\w\s]")

    def encode(self, text: str) -> list[int]:
        return [self.vocab.setdefault(piece, len(self.vocab)) for piece in self.pattern.findall(text)]

    def decode(self, ids: list[int]) -> str:
        texts = {i: piece for piece, i in self.vocab.items()}
        return "".join(texts[i] for i in ids)

    def apply_chat_template(self, messages, add_generation_prompt: bool, tokenize: bool):
        environment = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
        text = environment.from_string(self.chat_template).render(
            messages=messages, add_generation_prompt=add_generation_prompt
        )
        return {"input_ids": self.encode(text)}  # transformers 5 answers a BatchEncoding


def renderings(tokenizer: TinyTokenizer, template: str) -> list[Rendering]:
    return [
        training_rendering(tokenizer, "tiny tokenizer"),
        modelfile_rendering(template, "TEMPLATE", tokenizer.encode, lambda i: tokenizer.decode([i])),
    ]


def test_matching_templates_give_the_same_tokens():
    tokenizer = TinyTokenizer()
    check = compare("tiny", renderings(tokenizer, ollama_template(CHATML, "")))
    assert check.consistent is True
    assert check.divergences == []
    training, modelfile = check.renderings
    assert training.token_ids == modelfile.token_ids and len(training.token_ids) == 74
    assert check.to_dict()["available"] == ["training", "modelfile"]
    assert check.summary() == "template check: training, modelfile give the same 74 tokens"


def test_a_broken_template_is_caught_at_the_first_differing_token():
    tokenizer = TinyTokenizer()
    broken = ollama_template(CHATML, "").replace("{{ .Role }}\n", "{{ .Role }}: ")  # the newline after the role
    check = compare("tiny", renderings(tokenizer, broken))
    assert check.consistent is False
    (divergence,) = check.divergences
    assert (divergence.first, divergence.second, divergence.position) == ("training", "modelfile", 2)
    assert [t["text"] for t in divergence.first_window] == ["<|im_start|>", "system", "\n", "You", " ", "are", " "]
    assert [t["text"] for t in divergence.second_window] == ["<|im_start|>", "system", ":", " ", "You", " ", "are"]
    assert divergence.first_window[2]["position"] == 2
    assert divergence.first_window[2]["id"] != divergence.second_window[2]["id"]
    lines = check.lines()
    assert lines[0] == "template check: MISMATCH: training and modelfile differ at token 2"
    assert "    training  0:0='<|im_start|>' 1:1='system' 2:2='\\n'" in lines[-2]
    assert "2:" in lines[-1] and "=':'" in lines[-1]
    assert check.to_dict()["divergences"][0]["position"] == 2


def test_a_template_that_stops_early_differs_at_its_end():
    tokenizer = TinyTokenizer()
    short = ollama_template(CHATML, "").replace("<|im_start|>assistant\n", "")  # no generation prompt
    check = compare("tiny", renderings(tokenizer, short))
    (divergence,) = check.divergences
    assert divergence.position == divergence.second_length == divergence.first_length - 3
    assert divergence.second_window[-1]["position"] == divergence.position - 1  # the window ends with the text


def test_a_template_that_fails_to_render_is_a_mismatch_and_one_that_cannot_be_checked_is_not():
    tokenizer = TinyTokenizer()
    check = compare("tiny", renderings(tokenizer, "{{ if .System }}unclosed"))
    assert check.consistent is False
    assert check.renderings[1].error == "TEMPLATE: an if/range is never closed with {{ end }} (at the end of the text)"
    assert check.summary().startswith("template check: MISMATCH: modelfile failed (TEMPLATE: an if/range")

    unsupported = compare("tiny", renderings(tokenizer, '{{ define "t" }}{{ . }}{{ end }}'))
    assert unsupported.consistent is None  # one rendering left: nothing compared
    assert "`define` is beyond" in (unsupported.renderings[1].unavailable or "")
    assert unsupported.summary().startswith("template check: not checked, fewer than two renderings (modelfile:")


def test_a_tokenizer_without_a_chat_template_is_unavailable_and_a_raising_one_failed():
    assert training_rendering(TinyTokenizer(None), "t").unavailable == "the training tokenizer has no chat template"
    raising = TinyTokenizer("{{ raise_me() }}")
    assert (training_rendering(raising, "t").error or "").startswith("UndefinedError")
    assert len(CONVERSATION) == 4 and [m["role"] for m in CONVERSATION] == ["system", "user", "assistant", "user"]
