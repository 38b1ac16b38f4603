"""Export one finished run two ways and compare: (a) the raw steps a user would type, (b) `llmdeck export`.

(a) a peft merge script (the base dequantized from its GGUF, merge_and_unload, save_pretrained: transformers
    refuses to save a GGUF-loaded model until its GGUF quantizer is removed, one more line), llama.cpp's
    convert_hf_to_gguf.py CLI to f16, then llama.cpp's quantize (llama_model_quantize) once per quant;
(b) `llmdeck export RUN --quant q8_0,q4_k_m`, which also scores f16 and each quant on the run's eval split.

The run: LoRA SFT on the embedded SmolLM2-135M-Instruct, a few steps on the bundled sample. Pairs alternate
(a, b) so machine noise hits both; medians over pairs. Rows: wall time (target ours <= 1.1x raw), each file's
size against the raw pipeline's, and each quant's loss delta against f16 (what the raw steps do not show).
Run: python bench/export_pipeline.py [--pairs N]
"""

from __future__ import annotations

import argparse
import json
import os
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
    result = run([sys.executable, "-m", "llmdeck.cli", "train", "--name", "bench-export", "--max-steps", "4",
                  "--batch-size", "4", "--max-length", "128", "--max-samples", "16", "--eval-split", "0.25",
                  "--learning-rate", "1e-3", "--save-steps", "100", "--wait", "--json"], env)
    return json.loads(result.stdout)["run"]


def raw_pipeline(run_info: dict, work: Path, env: dict) -> tuple[float, dict[str, int]]:
    """What a user types: merge script, converter CLI, quantize per type; returns (seconds, sizes)."""
    from llmdeck.core.embedded import embedded_chat_model_path
    from llmdeck.core.quantize import QUANT_TYPES
    from llmdeck.tuning.converter import find_converter

    gguf = embedded_chat_model_path()
    converter = find_converter()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    start = time.perf_counter()
    run([sys.executable, "-c", MERGE_SCRIPT, str(gguf.parent), gguf.name, run_info["adapter"], str(work / "merged")], env)
    run([sys.executable, str(converter.hf_script), str(work / "merged"), "--outfile", str(work / "f16.gguf"),
         "--outtype", "f16"], env)
    for quant in QUANTS:
        run([sys.executable, "-c", QUANTIZE_SCRIPT, str(work / "f16.gguf"), str(work / f"{quant}.gguf"),
             str(QUANT_TYPES[quant])], env)
    seconds = time.perf_counter() - start
    sizes = {"f16": (work / "f16.gguf").stat().st_size, **{q: (work / f"{q}.gguf").stat().st_size for q in QUANTS}}
    shutil.rmtree(work, ignore_errors=True)
    return seconds, sizes


def llmdeck_export(run_id: str, name: str, env: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    result = run([sys.executable, "-m", "llmdeck.cli", "export", run_id, "--quant", ",".join(QUANTS), "--name", name,
                  "--json"], env)
    return time.perf_counter() - start, json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="llmdeck-bench-export-"))
    env = {**os.environ, "LLMDECK_HOME": str(home / "home"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    os.environ.update({"LLMDECK_HOME": env["LLMDECK_HOME"]})
    try:
        run_info = train_run(env)
        raw_times, ours_times, reports, raw_sizes = [], [], [], {}
        for pair in range(args.pairs):
            seconds, raw_sizes = raw_pipeline(run_info, home / "raw", env)
            raw_times.append(seconds)
            log(f"pair {pair + 1}: raw steps {seconds:.1f}s")
            seconds, report = llmdeck_export(run_info["id"], f"bench{pair}", env)
            ours_times.append(seconds)
            reports.append(report)
            log(f"pair {pair + 1}: llmdeck export {seconds:.1f}s (stages {report['stage_seconds']})")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    raw_median, ours_median = statistics.median(raw_times), statistics.median(ours_times)
    last = reports[-1]
    eval_seconds = statistics.median(sum(v for k, v in r["stage_seconds"].items() if k.startswith("eval")) for r in reports)
    rows = [
        {"metric": "export wall s (q8_0+q4_k_m, eval included)", "ours": round(ours_median, 2),
         "baseline": round(raw_median, 2), "ratio": round(ours_median / raw_median, 3), "target": "<= 1.1"},
        {"metric": "of which eval s (f16 + each quant)", "ours": round(eval_seconds, 2), "baseline": None,
         "ratio": None, "target": "report"},
        {"metric": "f16 size bytes", "ours": last["f16_size_bytes"], "baseline": raw_sizes["f16"],
         "ratio": round(last["f16_size_bytes"] / raw_sizes["f16"], 4), "target": "1.0"},
    ]
    for item in last["quants"]:
        rows.append({"metric": f"{item['quant']} size bytes", "ours": item["size_bytes"],
                     "baseline": raw_sizes[item["quant"]], "ratio": round(item["size_bytes"] / raw_sizes[item["quant"]], 4),
                     "target": "1.0"})
        rows.append({"metric": f"{item['quant']} loss delta vs f16 (nats/token)", "ours": round(item["loss_delta"], 5),
                     "baseline": None, "ratio": None, "target": "report"})
    for row in rows:
        log(f"{row['metric']:45} ours {row['ours']}  baseline {row['baseline']}  ratio {row['ratio']}")
    log(f"raw runs {[round(t, 1) for t in raw_times]}, export runs {[round(t, 1) for t in ours_times]}")
    print("SUMMARY " + json.dumps({"bench": "export_pipeline", "rows": rows}))


if __name__ == "__main__":
    main()
