"""Fixtures for tuning tests (the tiny random-init Llama, `tiny_model_dir`, is in tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text(
        "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows), encoding="utf-8"
    )
    return path


def first_last_mean(values: list[float], n: int = 3) -> tuple[float, float]:
    return sum(values[:n]) / len(values[:n]), sum(values[-n:]) / len(values[-n:])


@pytest.fixture(scope="session")
def templateless_gguf(tmp_path_factory) -> Path:
    """A tiny random Qwen2 base GGUF without a chat template (a second architecture)."""
    from tests.tuning.gguf_models import build_templateless_qwen2_gguf

    return build_templateless_qwen2_gguf(tmp_path_factory.mktemp("tiny-qwen2"))


def write_articles(path: Path, count: int = 12, words: int = 150) -> Path:
    """Continued-pretraining text: one article per line, no blank lines."""
    path.write_text(
        "\n".join(
            f"Article {i}: " + "the quick brown fox jumps over the lazy dog " * (words // 9) for i in range(count)
        )
        + "\n"
    )
    return path
