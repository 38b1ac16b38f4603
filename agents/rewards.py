"""The verifier as a reward function for online RL (trl's GRPO/RLOO `reward_funcs` signature): each completion's
first python block runs in the sandbox against its row's checks (`expect` or `tests` columns, as in a task file).

    1.0   verified (exit code 0 and the checks pass)
    0.2   ran cleanly but the checks failed
    0.0   no code block, an error, or a limit hit

Usable as `llmdeck train --method grpo --reward-fn agents/rewards.py:verify_reward` where the trainer takes a
reward file, and by `bench/grpo_verify.py`, which measures what GRPO costs on this hardware.
"""

from __future__ import annotations

from llmdeck.agents.executor import Checks, check_code
from llmdeck.agents.sandbox import SandboxLimits
from llmdeck.agents.verify import extract_code

VERIFIED, RAN = 1.0, 0.2


def _text(completion) -> str:
    """A completion as text: trl passes strings, or message lists for conversational prompts."""
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def verify_reward(prompts=None, completions=(), expect=None, tests=None, **_) -> list[float]:
    """One reward per completion (see the module docstring); `expect`/`tests` are the dataset's columns."""
    rewards = []
    for index, completion in enumerate(completions):
        code = extract_code(_text(completion))
        if not code:
            rewards.append(0.0)
            continue
        checks = Checks(expect=expect[index] if expect else None, tests=tests[index] if tests else None)
        attempt = check_code(code, checks, SandboxLimits(wall_s=5))
        rewards.append(VERIFIED if attempt.passed else RAN if attempt.ran else 0.0)
    return rewards
