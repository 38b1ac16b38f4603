"""The scorers of an eval row (`services.eval_tasks`): each turns a model's answer (or, for `choice`, its
log-likelihood of each option) into a `RowScore`.

- exact: the answer, normalized (trimmed, case folded, spaces collapsed, surrounding quotes and a final period
  dropped), equals one of the expected texts, normalized the same way;
- contains: the answer contains one of the texts (case folded);
- regex: `re.search` finds the pattern in the answer;
- choice: the option with the highest log-likelihood as the model's whole reply is the right one (no
  generation: llama.cpp's logits, `core.perplexity.option_loglikelihoods`);
- code: the answer's first fenced Python block (or the whole answer) runs in the sandbox
  (`agents.executor.check_code`): its asserts pass, or it prints exactly the expected stdout;
- judge: the --judge model grades the answer 1-10 under a rubric (`services.judge.grade`; verdicts are stored).

Pass/fail scorers give 1.0 or 0.0; the judge gives its grade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmdeck.services.eval_tasks import EvalRow

if TYPE_CHECKING:
    from llmdeck.services.judge import Rubric

PASS_FAIL = ("exact", "contains", "regex", "choice", "code")
METRIC_NAMES = {
    "exact": "exact match",
    "contains": "contains",
    "regex": "regex match",
    "choice": "choice accuracy",
    "code": "code pass@1",
    "judge": "judge score (1-10)",
}
CODE_SYSTEM = "You write Python. Reply with one Python code block, from ```python to ```, and nothing else."
DETAIL_CHARS = 400


@dataclass(frozen=True)
class RowScore:
    """How one answer scored: `value` is 1.0/0.0 for a pass/fail scorer, the 1-10 grade for the judge."""

    scorer: str
    value: float
    answer: str
    detail: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool | None:
        return bool(self.value) if self.scorer in PASS_FAIL else None


def normalize(text: str) -> str:
    """What `exact` compares: trimmed, case folded, inner whitespace collapsed, quotes and a final period dropped."""
    flat = " ".join(text.split()).casefold()
    flat = flat.strip("\"'`“”‘’ ")
    return flat[:-1].rstrip() if flat.endswith(".") else flat


def _texts(value: str | list[str] | None) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def score_text(row: EvalRow, answer: str) -> RowScore:
    """exact, contains or regex: decided from the answer's text alone."""
    scorer = row.scorer
    if scorer == "exact":
        got = normalize(answer)
        matched = next((t for t in _texts(row.exact) if normalize(t) == got), None)
    elif scorer == "contains":
        folded = answer.casefold()
        matched = next((t for t in _texts(row.contains) if t.casefold() in folded), None)
    elif scorer == "regex":
        assert row.regex is not None  # the row's scorer is regex
        found = re.search(row.regex, answer)
        matched = found.group(0) if found else None
    else:
        raise ValueError(f"score_text: {scorer} is not a text scorer")
    return RowScore(scorer, 1.0 if matched is not None else 0.0, answer, {"matched": matched})


def code_prompt(row: EvalRow) -> str:
    """What a code row asks: the prompt and, like the verify pair's task, the checks that will run."""
    assert row.code is not None  # only code rows are asked this way
    parts = [row.prompt.strip()]
    if row.code.stdout is not None:
        parts.append(f"The program must print exactly:\n{row.code.stdout.strip()}")
    if row.code.tests:
        parts.append(
            f"These tests will run against your code (define what they use):\n```python\n{row.code.tests.strip()}\n```"
        )
    return "\n\n".join(parts)


def extract_program(answer: str) -> str:
    """The answer's first fenced Python block (closed or cut short, as the verify pair reads it), else the whole
    answer."""
    from llmdeck.agents.verify import extract_code

    found = extract_code(answer)
    return found if found is not None else answer.strip()


def score_code(row: EvalRow, answer: str, isolation: str = "auto", timeout_s: float = 10.0) -> RowScore:
    """Run the answer's program in the sandbox with the row's checks (asserts, or the expected stdout)."""
    from llmdeck.agents.executor import Checks, check_code
    from llmdeck.agents.sandbox import SandboxLimits

    assert row.code is not None  # the row's scorer is code
    program = extract_program(answer)
    limits = SandboxLimits(wall_s=timeout_s, cpu_s=max(1, int(timeout_s)))
    attempt = check_code(program, Checks(expect=row.code.stdout, tests=row.code.tests), limits, isolation)
    detail = {
        "checks": attempt.checks,
        "exit_code": attempt.exit_code,
        "limit": attempt.limit,
        "isolation": attempt.isolation,
        "message": (attempt.check_message or attempt.stderr.strip())[-DETAIL_CHARS:],
    }
    return RowScore("code", 1.0 if attempt.passed else 0.0, answer, detail)


def score_choice(row: EvalRow, loglikelihoods: list[float]) -> RowScore:
    """The option the model finds most likely (the first of equals) against the right one."""
    assert row.choice is not None  # the row's scorer is choice
    if len(loglikelihoods) != len(row.choice):
        raise ValueError(f"score_choice: {len(loglikelihoods)} log-likelihoods for {len(row.choice)} options")
    picked = max(range(len(row.choice)), key=lambda i: (loglikelihoods[i], -i))
    detail = {"picked": picked, "right": row.right_option, "loglikelihoods": [round(v, 4) for v in loglikelihoods]}
    return RowScore("choice", 1.0 if picked == row.right_option else 0.0, row.choice[picked], detail)


def score_judge(row: EvalRow, answer: str, judge_model: str, rubric: Rubric | None = None) -> RowScore:
    """The judge's 1-10 grade of the answer (against the row's reference when it has one); stored verdicts are
    re-read, not re-judged."""
    from llmdeck.services import judge

    verdict = judge.grade(answer, row.prompt, row.reference, judge_model, rubric or judge.DEFAULT_RUBRIC)
    detail = {"reason": verdict.reason, "judge": verdict.judge, "stored": verdict.stored}
    return RowScore("judge", float(verdict.score), answer, detail)
