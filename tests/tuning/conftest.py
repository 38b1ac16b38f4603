"""Fixtures for tuning tests: a tiny random-init Llama with SmolLM2's real tokenizer, built once per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tuning.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows), encoding="utf-8")
    return path


def first_last_mean(values: list[float], n: int = 3) -> tuple[float, float]:
    return sum(values[:n]) / len(values[:n]), sum(values[-n:]) / len(values[-n:])
