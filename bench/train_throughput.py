"""Training throughput: a plain trl SFTTrainer script with trl defaults vs `llmdeck train`.

Same base model (the embedded SmolLM2-135M-Instruct GGUF, dequantized), same data (the bundled
sample conversations), same settings (LoRA r=16 all-linear, max length 256, batch 4, gradient
checkpointing, lr 2e-4, CPU threads); each side runs in its own process. Tokens/s counts real
(non-padding) tokens trained per second of the training loop; peak RSS is the training process's.
    python bench/train_throughput.py [--repeats 3] [--baseline-steps 12] [--ours-steps 12]
Pairs alternate baseline/ours; the ratio is the median of per-pair ratios (the machine is noisy).

`--methods dora,ia3,prompt,prefix,ptuning,kto,reward,grpo,rloo` adds a row per method (tuning types train SFT):
samples/s (sequences, or for grpo/rloo completions, per second of the training loop), against the plain trl
script with the same settings; grpo/rloo rows also split the loop into generation and training seconds.
`token-cls,extractive-qa,mlm` train LoRA heads on the embedded all-MiniLM-L6-v2 against a plain transformers
`Trainer` script (same model, bundled sample, batch, steps, LoRA and precision).
    python bench/train_throughput.py --methods dora,kto,grpo --repeats 1 --method-steps 4 --skip-sft
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_LENGTH, BATCH, LORA_R, LR = 256, 4, 16, 2e-4


def baseline(steps: int) -> dict:
    """What a user writes from trl's docs: SFTTrainer + LoraConfig, trl defaults for everything else."""
    import resource

    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from llmdeck.core.embedded import embedded_chat_model_path
    from llmdeck.tuning import data

    gguf = embedded_chat_model_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer.remove_quantization_config(model)  # dequantized weights; the Trainer refuses the GGUF marker
    dataset = data.to_dataset(data.prepare(None).examples)
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(
            output_dir=out,
            max_length=MAX_LENGTH,
            per_device_train_batch_size=BATCH,
            max_steps=steps,
            learning_rate=LR,
            gradient_checkpointing=True,
            use_cpu=True,
            report_to="none",
            save_strategy="no",
            include_num_input_tokens_seen="non_padding",
            logging_steps=1,
            disable_tqdm=True,
        )
        lora = LoraConfig(r=LORA_R, lora_alpha=2 * LORA_R, target_modules="all-linear", task_type="CAUSAL_LM")
        trainer = SFTTrainer(
            model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=lora
        )
        result = trainer.train()
    tokens = trainer.state.num_input_tokens_seen
    return {
        "tokens_per_s": tokens / result.metrics["train_runtime"],
        "tokens": tokens,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "precision": autocast_phrase(trainer.args),
    }


def ours(steps: int) -> dict:
    """`llmdeck train` with the same settings and its own defaults (on CPU: bf16 frozen base where the CPU has
    native bf16, length-grouped batches; on a GPU: padding-free packing), in its own LLMDECK_HOME."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "LLMDECK_HOME": home}
        command = [
            sys.executable,
            "-m",
            "llmdeck.cli",
            "train",
            "--max-length",
            str(MAX_LENGTH),
            "--batch-size",
            str(BATCH),
            "--lora-r",
            str(LORA_R),
            "--lora-alpha",
            str(2 * LORA_R),
            "--max-steps",
            str(steps),
            "--learning-rate",
            str(LR),
            "--gradient-checkpointing",
            "--save-steps",
            "1000",
            "--wait",
            "--json",
        ]
        result = subprocess.run(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise SystemExit(f"llmdeck train failed (exit {result.returncode})")
        run = json.loads(result.stdout)["run"]
        rows = [json.loads(line) for line in Path(run["run_dir"], "metrics.jsonl").read_text().splitlines()]
    last = [row for row in rows if "tokens_per_s" in row][-1]
    return {
        "tokens_per_s": last["tokens_per_s"],
        "tokens": last["tokens_seen"],
        "peak_rss_bytes": last["peak_rss_bytes"],
        "precision": run["precision"],
    }


TUNINGS = ("dora", "ia3", "prompt", "prefix", "ptuning")  # trained with SFT
METHODS = ("kto", "reward", "grpo", "rloo")  # LoRA
RL_SETTINGS = {"num_generations": 4, "max_completion_length": 16}  # completions per prompt, tokens per completion
ENCODERS = ("token-cls", "extractive-qa", "mlm")  # LoRA on the embedded all-MiniLM-L6-v2, transformers' Trainer
VIRTUAL_TOKENS = 20


def method_baseline(name: str, steps: int) -> dict:
    """A plain trl script for one method or tuning type: the library's trainer and peft's config, trl defaults
    otherwise, float32 weights; samples/s from the trainer's own train_runtime."""
    import time

    import peft
    import torch
    import trl
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    from llmdeck.core.embedded import embedded_chat_model_path
    from llmdeck.tuning import data

    if name in ENCODERS:
        return encoder_baseline(name, steps)
    gguf = embedded_chat_model_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    auto = AutoModelForSequenceClassification if name == "reward" else AutoModelForCausalLM
    model = auto.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32, **({"num_labels": 1} if name == "reward" else {})
    )
    model.hf_quantizer.remove_quantization_config(model)
    if name == "reward":
        model.config.pad_token_id = tokenizer.pad_token_id
    task = "SEQ_CLS" if name == "reward" else "CAUSAL_LM"
    peft_config = {
        "dora": lambda: peft.LoraConfig(
            r=LORA_R, lora_alpha=2 * LORA_R, target_modules="all-linear", use_dora=True, task_type=task
        ),
        "ia3": lambda: peft.IA3Config(task_type=task),
        "prompt": lambda: peft.PromptTuningConfig(num_virtual_tokens=VIRTUAL_TOKENS, task_type=task),
        "prefix": lambda: peft.PrefixTuningConfig(num_virtual_tokens=VIRTUAL_TOKENS, task_type=task),
        "ptuning": lambda: peft.PromptEncoderConfig(num_virtual_tokens=VIRTUAL_TOKENS, task_type=task),
    }.get(name, lambda: peft.LoraConfig(r=LORA_R, lora_alpha=2 * LORA_R, target_modules="all-linear", task_type=task))()
    method = name if name in METHODS else "sft"
    dataset = data.to_dataset(data.prepare(None, method=method).examples)
    with tempfile.TemporaryDirectory() as out:
        common = dict(
            output_dir=out,
            per_device_train_batch_size=BATCH,
            max_steps=steps,
            learning_rate=LR,
            gradient_checkpointing=name != "prefix",
            use_cpu=True,
            report_to="none",
            save_strategy="no",
            logging_steps=1,
            disable_tqdm=True,
        )
        kwargs = dict(model=model, train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config)
        generation = {"seconds": 0.0}
        if method in ("grpo", "rloo"):

            def exact(prompts, completions, answer, **_):  # the same rule as `--reward-exact`, written plainly
                return [
                    float(c[0]["content"].strip().rstrip(".").casefold() == a.strip().rstrip(".").casefold())
                    for c, a in zip(completions, answer)
                ]

            base = trl.GRPOTrainer if method == "grpo" else trl.RLOOTrainer
            config = (trl.GRPOConfig if method == "grpo" else trl.RLOOConfig)(**common, **RL_SETTINGS)

            class Stopwatch(base):  # measures only: time spent sampling and scoring completions
                def _generate_and_score_completions(self, inputs):
                    start = time.perf_counter()
                    try:
                        return super()._generate_and_score_completions(inputs)
                    finally:
                        generation["seconds"] += time.perf_counter() - start

            trainer = Stopwatch(args=config, reward_funcs=exact, **kwargs)
        else:
            trainer_class, config_class = {
                "kto": (trl.KTOTrainer, trl.KTOConfig),
                "reward": (trl.RewardTrainer, trl.RewardConfig),
            }.get(method, (trl.SFTTrainer, trl.SFTConfig))
            trainer = trainer_class(args=config_class(**common, max_length=MAX_LENGTH), **kwargs)
        runtime = trainer.train().metrics["train_runtime"]
    result = {"samples_per_s": steps * BATCH / runtime, "seconds": runtime, "precision": autocast_phrase(trainer.args)}
    if method in ("grpo", "rloo"):
        result.update(generation_s=generation["seconds"], train_s=runtime - generation["seconds"])
    return result


def encoder_baseline(name: str, steps: int) -> dict:
    """A plain transformers script for an encoder head: the Auto head class, the task's usual tokenization and
    data collator, peft's LoraConfig, `Trainer` with its defaults otherwise; bf16 mixed precision where the CPU has
    native bf16 (what `precision: auto` picks for a head), else fp32."""
    import peft
    import transformers
    from transformers import AutoTokenizer, Trainer, TrainingArguments

    from llmdeck.core.embedded import embedded_embedding_model_dir
    from llmdeck.core.hardware import cpu_bf16_support
    from llmdeck.tuning import data

    base = embedded_embedding_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(base)
    rows = data.prepare(None, method=name).examples
    if name == "token-cls":
        tags = sorted({tag for row in rows for tag in row["tags"]})
        model = transformers.AutoModelForTokenClassification.from_pretrained(base, num_labels=len(tags))
        features = []
        for row in rows:
            encoded = tokenizer(row["tokens"], is_split_into_words=True, truncation=True, max_length=MAX_LENGTH)
            words = encoded.word_ids()
            labels = [
                -100 if w is None or w == p else tags.index(row["tags"][w]) for w, p in zip(words, [None, *words])
            ]
            features.append({**encoded, "labels": labels})
        collator, task, head = transformers.DataCollatorForTokenClassification(tokenizer), "TOKEN_CLS", "classifier"
    elif name == "extractive-qa":
        model = transformers.AutoModelForQuestionAnswering.from_pretrained(base)
        features = []
        for row in rows:
            encoded = tokenizer(row["question"], row["context"], truncation="only_second", max_length=MAX_LENGTH)
            start = encoded.char_to_token(row["answer_start"], sequence_index=1)
            end = encoded.char_to_token(row["answer_start"] + len(row["answer_text"]) - 1, sequence_index=1)
            features.append({**encoded, "start_positions": start or 0, "end_positions": end or 0})
        collator, task, head = transformers.DataCollatorWithPadding(tokenizer), "QUESTION_ANS", "qa_outputs"
    else:
        model = transformers.AutoModelForMaskedLM.from_pretrained(base)
        features = [dict(tokenizer(row["text"], truncation=True, max_length=MAX_LENGTH)) for row in rows]
        collator, task, head = transformers.DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15), None, None
    # the task type trains the new head whole; peft refuses a LoRA inside it, so the head is excluded from all-linear
    lora = peft.LoraConfig(
        r=LORA_R,
        lora_alpha=2 * LORA_R,
        target_modules="all-linear",
        task_type=task,
        exclude_modules=[head] if head else None,
    )
    model = peft.get_peft_model(model, lora)
    bf16 = bool(cpu_bf16_support()["native_bf16"])
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=BATCH,
            max_steps=steps,
            learning_rate=LR,
            gradient_checkpointing=True,
            use_cpu=True,
            bf16=bf16,
            report_to="none",
            save_strategy="no",
            logging_steps=1,
            disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=args, train_dataset=data.to_dataset(features), data_collator=collator)
        runtime = trainer.train().metrics["train_runtime"]
    return {"samples_per_s": steps * BATCH / runtime, "seconds": runtime, "precision": autocast_phrase(trainer.args)}


def autocast_phrase(args) -> str:
    """The baseline's precision as its Trainer runs it: trl's configs default to bf16=True, so fp32 weights
    train under bf16 autocast on CPU too."""
    return "bf16 mixed (fp32 weights, bf16 autocast)" if args.bf16 else "fp32"


def method_ours(name: str, steps: int) -> dict:
    """`llmdeck train` for one method or tuning type with the baseline's settings and its own defaults."""
    flags = ["--tuning", name] if name in TUNINGS else ["--method", name]
    if name in TUNINGS:
        flags += ["--num-virtual-tokens", str(VIRTUAL_TOKENS)]
    if name in ("grpo", "rloo"):
        flags += [
            "--reward-exact",
            "--num-generations",
            str(RL_SETTINGS["num_generations"]),
            "--max-completion-length",
            str(RL_SETTINGS["max_completion_length"]),
        ]
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "LLMDECK_HOME": home}
        command = [
            sys.executable,
            "-m",
            "llmdeck.cli",
            "train",
            *flags,
            "--max-length",
            str(MAX_LENGTH),
            "--batch-size",
            str(BATCH),
            "--lora-r",
            str(LORA_R),
            "--lora-alpha",
            str(2 * LORA_R),
            "--max-steps",
            str(steps),
            "--learning-rate",
            str(LR),
            "--save-steps",
            "1000",
            "--allow-truncation",
            "--force",
            "--wait",
            "--json",
        ]
        result = subprocess.run(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise SystemExit(f"llmdeck train {' '.join(flags)} failed (exit {result.returncode})")
        run = json.loads(result.stdout)["run"]
        rows = [json.loads(line) for line in Path(run["run_dir"], "metrics.jsonl").read_text().splitlines()]
    trained = [row for row in rows if "loss" in row]
    seconds = trained[-1]["elapsed_s"]
    out = {"samples_per_s": steps * BATCH / seconds, "seconds": seconds, "precision": run["precision"]}
    if name in ("grpo", "rloo"):
        out.update(
            generation_s=sum(row["generation_s"] for row in trained), train_s=sum(row["train_s"] for row in trained)
        )
    return out


def method_rows(names: list[str], steps: int, repeats: int) -> list[dict]:
    rows = []
    for name in names:
        pairs = []
        for repeat in range(1, repeats + 1):
            base = json.loads(
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--side",
                        "baseline",
                        "--method-side",
                        name,
                        "--method-steps",
                        str(steps),
                    ],
                    cwd=REPO_ROOT,
                    stdout=subprocess.PIPE,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            mine = method_ours(name, steps)
            pairs.append((base, mine))
            split = (
                f" (generation {base['generation_s']:.1f}s / training {base['train_s']:.1f}s vs "
                f"{mine['generation_s']:.1f}s / {mine['train_s']:.1f}s)"
                if "generation_s" in base
                else ""
            )
            print(
                f"{name} {repeat}/{repeats}: baseline {base['samples_per_s']:.3f} samples/s; ours "
                f"{mine['samples_per_s']:.3f} samples/s ({mine['precision']}){split}",
                file=sys.stderr,
                flush=True,
            )
        ratios = [m["samples_per_s"] / b["samples_per_s"] for b, m in pairs]
        model = "all-MiniLM-L6-v2" if name in ENCODERS else "SmolLM2-135M"
        row = {
            "metric": f"{name} samples/s ({'SFT, ' if name in TUNINGS else ''}"
            f"{'LoRA, ' if name in METHODS + ENCODERS else ''}{model}, CPU, {steps} steps; median of {len(pairs)})",
            "ours": round(statistics.median([m["samples_per_s"] for _, m in pairs]), 3),
            "baseline": round(statistics.median([b["samples_per_s"] for b, _ in pairs]), 3),
            "ratio": round(statistics.median(ratios), 2),
            "ratios": [round(r, 2) for r in ratios],
            "target": ">= 1.0",
            "precision": {"ours": pairs[0][1]["precision"], "baseline": pairs[0][0]["precision"]},
        }
        if name in ("grpo", "rloo"):
            row["generation_s"] = {
                "ours": round(statistics.median([m["generation_s"] for _, m in pairs]), 1),
                "baseline": round(statistics.median([b["generation_s"] for b, _ in pairs]), 1),
            }
            row["train_s"] = {
                "ours": round(statistics.median([m["train_s"] for _, m in pairs]), 1),
                "baseline": round(statistics.median([b["train_s"] for b, _ in pairs]), 1),
            }
        rows.append(row)
    return rows


def run_baseline(steps: int) -> dict:
    child = subprocess.run(
        [sys.executable, __file__, "--side", "baseline", "--baseline-steps", str(steps)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-steps", type=int, default=12)
    parser.add_argument("--ours-steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3, help="alternating baseline/ours pairs; medians reported")
    parser.add_argument(
        "--methods", default="", help=f"comma-separated rows to add: {','.join(TUNINGS + METHODS + ENCODERS)}"
    )
    parser.add_argument(
        "--method-steps", type=int, default=4, help="steps per method row (grpo/rloo: 4 completions each)"
    )
    parser.add_argument("--skip-sft", action="store_true", help="only the --methods rows")
    parser.add_argument("--side", choices=["baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--method-side", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "baseline":  # child process: one JSON line
        print(
            json.dumps(
                method_baseline(args.method_side, args.method_steps)
                if args.method_side
                else baseline(args.baseline_steps)
            )
        )
        return
    names = [name.strip() for name in args.methods.split(",") if name.strip()]
    unknown = [name for name in names if name not in TUNINGS + METHODS + ENCODERS]
    if unknown:
        parser.error(f"--methods: unknown {', '.join(unknown)} (expected {', '.join(TUNINGS + METHODS + ENCODERS)})")
    from llmdeck.core.hardware import cpu_bf16_support

    cpu = cpu_bf16_support()
    extra = method_rows(names, args.method_steps, args.repeats)
    if args.skip_sft:
        print(f"CPU: {cpu['cpu']} ({cpu['detail']})", file=sys.stderr, flush=True)
        print(
            "SUMMARY "
            + json.dumps({"bench": "train_throughput", "rows": extra, "cpu": cpu["cpu"], "cpu_bf16": cpu["detail"]})
        )
        return
    pairs = []
    for repeat in range(1, args.repeats + 1):  # alternate, so a slow spell on the machine hits both sides
        base = run_baseline(args.baseline_steps)
        mine = ours(args.ours_steps)
        pairs.append((base, mine))
        print(
            f"pair {repeat}/{args.repeats}: baseline {base['tokens_per_s']:.1f} tokens/s "
            f"{base['peak_rss_bytes'] / 2**30:.2f} GiB; ours {mine['tokens_per_s']:.1f} tokens/s "
            f"{mine['peak_rss_bytes'] / 2**30:.2f} GiB",
            file=sys.stderr,
            flush=True,
        )

    print(
        f"CPU: {cpu['cpu']} ({cpu['detail']}); baseline precision: {pairs[0][0]['precision']}; "
        f"ours: {pairs[0][1]['precision']}",
        file=sys.stderr,
        flush=True,
    )
    speed_ratios = [m["tokens_per_s"] / b["tokens_per_s"] for b, m in pairs]
    rss_ratios = [m["peak_rss_bytes"] / b["peak_rss_bytes"] for b, m in pairs]
    rows = [
        {
            "metric": f"train tokens/s (LoRA SFT SmolLM2-135M, CPU; median of {len(pairs)})",
            "ours": round(statistics.median([m["tokens_per_s"] for _, m in pairs]), 1),
            "baseline": round(statistics.median([b["tokens_per_s"] for b, _ in pairs]), 1),
            "ratio": round(statistics.median(speed_ratios), 2),
            "ratios": [round(r, 2) for r in speed_ratios],
            "target": ">= 1.3",
        },
        {
            "metric": "peak RSS GiB",
            "ours": round(statistics.median([m["peak_rss_bytes"] for _, m in pairs]) / 2**30, 2),
            "baseline": round(statistics.median([b["peak_rss_bytes"] for b, _ in pairs]) / 2**30, 2),
            "ratio": round(statistics.median(rss_ratios), 2),
            "target": "<= 1.0",
        },
        *extra,
    ]
    print(
        "SUMMARY "
        + json.dumps(
            {
                "bench": "train_throughput",
                "rows": rows,
                "cpu": cpu["cpu"],
                "cpu_bf16": cpu["detail"],
                "precision": {"ours": pairs[0][1]["precision"], "baseline": pairs[0][0]["precision"]},
            }
        )
    )


if __name__ == "__main__":
    main()
