"""The verifier as a reward function for online RL (trl's GRPO/RLOO `reward_funcs` signature): each completion's
first python block runs in the sandbox against its row's checks (`expect` or `tests` columns, as in a task file).

    1.0   verified (exit code 0 and the checks pass)
    0.2   ran cleanly but the checks failed
    0.0   no code block, an error, or a limit hit

Usable as `llmdeck train --method grpo --reward-fn agents/rewards.py:verify_reward` where the trainer takes a
reward file, by the loop's GRPO stage (`llmdeck loop --rl`, on rows made by `prompt_row`: the `prompt` data format
keeps `prompt` and `answer` only, so the checks travel in `answer` as JSON), and by `bench/grpo_verify.py`, which
measures what GRPO costs on this hardware.
"""

from __future__ import annotations

import json

from llmdeck.agents.executor import Checks, check_code
from llmdeck.agents.sandbox import SandboxLimits
from llmdeck.agents.verify import extract_code

VERIFIED, RAN = 1.0, 0.2


def _text(completion) -> str:
    """A completion as text: trl passes strings, or message lists for conversational prompts."""
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def prompt_row(task) -> dict:
    """A verify task (`agents.tasks.Task`) as a GRPO prompt row: the writer's prompt as `llmdeck verify` asks it,
    the task's checks as JSON in `answer`."""
    from llmdeck.agents.verify import WRITER_SYSTEM, task_prompt

    checks = Checks(expect=task.expect, tests=task.tests)
    return {
        "prompt": [
            {"role": "system", "content": WRITER_SYSTEM},
            {"role": "user", "content": task_prompt(task.prompt, checks)},
        ],
        "answer": json.dumps({"expect": task.expect, "tests": task.tests}),
    }


def _checks(index: int, expect, tests, answer) -> Checks:
    """Row `index`'s checks: its `expect`/`tests` columns, else the JSON in its `answer` (`prompt_row`)."""
    if expect or tests:
        return Checks(expect=expect[index] if expect else None, tests=tests[index] if tests else None)
    given = json.loads(answer[index]) if answer and answer[index] else {}
    return Checks(expect=given.get("expect"), tests=given.get("tests"))


def verify_reward(prompts=None, completions=(), expect=None, tests=None, answer=None, **_) -> list[float]:
    """One reward per completion (see the module docstring); `expect`/`tests` are the dataset's columns, or
    `answer` holds them as JSON."""
    rewards = []
    for index, completion in enumerate(completions):
        code = extract_code(_text(completion))
        if not code:
            rewards.append(0.0)
            continue
        checks = _checks(index, expect, tests, answer)
        attempt = check_code(code, checks, SandboxLimits(wall_s=5))
        rewards.append(VERIFIED if attempt.passed else RAN if attempt.ran else 0.0)
    return rewards
