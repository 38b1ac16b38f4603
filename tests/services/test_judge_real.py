"""The judge and the headless arena on the real embedded SmolLM2 (llama.cpp, grammar-constrained verdicts)."""

from __future__ import annotations

import json

import pytest

from llmdeck.core.embedded import EMBEDDED_CHAT_MODEL_NAME, embedded_chat_model_path
from llmdeck.core.store import ModelStore
from llmdeck.services import arena, judge
from tests.conftest import run_cli


@pytest.mark.slow
def test_the_real_model_judges_two_prompts_and_every_verdict_parses(tmp_path):
    ModelStore().register(embedded_chat_model_path(), name="other")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "What is 2+2?", "reference": "4"}\n{"prompt": "Name the capital of France."}\n')
    result = run_cli(
        "arena", "--prompts", str(prompts), "--model", EMBEDDED_CHAT_MODEL_NAME, "--model", "other",
        "--judge", EMBEDDED_CHAT_MODEL_NAME, "--max-tokens", "24", "--seed", "0", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert len(document["votes"]) == 2 and "[2/2]" in result.stderr
    for vote in document["votes"]:
        detail = vote["detail"]
        assert detail["forward"] in ("A", "B", "tie") and detail["backward"] in ("A", "B", "tie")
        assert detail["winner"] == judge.combine(detail["forward"], detail["backward"])
        assert vote["outcome"] == {"A": "left", "B": "right"}.get(detail["winner"], "tie")
        assert vote["left_answer"].strip() and vote["right_answer"].strip()
    assert [v.to_dict() for v in arena.votes("judge")] == document["votes"]
    assert len(judge.stored_verdicts("compare")) == 2

    verdict = judge.grade("4", "What is 2+2?", reference="4", judge_model=EMBEDDED_CHAT_MODEL_NAME)
    assert 1 <= verdict.score <= 10 and not verdict.stored
    assert judge.grade("4", "What is 2+2?", reference="4", judge_model=EMBEDDED_CHAT_MODEL_NAME).stored
