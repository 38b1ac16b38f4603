"""What GRPO with the verifier as the reward costs on this machine: trl's GRPOTrainer on the embedded SmolLM2-135M
(LoRA, the model dequantized from its GGUF as `llmdeck train` loads it), prompts from the bundled coding tasks'
train split, rewards from `agents.rewards.verify_reward` (the sandbox runs each completion against the task's
checks). Reports seconds per optimizer step (generation vs the rest), the mean reward per step, and what one
epoch over the train tasks would take.

    python bench/grpo_verify.py [--steps 4] [--generations 4] [--max-completion-length 96] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--generations", type=int, default=4, help="Completions per prompt (the GRPO group).")
    parser.add_argument("--prompts-per-step", type=int, default=1)
    parser.add_argument("--max-completion-length", type=int, default=96)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from llmdeck.agents.executor import Checks
    from llmdeck.agents.rewards import verify_reward
    from llmdeck.agents.task_sets import bundled
    from llmdeck.agents.tasks import load_tasks
    from llmdeck.agents.verify import WRITER_SYSTEM, task_prompt
    from llmdeck.tuning.models import load_base_model, load_tokenizer, resolve_base

    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = load_tasks(bundled("verify")).select("verify", "train")
    rows = [
        {
            "prompt": [
                {"role": "system", "content": WRITER_SYSTEM},
                {"role": "user", "content": task_prompt(t.task, Checks(expect=t.expect, tests=t.tests))},
            ],
            "expect": t.expect,
            "tests": t.tests,
        }
        for t in tasks
    ]
    base = resolve_base(None)
    tokenizer = load_tokenizer(base)
    model = load_base_model(base, torch.float32)
    rewards_seen: list[float] = []
    generation_seconds: list[float] = []

    def reward(prompts, completions, **columns):
        values = verify_reward(prompts, completions, **columns)
        rewards_seen.extend(values)
        return values

    class StepTimes(TrainerCallback):
        def __init__(self):
            self.started, self.times = None, []

        def on_step_begin(self, *_, **__):
            self.started = time.perf_counter()

        def on_step_end(self, *_, **__):
            self.times.append(time.perf_counter() - self.started)
            print(
                f"step {len(self.times)}: {self.times[-1]:.1f} s, mean reward so far"
                f" {statistics.fmean(rewards_seen) if rewards_seen else 0:.3f}",
                file=sys.stderr,
                flush=True,
            )

    timer = StepTimes()
    output = tempfile.mkdtemp(prefix="llmdeck-grpo-")
    config = GRPOConfig(
        output_dir=output,
        max_steps=args.steps,
        per_device_train_batch_size=args.generations * args.prompts_per_step,
        num_generations=args.generations,
        max_completion_length=args.max_completion_length,
        learning_rate=1e-5,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        temperature=0.8,
        seed=7,
        disable_tqdm=True,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"),
        callbacks=[timer],
    )
    original_generate = trainer._generate if hasattr(trainer, "_generate") else None
    if original_generate is not None:

        def timed_generate(*a, **k):
            start = time.perf_counter()
            try:
                return original_generate(*a, **k)
            finally:
                generation_seconds.append(time.perf_counter() - start)

        trainer._generate = timed_generate
    started = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - started
    per_step = statistics.median(timer.times) if timer.times else total / max(1, args.steps)
    steps_per_epoch = len(rows) / args.prompts_per_step
    rows_out = [
        {
            "metric": "seconds per GRPO step (median)",
            "ours": round(per_step, 1),
            "baseline": None,
            "ratio": None,
            "target": "report",
        },
        {
            "metric": "generation seconds per step (median)",
            "ours": round(statistics.median(generation_seconds), 1) if generation_seconds else None,
            "baseline": None,
            "ratio": None,
            "target": "report",
        },
        {
            "metric": f"hours for one epoch ({len(rows)} train coding tasks, {args.generations} completions each)",
            "ours": round(per_step * steps_per_epoch / 3600, 2),
            "baseline": None,
            "ratio": None,
            "target": "< 1 h",
        },
        {
            "metric": "mean reward over the steps",
            "ours": round(statistics.fmean(rewards_seen), 3) if rewards_seen else None,
            "baseline": None,
            "ratio": None,
            "target": "report",
        },
    ]
    print(f"total {total:.0f} s for {args.steps} steps", file=sys.stderr)
    print("SUMMARY " + json.dumps({"bench": "grpo_verify", "rows": rows_out}))


if __name__ == "__main__":
    main()
