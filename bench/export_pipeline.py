"""Export one finished run two ways and compare: (a) the raw steps a user would type, (b) `llmdeck export`.

(a) a peft merge script (the base dequantized from its GGUF, merge_and_unload, save_pretrained: transformers
    refuses to save a GGUF-loaded model until its GGUF quantizer is removed, one more line), llama.cpp's
    convert_hf_to_gguf.py CLI to f16, then llama.cpp's quantize (llama_model_quantize) once per quant;
(b) `llmdeck export RUN --quant q8_0,q4_k_m --no-eval`: the same work (target <= 1.1x the raw steps);
(c) `llmdeck export RUN --quant q8_0,q4_k_m`, which also scores f16 and each quant on the run's eval split.

The run: LoRA SFT on the embedded SmolLM2-135M-Instruct, a few steps on the bundled sample. Rounds run the
three in rotating order so machine noise hits all; medians over rounds, wall time and the CPU time of the
child processes (steadier on a shared machine). Rows: wall time (target ours <= 1.1x raw), each file's
size against the raw pipeline's, and each quant's loss delta against f16 (what the raw steps do not show).
Run: python bench/export_pipeline.py [--pairs N]  (N rounds)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUANTS = ("q8_0", "q4_k_m")
MERGE_SCRIPT = """
import sys, torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
gguf_dir, gguf_file, adapter, out = sys.argv[1:5]
model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32)
model.hf_quantizer.remove_quantization_config(model)  # else save_pretrained refuses a GGUF-loaded model
model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
model.save_pretrained(out)
AutoTokenizer.from_pretrained(adapter).save_pretrained(out)
"""
QUANTIZE_SCRIPT = """
import ctypes, os, sys, llama_cpp
source, target, ftype = sys.argv[1], sys.argv[2], int(sys.argv[3])
params = llama_cpp.llama_model_quantize_default_params()
params.ftype, params.nthread = ftype, os.cpu_count()
sys.exit(llama_cpp.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params)))
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(command: list[str], env: dict, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=env, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command[:4])}...\n{result.stderr[-3000:]}")
    return result


def train_run(env: dict) -> dict:
    log("training the run (LoRA, 4 steps on the embedded SmolLM2)")
    result = run(
        [
            sys.executable,
            "-m",
            "llmdeck.cli",
            "train",
            "--name",
            "bench-export",
            "--max-steps",
            "4",
            "--batch-size",
            "4",
            "--max-length",
            "128",
            "--max-samples",
            "16",
            "--eval-split",
            "0.25",
            "--learning-rate",
            "1e-3",
            "--save-steps",
            "100",
            "--wait",
            "--json",
        ],
        env,
    )
    return json.loads(result.stdout)["run"]


def timed(work) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of the child processes, result): the CPU time is what the steps cost
    whatever else the shared machine runs meanwhile."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = work()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), result


def raw_pipeline(run_info: dict, work: Path, env: dict) -> dict[str, int]:
    """What a user types: merge script, converter CLI, quantize per type; returns the file sizes."""
    from llmdeck.core.embedded import embedded_chat_model_path
    from llmdeck.core.quantize import QUANT_TYPES
    from llmdeck.tuning.converter import find_converter

    gguf = embedded_chat_model_path()
    converter = find_converter()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run(
        [sys.executable, "-c", MERGE_SCRIPT, str(gguf.parent), gguf.name, run_info["adapter"], str(work / "merged")],
        env,
    )
    run(
        [
            sys.executable,
            str(converter.hf_script),
            str(work / "merged"),
            "--outfile",
            str(work / "f16.gguf"),
            "--outtype",
            "f16",
        ],
        env,
    )
    for quant in QUANTS:
        run(
            [
                sys.executable,
                "-c",
                QUANTIZE_SCRIPT,
                str(work / "f16.gguf"),
                str(work / f"{quant}.gguf"),
                str(QUANT_TYPES[quant]),
            ],
            env,
        )
    sizes = {"f16": (work / "f16.gguf").stat().st_size, **{q: (work / f"{q}.gguf").stat().st_size for q in QUANTS}}
    shutil.rmtree(work, ignore_errors=True)
    return sizes


def llmdeck_export(run_id: str, name: str, env: dict, score: bool) -> dict:
    result = run(
        [
            sys.executable,
            "-m",
            "llmdeck.cli",
            "export",
            run_id,
            "--quant",
            ",".join(QUANTS),
            "--name",
            name,
            "--json",
            *([] if score else ["--no-eval"]),
        ],
        env,
    )
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="llmdeck-bench-export-"))
    env = {**os.environ, "LLMDECK_HOME": str(home / "home"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    os.environ.update({"LLMDECK_HOME": env["LLMDECK_HOME"]})
    samples: dict[str, list[tuple[float, float]]] = {"raw": [], "ours": [], "ours+eval": []}
    reports, raw_sizes = [], {}
    try:
        run_info = train_run(env)
        variants = {
            "raw": lambda i: raw_pipeline(run_info, home / "raw", env),
            "ours": lambda i: llmdeck_export(run_info["id"], f"bench{i}", env, score=False),
            "ours+eval": lambda i: llmdeck_export(run_info["id"], f"bench{i}e", env, score=True),
        }
        order = list(variants)
        for i in range(args.pairs):
            for variant in order[i % 3 :] + order[: i % 3]:  # rotate the order: no variant always runs first
                wall, cpu, result = timed(lambda: variants[variant](i))
                samples[variant].append((wall, cpu))
                if variant == "raw":
                    raw_sizes = result
                elif variant == "ours+eval":
                    reports.append(result)
                log(f"round {i + 1}: {variant:9} wall {wall:6.1f}s  cpu {cpu:6.1f}s")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    wall = {k: statistics.median(w for w, _ in v) for k, v in samples.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in samples.items()}

    def ratio(variant: str, index: int) -> float:
        """Median of the per-round ratios: each round's runs saw the same machine load."""
        return round(statistics.median(o[index] / r[index] for o, r in zip(samples[variant], samples["raw"])), 3)

    last = reports[-1]
    eval_seconds = statistics.median(
        sum(v for k, v in r["stage_seconds"].items() if k.startswith("eval")) for r in reports
    )
    rows = [
        {
            "metric": "export wall s, q8_0+q4_k_m (same work: --no-eval)",
            "ours": round(wall["ours"], 2),
            "baseline": round(wall["raw"], 2),
            "ratio": ratio("ours", 0),
            "target": "<= 1.1",
        },
        {
            "metric": "export CPU s of all processes (same work)",
            "ours": round(cpu["ours"], 2),
            "baseline": round(cpu["raw"], 2),
            "ratio": ratio("ours", 1),
            "target": "<= 1.1",
        },
        {
            "metric": "export wall s with each quant scored (default)",
            "ours": round(wall["ours+eval"], 2),
            "baseline": round(wall["raw"], 2),
            "ratio": ratio("ours+eval", 0),
            "target": "report",
        },
        {
            "metric": "of which eval stages s (f16 + each quant)",
            "ours": round(eval_seconds, 2),
            "baseline": None,
            "ratio": None,
            "target": "report",
        },
        {
            "metric": "f16 size bytes",
            "ours": last["f16_size_bytes"],
            "baseline": raw_sizes["f16"],
            "ratio": round(last["f16_size_bytes"] / raw_sizes["f16"], 4),
            "target": "1.0",
        },
    ]
    for item in last["quants"]:
        rows.append(
            {
                "metric": f"{item['quant']} size bytes",
                "ours": item["size_bytes"],
                "baseline": raw_sizes[item["quant"]],
                "ratio": round(item["size_bytes"] / raw_sizes[item["quant"]], 4),
                "target": "1.0",
            }
        )
        rows.append(
            {
                "metric": f"{item['quant']} loss delta vs f16 (nats/token)",
                "ours": round(item["loss_delta"], 5),
                "baseline": None,
                "ratio": None,
                "target": "report",
            }
        )
    for row in rows:
        log(f"{row['metric']:50} ours {row['ours']}  baseline {row['baseline']}  ratio {row['ratio']}")
    log(
        "samples (wall, cpu): "
        + json.dumps({k: [(round(w, 1), round(c, 1)) for w, c in v] for k, v in samples.items()})
    )
    print("SUMMARY " + json.dumps({"bench": "export_pipeline", "rows": rows}))


if __name__ == "__main__":
    main()
