"""The training methods: one module per method in this package, each defining `METHOD` (its facts) beside its
trainer recipe. Config, worker, estimate, heads and the front ends ask this registry and never list methods.

A method module holds:
- `METHOD = TrainingMethod(...)`: the data formats it takes, its sample data, its estimate factors, its head;
- `build_trainer(model, tokenizer, train_dataset, eval_dataset, config, run_dir, device, callbacks, peft_config)`;
- optionally `TASK_TYPE`, `HEAD`, `EXCLUDE` (peft task type, head modules trained whole, modules kept free of
  adapters), `load_model(base, dtype, quantization, config, rows)`, `training_dataset(rows, tokenizer, config)`,
  `task_info(model, config)` (saved as adapter/task.json), `predict(...)` for task heads, and the hooks
  `tuning_problems(get)`, `config_problems(get)` (config checks: `get(field)` reads a config value),
  `data_refusal(fmt)` (a method-specific refusal of a data format) and `examples(example)` (a converted row as
  the method trains on it).

Method modules import only the standard library at module level (the registry loads with `llmdeck --help` and the
app); trl, torch, transformers and the shared recipe helpers are imported inside their functions.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

Getter = Callable[[str], Any]  # a config field's value (its default when not given)
ENCODER_TUNINGS = ("lora", "dora", "ia3", "full")  # what trains beside a transformers task head on an encoder


@dataclass(frozen=True)
class TrainingMethod:
    """What llmdeck knows about one training method; its module defines it as `METHOD`."""

    name: str  # the config's `method` value
    order: int  # place in every listing: the config's choices, --help, error messages
    formats: tuple[str, ...]  # the data formats it trains on (the first: what a format mismatch shows)
    sample: str  # the bundled sample dataset (tuning/sample_data/), for demo runs and tests
    summary: str = ""  # what it is, in a few words
    family: str = ""  # its group in the config's description of `method` ("preference", "online RL", ...)
    note: str = ""  # added after its name there, e.g. " (a reward model)"
    online: bool = False  # the policy generates completions that rewards score (needs a reward)
    encoder: bool = False  # transformers' own head on an encoder base (default base: the embedded MiniLM)
    head: tuple[str, str] | None = None  # a task head: (transformers auto class, modeling_auto mapping of its bases)
    head_hint: str = ""  # added when a base has no such head
    use_command: str = "llmdeck predict"  # what uses a finished task-head run
    tunings: tuple[str, ...] | None = None  # the tunings it trains with (None: any)
    soft_prompts: bool = False  # trains prompt/prefix/ptuning tuning (virtual tokens)
    packs: bool = False  # may pack rows into max_length blocks
    tools_rendered: bool = True  # tool schemas go through the chat template where it renders them
    sequences_per_row: int = 1  # estimate: sequences a row trains on (chosen + rejected: 2)
    vocab_logits: bool = True  # estimate: vocabulary-sized logits (small heads have none)
    reference_forward: bool = False  # estimate: an extra reference-model forward per token (DPO)
    metric_prefixes: tuple[str, ...] = ()  # its own trainer metrics kept in metrics.jsonl
    module: str = ""  # filled by the registry: the module holding the recipe

    def recipe(self) -> ModuleType:
        """The method's module: build_trainer and the optional recipe functions."""
        return importlib.import_module(self.module)

    def hook(self, name: str) -> Callable | None:
        return getattr(self.recipe(), name, None)

    def tuning_problems(self, get: Getter) -> list[str]:
        hook = self.hook("tuning_problems")
        return hook(get) if hook else []

    def config_problems(self, get: Getter) -> list[str]:
        hook = self.hook("config_problems")
        return hook(get) if hook else []

    def data_refusal(self, fmt: str) -> str | None:
        hook = self.hook("data_refusal")
        return hook(fmt) if hook else None

    def examples(self, example: dict) -> list[dict]:
        """A converted row as this method trains on it (some methods split or reshape rows)."""
        hook = self.hook("examples")
        return hook(example) if hook else [example]


def preference_refusal(method: str) -> Callable[[str], str | None]:
    """The `data_refusal` hook of a method that trains on preference data (dpo, orpo, kto, reward)."""

    def data_refusal(fmt: str) -> str | None:
        from llmdeck.tuning.data.errors import needs_preference

        return needs_preference(method, fmt)

    return data_refusal


def pairs_only(method: str) -> Callable[[dict], list[dict]]:
    """The `examples` hook of a method that trains on chosen/rejected pairs (dpo, orpo, reward): a labelled row,
    kto's unpaired form, is refused naming the method."""

    def examples(example: dict) -> list[dict]:
        from llmdeck.tuning.data.formats.preference import require_pairs

        return require_pairs(example, method)

    return examples


def online_recipe(trl_config: str, trl_trainer: str) -> Callable[..., Any]:
    """The `build_trainer` of an online RL method (grpo, rloo): trl's config and trainer classes of that name, which
    take the same arguments, built with the run's rewards by `tuning.online.build_online_trainer`."""

    def build_trainer(model, tokenizer, train_dataset, eval_dataset, config, run_dir, device, callbacks, peft_config):
        import trl

        from llmdeck.tuning.online import build_online_trainer

        trl_classes = getattr(trl, trl_config), getattr(trl, trl_trainer)
        recipe_args = (model, tokenizer, train_dataset, eval_dataset, config, run_dir, device, callbacks, peft_config)
        return build_online_trainer(*trl_classes, *recipe_args)

    return build_trainer


def _discover() -> dict[str, TrainingMethod]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module_name = f"{__name__}.{info.name}"
        method = importlib.import_module(module_name).METHOD  # a module without METHOD is a bug: fail loudly
        found.append(replace(method, module=module_name))
    return {method.name: method for method in sorted(found, key=lambda method: method.order)}


def get_method(name: str) -> TrainingMethod:
    """The registered method `name`; KeyError for an unknown one (the config's Literal refuses those first)."""
    return METHODS[name]


def find_method(name: str) -> TrainingMethod | None:
    return METHODS.get(name)


def methods_where(predicate: Callable[[TrainingMethod], bool]) -> tuple[TrainingMethod, ...]:
    return tuple(method for method in METHODS.values() if predicate(method))


def names_where(predicate: Callable[[TrainingMethod], bool]) -> tuple[str, ...]:
    return tuple(method.name for method in methods_where(predicate))


def trains_on(fmt: str) -> tuple[str, ...]:
    """The methods that train on data format `fmt`, in registry order."""
    return names_where(lambda method: fmt in method.formats)


def metric_prefixes() -> tuple[str, ...]:
    """Every method's own metric prefixes, each once."""
    return tuple(dict.fromkeys(prefix for method in METHODS.values() for prefix in method.metric_prefixes))


def described() -> str:
    """The registered methods by family, as the config's `method` field describes them."""
    groups: list[tuple[str, list[str]]] = []
    for method in METHODS.values():
        if not groups or groups[-1][0] != method.family:
            groups.append((method.family, []))
        groups[-1][1].append(method.name + method.note)
    return "; ".join(f"{family}: {', '.join(names)}" if family else ", ".join(names) for family, names in groups) + "."


def spoken_list(items, last: str = "or") -> str:
    """'a, b or c'."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


METHODS: dict[str, TrainingMethod] = _discover()
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
DEFAULT_METHOD = "sft"
