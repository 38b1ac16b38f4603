"""Group Relative Policy Optimization through trl's GRPOTrainer: for each prompt the policy samples
num_generations completions, the rewards (rules, your function, a reward model) score them, and each completion
is pushed up or down by how it compares with its group. One of trl 1.x's maintained successors of PPO."""

from __future__ import annotations

from llmdeck.tuning.methods import Getter, TrainingMethod, online_recipe

ONLINE_METRICS = (
    "rewards/",
    "reward",
    "kl",
    "completions/",
    "generation_",
    "train_s",
    "samples_per_s",
    "entropy",
    "frac_reward_zero_std",
)
METHOD = TrainingMethod(
    name="grpo",
    order=5,
    formats=("prompt", "alpaca", "sharegpt", "messages"),
    sample="prompt_sample.jsonl",
    summary="group relative policy optimization",
    family="online RL",
    online=True,
    metric_prefixes=ONLINE_METRICS,
)


def online_config_problems(method: str, get: Getter) -> list[str]:
    """An online method needs a reward, and each step's completions must fill whole groups of num_generations."""
    from llmdeck.tuning.config import REWARD_FIELDS

    problems = []
    if not any(get(name) not in (None, False, "") for name in REWARD_FIELDS):
        problems.append(
            f"reward_model: {method} needs a reward: reward_model (a reward run), reward_fn FILE.py:FUNCTION, "
            "or a rule (reward_exact, reward_regex, reward_length, reward_json)"
        )
    completions_per_step = get("batch_size") * get("gradient_accumulation_steps") * (get("num_processes") or 1)
    if completions_per_step % get("num_generations"):
        problems.append(
            f"num_generations: {method} scores groups of num_generations completions per prompt; "
            f"batch_size x gradient_accumulation_steps ({completions_per_step}) must be a multiple of "
            f"{get('num_generations')}"
        )
    return problems


def config_problems(get: Getter) -> list[str]:
    return online_config_problems(METHOD.name, get)


def examples(example: dict) -> list[dict]:
    """Conversations train as their prompt, the last reply becoming the answer the exact-match reward compares."""
    from llmdeck.tuning.data.formats.prompt import with_answer

    return with_answer(example)


build_trainer = online_recipe("GRPOConfig", "GRPOTrainer")
