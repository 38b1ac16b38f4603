"""Rewards for online RL (grpo, rloo), in trl's reward-function form: fn(prompts, completions, **columns) -> one float
(or None: not applicable) per completion. Several rewards add up.

- rules: exact match against the row's `answer`, a regular expression, a length range, JSON validity;
- a user's function (`reward_fn: FILE.py:FUNCTION`), loaded from its file in the worker;
- a reward model: a finished `method: reward` run (its score head, adapter merged) or an HF sequence-classification
  directory, which trl runs on each prompt + completion rendered through the chat template.

`check` validates all of it at launch (the function is found by parsing its file, not by running it).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path

from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.methods import get_method

RewardFn = Callable[..., list]


def completion_text(completion) -> str:
    """The generated text: conversational completions are a list of assistant messages."""
    if isinstance(completion, list):
        return "".join(str(message.get("content", "")) for message in completion if isinstance(message, dict))
    return str(completion)


def _normalized(text: str) -> str:
    return " ".join(text.strip().rstrip(".").split()).casefold()


def exact_match(prompts, completions, answer=None, **_) -> list[float | None]:
    """1.0 when the completion equals the row's answer (trimmed, whitespace collapsed, case-insensitive, a final
    full stop ignored); None for rows without an answer."""
    answers = answer or [None] * len(completions)
    return [
        None if expected is None else float(_normalized(completion_text(c)) == _normalized(str(expected)))
        for c, expected in zip(completions, answers)
    ]


def regex_reward(pattern: str) -> RewardFn:
    compiled = re.compile(pattern)

    def regex(prompts, completions, **_) -> list[float]:
        return [float(bool(compiled.search(completion_text(c)))) for c in completions]

    return regex


def length_reward(spec: str) -> RewardFn:
    low, high = (int(part) for part in spec.split("-"))

    def length(prompts, completions, **_) -> list[float]:
        return [float(low <= len(completion_text(c).strip()) <= high) for c in completions]

    return length


def json_reward(prompts, completions, **_) -> list[float]:
    """1.0 when the completion (trimmed) parses as JSON."""

    def valid(text: str) -> bool:
        try:
            json.loads(text)
        except ValueError:
            return False
        return True

    return [float(valid(completion_text(c).strip())) for c in completions]


exact_match.__name__, json_reward.__name__ = "exact", "json"  # metric names: rewards/exact/mean, rewards/json/mean


# -- launch checks ------------------------------------------------------------------------------------------------
def check(config: TrainConfig) -> tuple[TrainConfig, list[str]]:
    """The config with its reward run pinned by id, and a note naming the rewards; BadInput for a reward function
    that is not in its file or a reward model that is not a finished reward run / sequence-classification model."""
    if not get_method(config.method).online:
        return config, []
    names = [
        name
        for name, on in (
            ("exact", config.reward_exact),
            ("regex", config.reward_regex),
            ("length", config.reward_length),
            ("json", config.reward_json),
        )
        if on
    ]
    if config.reward_fn:
        names.append(function_name(config.reward_fn))
    if config.reward_model:
        reference = reward_model_reference(config.reward_model)
        config = config.model_copy(update={"reward_model": reference})
        names.append(f"reward model {reference}")
    return config, [f"rewards: {' + '.join(names)} (summed per completion)"]


def function_name(reference: str) -> str:
    """Check FILE.py:FUNCTION by parsing the file (nothing runs at launch); returns FUNCTION."""
    file, name = reference.rsplit(":", 1)
    path = Path(file)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise BadInput(f"reward_fn: {path}:{exc.lineno}: not valid Python ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"reward_fn: {path}: cannot read it ({exc})") from None
    functions = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if name not in functions:
        found = ", ".join(functions) or "none"
        raise BadInput(f"reward_fn: {path} has no top-level function {name!r} (functions found: {found})")
    return name


def reward_model_reference(reference: str) -> str:
    """A completed reward run (returned as its id) or an HF sequence-classification directory (returned as is)."""
    path = Path(reference)
    if path.is_dir():
        try:
            model_config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise BadInput(
                f"reward_model: {path}: not a Hugging Face model directory (no readable config.json)"
            ) from None
        architectures = model_config.get("architectures") or []
        if not any(name.endswith("ForSequenceClassification") for name in architectures):
            raise BadInput(
                f"reward_model: {path} is a {', '.join(architectures) or 'model'} without a sequence-"
                "classification head; train one with --method reward"
            )
        return str(path)
    from llmdeck.tuning.registry import Registry

    run = Registry().get(reference)
    if run.method != "reward":
        raise BadInput(f"reward_model: run {run.id} is a {run.method} run; expected a --method reward run")
    if run.status != "completed" or not (run.path / "adapter").is_dir():
        raise BadInput(f"reward_model: reward run {run.id} is {run.status}; it needs to have completed")
    return run.id


def check_answers(config: TrainConfig, examples: list[dict]) -> None:
    """reward_exact compares against each row's `answer`: refuse data without any."""
    if config.reward_exact and not any(example.get("answer") for example in examples):
        raise BadInput(
            'reward_exact: no row has an `answer` to compare completions with; add {"prompt", "answer"} '
            "rows or choose another reward"
        )


# -- in the worker ------------------------------------------------------------------------------------------------
def reward_functions(config: TrainConfig, dtype) -> tuple[list, list]:
    """(reward functions or models, their processing classes) for trl's `reward_funcs` / `reward_processing_classes`."""
    funcs: list = []
    if config.reward_exact:
        funcs.append(exact_match)
    if config.reward_regex:
        funcs.append(regex_reward(config.reward_regex))
    if config.reward_length:
        funcs.append(length_reward(config.reward_length))
    if config.reward_json:
        funcs.append(json_reward)
    classes: list = [None] * len(funcs)  # rules score text: no processing class
    if config.reward_fn:
        funcs.append(load_user_function(config.reward_fn))
        classes.append(None)
    if config.reward_model:
        model, tokenizer = load_reward_model(config.reward_model, dtype)
        funcs.append(model)
        classes.append(tokenizer)
    return funcs, classes


def load_user_function(reference: str) -> RewardFn:
    """FUNCTION from FILE.py, imported under its own module name; errors name the file."""
    import importlib.util

    file, name = reference.rsplit(":", 1)
    spec = importlib.util.spec_from_file_location(f"llmdeck_reward_{Path(file).stem}", file)
    if spec is None or spec.loader is None:  # the config's check admits only FILE.py, which has a loader
        raise LlmdeckError(f"reward_fn: {file}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise LlmdeckError(f"reward_fn: importing {file} failed ({type(exc).__name__}: {exc})") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise LlmdeckError(f"reward_fn: {file} has no function {name!r}")
    return function


def load_reward_model(reference: str, dtype):
    """A reward model ready to score: the reward run's base with its score head and adapter merged (or a full /
    HF directory), and the tokenizer it was trained with (its chat template renders what it scores)."""
    from llmdeck.tuning.heads import load_task_model

    model, tokenizer = load_task_model(reference, dtype)
    model.eval()
    model.requires_grad_(False)
    return model, tokenizer
