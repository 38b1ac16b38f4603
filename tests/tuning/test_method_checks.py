"""Fast checks of the newer methods: configs refused in one line before any model loads, the data readers of the
label/prompt/tokens/qa forms, rule rewards, task metrics, adapter sizes, export/merge refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.core.errors import BadInput
from llmdeck.tuning import data, rewards
from llmdeck.tuning.config import TrainConfig, load_config
from llmdeck.tuning.methods import METHODS
from llmdeck.tuning.registry import Registry
from tests.tuning.conftest import write_jsonl

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def run_cli(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


# -- configs ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, expected",
    [
        (["--method", "grpo"], "reward_model: grpo needs a reward"),
        (["--method", "rloo", "--reward-json", "--batch-size", "3"], "num_generations: rloo scores groups"),
        (["--method", "dpo", "--tuning", "prompt"], "tuning: prompt tuning (soft prompts) trains with method sft"),
        (["--method", "kto", "--batch-size", "1"], "batch_size: kto needs at least 2 rows per batch"),
        (["--method", "sft", "--reward-exact"], "reward_exact: rewards are for method grpo or rloo"),
        (["--method", "mlm", "--tuning", "prefix"], "tuning: mlm trains with lora, dora, ia3 or full"),
        (["--method", "token-cls", "--format", "text"], "dataset_format: method token-cls needs tokens data, not text"),
        (["--method", "grpo", "--reward-fn", "rewards.py"], "reward_fn: 'rewards.py': expected FILE.py:FUNCTION"),
        (["--method", "grpo", "--reward-regex", "("], "reward_regex: not a valid regular expression"),
        (["--method", "grpo", "--reward-length", "50-10"], "reward_length: MIN 50 is above MAX 10"),
    ],
)
def test_bad_configs_fail_in_one_line_before_any_model_loads(args, expected, llmdeck_home):
    line = one_line_error(run_cli("train", *args, "--dry-run"))
    assert expected in line
    assert not list((llmdeck_home / "runs").glob("*"))


def test_every_method_names_its_formats_and_the_defaults_validate():
    for method, formats in ((name, spec.formats) for name, spec in METHODS.items()):
        config = TrainConfig(method=method, **({"reward_exact": True} if METHODS[method].online else {}))
        assert config.method == method and formats
        assert data.prepare(None, method=method).report.format in formats  # the bundled sample fits the method


def test_reward_function_and_reward_model_are_checked_at_launch(tmp_path, llmdeck_home):
    rewards_file = tmp_path / "rewards.py"
    rewards_file.write_text("def brevity(prompts, completions, **kw):\n    return [1.0 for _ in completions]\n")
    line = one_line_error(run_cli("train", "--method", "grpo", "--reward-fn", f"{rewards_file}:missing", "--dry-run"))
    assert "has no top-level function 'missing' (functions found: brevity)" in line
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    assert "broken.py:1: not valid Python" in one_line_error(
        run_cli("train", "--method", "grpo", "--reward-fn", f"{broken}:f", "--dry-run")
    )
    missing = one_line_error(run_cli("train", "--method", "grpo", "--reward-fn", "nope.py:f", "--dry-run"))
    assert "reward_fn: nope.py: no such file" in missing
    sft_run = completed_run("an-sft-run", "sft", "lora")
    line = one_line_error(run_cli("train", "--method", "grpo", "--reward-model", sft_run.id, "--dry-run"))
    assert f"reward_model: run {sft_run.id} is a sft run; expected a --method reward run" in line
    assert rewards.function_name(f"{rewards_file}:brevity") == "brevity"
    assert rewards.load_user_function(f"{rewards_file}:brevity")([], ["a", "b"]) == [1.0, 1.0]


def test_example_configs_of_every_method_load():
    files = sorted(CONFIGS.glob("*.yaml"))
    methods = {load_config(path).method for path in files if "accelerate" not in path.name}
    assert methods == set(METHODS)
    tunings = {load_config(path).tuning for path in files if "accelerate" not in path.name}
    assert {"dora", "ia3", "prompt", "prefix", "ptuning"} <= tunings


# -- data ---------------------------------------------------------------------------------------------------------
def test_preference_label_form_kto_unpairs_pairs_and_paired_methods_refuse_labels(tmp_path):
    labelled = write_jsonl(
        tmp_path / "kto.jsonl",
        [
            {"prompt": "Hi?", "completion": "Hello!", "label": True},
            {"prompt": "Hi?", "completion": "Go away.", "label": "false"},  # CSV-style text
            {"prompt": "Hi?", "completion": "Hm.", "label": "maybe"},
        ],
    )
    report = data.check(labelled)
    assert report.format == "preference" and report.valid == 2 and report.bad_count == 1
    assert "label: expected true (a desirable completion) or false, found 'maybe'" in report.bad_rows[0].problem
    examples = data.prepare(labelled, method="kto", skip_bad=True).examples
    assert [e["label"] for e in examples] == [True, False] and examples[0]["completion"][0]["role"] == "assistant"
    with pytest.raises(BadInput, match="a labelled \\(unpaired\\) row trains with method kto"):
        data.prepare(labelled, method="dpo", skip_bad=True)
    paired = data.prepare(data.bundled_sample("dpo"), method="kto").examples
    pairs = data.prepare(data.bundled_sample("dpo"), method="dpo").examples
    assert len(paired) == 2 * len(pairs) and [e["label"] for e in paired[:2]] == [True, False]


def test_rl_prompts_with_answers_and_conversations_as_prompts(tmp_path):
    prompts = write_jsonl(
        tmp_path / "p.jsonl",
        [{"prompt": "2+2?", "answer": 4}, {"prompt": "Say hi."}, {"prompt": [{"role": "assistant", "content": "x"}]}],
    )
    report = data.check(prompts)
    assert report.format == "prompt" and report.valid == 2
    assert "prompt: expected it to end with a user turn" in report.bad_rows[0].problem
    examples = data.prepare(prompts, method="grpo", skip_bad=True).examples
    assert (
        examples[0] == {"prompt": [{"role": "user", "content": "2+2?"}], "answer": "4"} and "answer" not in examples[1]
    )
    from_sft = data.prepare(data.bundled_sample("sft"), method="rloo").examples
    assert all(set(e) <= {"prompt", "answer", "tools"} and e["prompt"][-1]["role"] == "user" for e in from_sft)
    with pytest.raises(BadInput, match="method grpo needs prompt, alpaca, sharegpt, messages data, found tokens"):
        data.prepare(data.bundled_sample("token-cls"), method="grpo")


def test_tokens_and_qa_rows_are_checked(tmp_path):
    tokens = write_jsonl(
        tmp_path / "ner.jsonl",
        [
            {"tokens": ["Ada", "Lovelace"], "tags": ["B-PER", "I-PER"]},
            {"tokens": ["Paris"], "ner_tags": [3]},
            {"tokens": ["a", "b"], "tags": ["O"]},
        ],
    )
    report = data.check(tokens)
    assert report.format == "tokens" and report.valid == 2
    assert report.bad_rows[0].problem == "tags: 1 labels for 2 tokens; expected one label per word"
    qa = write_jsonl(
        tmp_path / "qa.jsonl",
        [
            {"question": "Where?", "context": "It is in Rome.", "answer": "Rome"},
            {"question": "Where?", "context": "It is in Rome.", "answers": {"text": ["Rome"], "answer_start": [9]}},
            {"question": "Where?", "context": "It is in Rome.", "answer": "Paris"},
            {"question": "Where?", "context": "It is in Rome.", "answers": {"text": ["Rome"], "answer_start": [2]}},
        ],
    )
    report = data.check(qa)
    assert report.format == "qa" and report.valid == 2 and report.bad_count == 2
    assert "does not occur in the context" in report.bad_rows[0].problem
    assert "answer_start: 2 does not point at the answer" in report.bad_rows[1].problem
    rows = data.prepare(qa, method="extractive-qa", skip_bad=True).examples
    assert rows[0]["answer_start"] == rows[1]["answer_start"] == 9


def test_every_bundled_sample_is_clean():
    for method in METHODS:
        report = data.check(data.bundled_sample(method))
        assert report.bad_count == 0 and report.valid >= 16, method


# -- rewards and metrics ------------------------------------------------------------------------------------------
def test_rule_rewards_read_conversational_completions():
    said = lambda text: [{"role": "assistant", "content": text}]  # noqa: E731
    completions = [said(" 42. "), said("forty-two"), said('{"a": 1}')]
    assert rewards.exact_match([], completions, answer=["42", "42", None]) == [1.0, 0.0, None]
    assert rewards.regex_reward(r"^\s*\d+")([], completions) == [1.0, 0.0, 0.0]
    assert rewards.length_reward("4-9")([], completions) == [0.0, 1.0, 1.0]  # "42." is 3 characters once trimmed
    assert rewards.json_reward([], completions) == [0.0, 0.0, 1.0]
    assert rewards.json_reward([], ["[1, 2]", "{oops"]) == [1.0, 0.0]  # plain-text completions too


def test_squad_exact_match_and_f1():
    from llmdeck.tuning.methods.extractive_qa import exact_match, token_f1

    assert exact_match("The Rome.", "rome") == 1.0 and token_f1("in old Rome", "Rome") == pytest.approx(0.5)
    assert token_f1("Paris", "Rome") == 0.0 and exact_match("", "") == 1.0


@pytest.mark.slow  # seqeval imports scikit-learn (seconds)
def test_entity_f1_is_seqeval_entity_level():
    from types import SimpleNamespace

    import numpy as np

    from llmdeck.tuning.methods.token_cls import IGNORED, entity_metrics

    id2label = {0: "O", 1: "B-PER", 2: "I-PER"}
    logits = np.zeros((1, 5, 3))
    for position, label in enumerate([0, 1, 2, 0, 1]):  # predicted: [CLS] B I O B
        logits[0, position, label] = 1.0
    gold = np.array([[IGNORED, 1, 2, 0, 0]])  # one gold entity (Ada Lovelace), one spurious prediction
    scores = entity_metrics(id2label)(SimpleNamespace(predictions=logits, label_ids=gold))
    assert scores["precision"] == 0.5 and scores["recall"] == 1.0 and scores["f1"] == pytest.approx(2 / 3)


def test_adapter_sizes_per_tuning():
    from llmdeck.tuning.estimate import adapter_parameters

    linears = [("layers.0.q_proj", 64, 64), ("layers.0.v_proj", 64, 32), ("layers.0.down_proj", 128, 64)]
    facts = {"hidden_size": 64, "num_layers": 2}
    size = lambda **values: adapter_parameters(TrainConfig(**values), linears, facts)  # noqa: E731
    lora = size(tuning="lora", lora_r=4)
    assert lora == 4 * (128 + 96 + 192) and size(tuning="dora", lora_r=4) == lora + 64 + 32 + 64
    assert size(tuning="ia3") == 32 + 64  # v_proj and down_proj outputs
    assert size(tuning="prompt", num_virtual_tokens=10) == 640
    assert size(tuning="prefix", num_virtual_tokens=10) == 10 * 2 * 2 * 64


# -- refusals of what cannot be merged --------------------------------------------------------------------------
def completed_run(name: str, method: str, tuning: str, base: str = "smollm2-135m-instruct"):
    registry = Registry()
    run = registry.create(name, method, base, "-", {"method": method, "tuning": tuning, "base_model": base}, "local")
    (run.path / "adapter").mkdir()
    (run.path / "adapter" / "adapter_config.json").write_text(json.dumps({"peft_type": tuning.upper()}))
    registry.update(run.id, status="completed")
    return registry.get(run.id)


def test_export_and_chat_adapter_refuse_what_they_cannot_merge(llmdeck_home):
    prompt_run = completed_run("soft", "sft", "prompt")
    line = one_line_error(run_cli("export", prompt_run.id))
    assert "is an HF-only adapter (prompt tuning" in line and "PeftModel.from_pretrained" in line
    tagger = completed_run("tagger", "token-cls", "lora")
    assert "is a token-cls model (a task head" in one_line_error(run_cli("export", tagger.id))
    scorer = completed_run("scorer", "reward", "lora")
    assert f"llmdeck reward score {scorer.id}" in one_line_error(run_cli("export", scorer.id))
    dora = completed_run("dora-run", "sft", "dora")
    assert "llama.cpp applies plain LoRA adapters only" in one_line_error(run_cli("chat", "--adapter", dora.id, "hi"))
    assert "expected a token-cls or extractive-qa or mlm or reward run" in one_line_error(
        run_cli("predict", dora.id, "some text")
    )
    assert "expected a reward run" in one_line_error(run_cli("reward", "score", tagger.id, "--data", "x.jsonl"))


def test_merge_is_checked_before_any_weight_is_read(tmp_path, llmdeck_home):
    a, b = completed_run("a", "sft", "lora"), completed_run("b", "sft", "lora")
    soft, other_base = completed_run("soft", "sft", "prefix"), completed_run("c", "sft", "lora", base="/models/x")
    hf = [tmp_path / "m1", tmp_path / "m2"]
    for folder in hf:
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    merge = lambda *args: run_cli("merge", *args, "--out", "merged")  # noqa: E731
    assert "slerp interpolates exactly two models, got 3" in one_line_error(
        merge("--method", "slerp", "--models", a.id, b.id, str(hf[0]))
    )
    assert "--weights: 1 weights for 2 models" in one_line_error(
        merge("--method", "linear", "--models", a.id, b.id, "--weights", "1")
    )
    assert "--base: ties merges each model's difference" in one_line_error(
        merge("--method", "ties", "--models", *map(str, hf))
    )
    assert "is a prefix-tuning run: an HF-only adapter" in one_line_error(
        merge("--method", "linear", "--models", a.id, soft.id)
    )
    assert "trained on different bases" in one_line_error(merge("--method", "linear", "--models", a.id, other_base.id))
    assert "slerp merges whole models (drop --as-adapter)" in one_line_error(
        merge("--method", "slerp", "--models", a.id, b.id, "--as-adapter")
    )
    assert "is not a LoRA run" in one_line_error(
        merge("--method", "linear", "--models", a.id, str(hf[0]), "--as-adapter")
    )
    assert "a run with that name exists" in one_line_error(
        run_cli("merge", "--method", "linear", "--models", a.id, b.id, "--out", "a")
    )
    assert [run.method for run in Registry().list()].count("merge") == 0


def test_merge_takes_space_or_comma_separated_values():
    from llmdeck.cli import merge

    context = merge.command.make_context(
        "merge", ["--method", "linear", "--models", "a", "b", "c", "--weights", "0.5,0.3", "0.2", "--out", "abc"]
    )
    assert merge._values(context.params["models"]) == ["a", "b", "c"]
    assert merge._values(context.params["weights"]) == ["0.5", "0.3", "0.2"] and context.params["name"] == "abc"
