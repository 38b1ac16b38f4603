"""Training throughput: a plain trl SFTTrainer script with trl defaults vs `llmdeck train`.

Same base model (the embedded SmolLM2-135M-Instruct GGUF, dequantized), same data (the bundled
sample conversations), same settings (LoRA r=16 all-linear, max length 256, batch 4, gradient
checkpointing, lr 2e-4, CPU threads); each side runs in its own process. Tokens/s counts real
(non-padding) tokens trained per second of the training loop; peak RSS is the training process's.
    python bench/train_throughput.py [--repeats 3] [--baseline-steps 12] [--ours-steps 12]
Pairs alternate baseline/ours; the ratio is the median of per-pair ratios (the machine is noisy).
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
        args = SFTConfig(output_dir=out, max_length=MAX_LENGTH, per_device_train_batch_size=BATCH, max_steps=steps,
                         learning_rate=LR, gradient_checkpointing=True, use_cpu=True, report_to="none",
                         save_strategy="no", include_num_input_tokens_seen="non_padding", logging_steps=1, disable_tqdm=True)
        lora = LoraConfig(r=LORA_R, lora_alpha=2 * LORA_R, target_modules="all-linear", task_type="CAUSAL_LM")
        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=lora)
        result = trainer.train()
    tokens = trainer.state.num_input_tokens_seen
    return {"tokens_per_s": tokens / result.metrics["train_runtime"], "tokens": tokens,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "precision": "fp32 (the script loads float32 weights)"}


def ours(steps: int) -> dict:
    """`llmdeck train` with the same settings and its own defaults (on CPU: bf16 frozen base where the CPU has
    native bf16, length-grouped batches; on a GPU: padding-free packing), in its own LLMDECK_HOME."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "LLMDECK_HOME": home}
        command = [sys.executable, "-m", "llmdeck.cli", "train", "--max-length", str(MAX_LENGTH), "--batch-size", str(BATCH),
                   "--lora-r", str(LORA_R), "--lora-alpha", str(2 * LORA_R), "--max-steps", str(steps),
                   "--learning-rate", str(LR), "--gradient-checkpointing", "--save-steps", "1000", "--wait", "--json"]
        result = subprocess.run(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise SystemExit(f"llmdeck train failed (exit {result.returncode})")
        run = json.loads(result.stdout)["run"]
        rows = [json.loads(line) for line in Path(run["run_dir"], "metrics.jsonl").read_text().splitlines()]
    last = [row for row in rows if "tokens_per_s" in row][-1]
    return {"tokens_per_s": last["tokens_per_s"], "tokens": last["tokens_seen"], "peak_rss_bytes": last["peak_rss_bytes"],
            "precision": run["precision"]}


def run_baseline(steps: int) -> dict:
    child = subprocess.run([sys.executable, __file__, "--side", "baseline", "--baseline-steps", str(steps)],
                           cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-steps", type=int, default=12)
    parser.add_argument("--ours-steps", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3, help="alternating baseline/ours pairs; medians reported")
    parser.add_argument("--side", choices=["baseline"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "baseline":  # child process: one JSON line
        print(json.dumps(baseline(args.baseline_steps)))
        return
    pairs = []
    for repeat in range(1, args.repeats + 1):  # alternate, so a slow spell on the machine hits both sides
        base = run_baseline(args.baseline_steps)
        mine = ours(args.ours_steps)
        pairs.append((base, mine))
        print(f"pair {repeat}/{args.repeats}: baseline {base['tokens_per_s']:.1f} tokens/s "
              f"{base['peak_rss_bytes'] / 2**30:.2f} GiB; ours {mine['tokens_per_s']:.1f} tokens/s "
              f"{mine['peak_rss_bytes'] / 2**30:.2f} GiB", file=sys.stderr, flush=True)

    from llmdeck.core.hardware import cpu_bf16_support

    cpu = cpu_bf16_support()
    print(f"CPU: {cpu['cpu']} ({cpu['detail']}); baseline precision: {pairs[0][0]['precision']}; "
          f"ours: {pairs[0][1]['precision']}", file=sys.stderr, flush=True)
    speed_ratios = [m["tokens_per_s"] / b["tokens_per_s"] for b, m in pairs]
    rss_ratios = [m["peak_rss_bytes"] / b["peak_rss_bytes"] for b, m in pairs]
    rows = [
        {"metric": f"train tokens/s (LoRA SFT SmolLM2-135M, CPU; median of {len(pairs)})",
         "ours": round(statistics.median([m["tokens_per_s"] for _, m in pairs]), 1),
         "baseline": round(statistics.median([b["tokens_per_s"] for b, _ in pairs]), 1),
         "ratio": round(statistics.median(speed_ratios), 2), "ratios": [round(r, 2) for r in speed_ratios], "target": ">= 1.3"},
        {"metric": "peak RSS GiB", "ours": round(statistics.median([m["peak_rss_bytes"] for _, m in pairs]) / 2**30, 2),
         "baseline": round(statistics.median([b["peak_rss_bytes"] for b, _ in pairs]) / 2**30, 2),
         "ratio": round(statistics.median(rss_ratios), 2), "target": "<= 1.0"},
    ]
    print("SUMMARY " + json.dumps({"bench": "train_throughput", "rows": rows, "cpu": cpu["cpu"], "cpu_bf16": cpu["detail"],
                                   "precision": {"ours": pairs[0][1]["precision"], "baseline": pairs[0][0]["precision"]}}))


if __name__ == "__main__":
    main()
