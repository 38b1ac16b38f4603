"""The method and data-format registries: every registered method has what the registry requires (its formats,
its recipe, its sample data), and the config, CLI and messages list exactly the registered names."""

from __future__ import annotations

import json
import subprocess
import sys
import typing

import pytest

from llmdeck.tuning import data
from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.data.formats import REGISTRY as FORMAT_REGISTRY
from llmdeck.tuning.methods import METHOD_NAMES, METHODS, get_method, metric_prefixes, trains_on

HEAVY = ("torch", "transformers", "trl", "peft", "datasets")


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_a_registered_method_has_formats_a_recipe_and_a_clean_sample(name):
    method = get_method(name)
    assert method.name == name and method.formats
    assert set(method.formats) <= set(data.FORMATS), method.formats
    recipe = method.recipe()
    assert callable(recipe.build_trainer)
    for optional in (
        "load_model",
        "training_dataset",
        "task_info",
        "predict",
        "examples",
        "config_problems",
        "tuning_problems",
        "data_refusal",
        "predict_problem",
    ):
        assert callable(getattr(recipe, optional, None)) or not hasattr(recipe, optional), optional
    prepared = data.prepare(None, method=name)  # the bundled sample trains with the method as it is
    assert prepared.report.format in method.formats and prepared.report.bad_count == 0 and prepared.examples
    if method.head:  # a task head is saved with what predict needs, and predicts
        assert callable(recipe.task_info) and callable(recipe.predict) and method.use_command


def test_methods_are_ordered_once_and_the_config_lists_exactly_them():
    orders = [method.order for method in METHODS.values()]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)
    assert typing.get_args(TrainConfig.model_fields["method"].annotation) == METHOD_NAMES
    assert TrainConfig.model_json_schema()["properties"]["method"]["enum"] == list(METHOD_NAMES)
    assert typing.get_args(TrainConfig.model_fields["dataset_format"].annotation) == ("auto", *data.FORMATS)
    with pytest.raises(
        Exception,
        match="Input should be 'sft', 'dpo', 'orpo', 'kto', 'reward', 'grpo', 'rloo', "
        "'token-cls', 'extractive-qa' or 'mlm'",
    ):
        TrainConfig(method="ppo")


def test_every_data_format_is_trained_by_some_method_and_metric_prefixes_are_distinct():
    for name in data.FORMATS:
        assert trains_on(name), name
    prefixes = metric_prefixes()
    assert len(prefixes) == len(set(prefixes)) and "rewards/" in prefixes and "perplexity" in prefixes


@pytest.mark.parametrize("name", data.FORMATS)
def test_a_registered_format_detects_and_converts_its_example_row(name):
    fmt = FORMAT_REGISTRY[name]
    assert fmt.shape and fmt.module.endswith("." + name)
    assert data.row_format(fmt.example) == name
    assert data.convert_row(fmt.example, name)
    for method in trains_on(name):  # and each method that takes the format trains on it
        assert get_method(method).examples(data.convert_row(fmt.example, name))


def test_the_registries_import_without_heavy_libraries():
    code = (
        "import llmdeck.tuning.methods, llmdeck.tuning.data, llmdeck.tuning.config, sys, json; "
        f"print(json.dumps([name for name in {list(HEAVY)!r} if name in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == []
