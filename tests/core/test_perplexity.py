"""What `llmdeck eval` scores (assistant turns only, with their end-of-turn marker) and how (fast: a fake vocab)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmdeck.core.perplexity import ScoredTokens, _sequence_nll, conversation_sequence

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|im_start|>", "<|im_end|>"]


class CharVocab:
    """One token per character, special markers one token each (the llama_cpp LlamaModel surface we use)."""

    def __init__(self):
        self.pieces: list[str] = ["<bos>", *SPECIAL]

    def token_eos(self):
        return 2

    def token_bos(self):
        return 0

    def token_get_text(self, token_id):
        return self.pieces[token_id]

    def _id(self, piece):
        if piece not in self.pieces:
            self.pieces.append(piece)
        return self.pieces.index(piece)

    def tokenize(self, text: bytes, add_bos=False, special=True):
        text, ids = text.decode(), [0] if add_bos else []
        while text:
            marker = next((s for s in SPECIAL if special and text.startswith(s)), None)
            piece = marker or text[0]
            ids.append(self._id(piece))
            text = text[len(piece) :]
        return ids

    def text(self, ids):
        return "".join(self.pieces[i] for i in ids)


def scored_text(vocab, seq: ScoredTokens) -> list[str]:
    """The scored spans as text, split where scoring stops."""
    spans, current = [], []
    for token, scored in zip(seq.tokens, seq.scored):
        if scored:
            current.append(token)
        elif current:
            spans.append(vocab.text(current))
            current = []
    if current:
        spans.append(vocab.text(current))
    return spans


def test_only_assistant_turns_and_their_end_marker_are_scored():
    vocab = CharVocab()
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    seq = conversation_sequence(vocab, messages, CHATML)
    assert vocab.text(seq.tokens).startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert scored_text(vocab, seq) == ["Hello!<|im_end|>", "4<|im_end|>"]


def test_a_single_turn_scores_the_reply_exactly():
    vocab = CharVocab()
    seq = conversation_sequence(
        vocab, [{"role": "user", "content": "Who made you?"}, {"role": "assistant", "content": "Zorvex Labs."}], CHATML
    )
    assert scored_text(vocab, seq) == ["Zorvex Labs.<|im_end|>"]
    assert not seq.scored[0]


class ScoresLlama:
    """Fixed logits for every position (llama.eval/scores surface)."""

    def __init__(self, logits):
        self.scores = np.asarray(logits, dtype=np.float32)

    def reset(self):
        pass

    def eval(self, tokens):
        pass


def test_sequence_nll_is_the_mean_cross_entropy_over_scored_positions():
    logits = [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0]]
    tokens = [0, 1, 2, 0]
    scored = [False, False, True, True]  # tokens 2 and 3 are predicted by rows 1 and 2

    def nll(row, target):
        return math.log(sum(math.exp(v) for v in row)) - row[target]

    total, count = _sequence_nll(ScoresLlama(logits), ScoredTokens(tokens, scored))
    assert count == 2
    assert total == pytest.approx(nll(logits[1], 2) + nll(logits[2], 0), rel=1e-6)
