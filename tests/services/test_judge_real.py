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


@pytest.mark.slow
def test_the_apps_two_answers_stream_at_once_from_two_model_processes():
    import threading

    ModelStore().register(embedded_chat_model_path(), name="other")
    first, second = arena.contenders([EMBEDDED_CHAT_MODEL_NAME, "other"])
    answered: dict[str, tuple[str, int]] = {}

    def answer(side: str, spec) -> None:
        response = arena.answer_apart(side, spec, "Name the capital of France.", max_tokens=16)
        answered[side] = ("".join(response), response.stats.tokens)

    try:
        threads = [threading.Thread(target=answer, args=pair) for pair in (("left", first), ("right", second))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        hosts = [arena.side_host(side) for side in ("left", "right")]
        assert hosts[0] is not hosts[1] and all(type(h).__name__ == "ModelProcess" and h.alive() for h in hosts)
    finally:
        arena.close_side_hosts()
    assert set(answered) == {"left", "right"}
    assert all(text.strip() and 0 < tokens <= 16 for text, tokens in answered.values())
