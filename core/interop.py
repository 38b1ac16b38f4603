"""Hand store models to other local runners: an Ollama Modelfile, an LM Studio models folder.

Ollama takes Go templates, not the GGUF's Jinja chat template: the common families are translated
(ChatML, Llama 3, Gemma, Mistral); any other template gets a clear message instead of a wrong guess.
Ollama no longer takes LoRA `ADAPTER` lines for GGUF adapters, so a Modelfile always points at a merged GGUF.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from llmdeck.core.atomic import atomic_copy
from llmdeck.core.errors import BadInput
from llmdeck.core.gguf_meta import read_gguf_info, special_tokens


@dataclass(frozen=True)
class TemplateFamily:
    name: str
    marker: str  # a string only this family's Jinja template contains
    template: str  # the Ollama (Go) template
    stops: tuple[str, ...]


CHATML = TemplateFamily(
    "chatml",
    "<|im_start|>",
    (
        "{{- DEFAULT_SYSTEM }}"
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
        "{{ .Content }}<|im_end|>\n"
        "{{ end }}<|im_start|>assistant\n"
    ),
    ("<|im_start|>", "<|im_end|>"),
)

LLAMA3 = TemplateFamily(
    "llama3",
    "<|start_header_id|>",
    (
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
        "{{ .Content }}<|eot_id|>\n"
        "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
)

GEMMA = TemplateFamily(
    "gemma",
    "<start_of_turn>",
    (
        "{{- range $i, $_ := .Messages }}\n"
        "{{- $last := eq (len (slice $.Messages $i)) 1 }}\n"
        '{{- if or (eq .Role "user") (eq .Role "system") }}<start_of_turn>user\n'
        "{{ .Content }}<end_of_turn>\n"
        "{{ if $last }}<start_of_turn>model\n"
        "{{ end }}\n"
        '{{- else if eq .Role "assistant" }}<start_of_turn>model\n'
        "{{ .Content }}{{ if not $last }}<end_of_turn>\n"
        "{{ end }}\n"
        "{{- end }}\n"
        "{{- end }}"
    ),
    ("<start_of_turn>", "<end_of_turn>"),
)

MISTRAL = TemplateFamily(
    "mistral",
    "[INST]",
    (
        "{{- range $index, $_ := .Messages }}\n"
        '{{- if eq .Role "user" }}[INST] {{ if and (eq (len (slice $.Messages $index)) 1) $.System }}{{ $.System }}\n\n'
        "{{ end }}{{ .Content }}[/INST]\n"
        '{{- else if eq .Role "assistant" }} {{ .Content }}</s>\n'
        "{{- end }}\n"
        "{{- end }}"
    ),
    ("[INST]", "[/INST]"),
)

FAMILIES = (CHATML, LLAMA3, GEMMA, MISTRAL)
_CHATML_DEFAULT_SYSTEM = re.compile(r"<\|im_start\|>system(?:\n|\\n)([^'\"{}<]+?)<\|im_end\|>")


def template_family(chat_template: str | None, model: str) -> TemplateFamily:
    if not chat_template:
        raise BadInput(f"{model}: the GGUF has no chat template, so there is nothing to translate into a TEMPLATE")
    for family in FAMILIES:
        if family.marker in chat_template:
            return family
    start = " ".join(chat_template.split())[:60]
    raise BadInput(
        f"{model}: no Ollama TEMPLATE translation for this chat template (llmdeck translates ChatML,"
        f" Llama 3, Gemma and Mistral; it starts {start!r}); write the TEMPLATE by hand"
    )


def ollama_template(family: TemplateFamily, chat_template: str) -> str:
    """The family's Go template; a ChatML template's built-in default system prompt is kept as the default."""
    template = family.template
    if family is CHATML:
        default = _CHATML_DEFAULT_SYSTEM.search(chat_template)
        fallback = (
            (
                '{{- if or (not .Messages) (ne (index .Messages 0).Role "system") }}<|im_start|>system\n'
                f"{default.group(1).strip()}<|im_end|>\n{{{{ end }}}}"
            )
            if default
            else ""
        )
        template = template.replace("{{- DEFAULT_SYSTEM }}", fallback)
    return template


def modelfile(entry, system: str | None = None) -> str:
    """An Ollama Modelfile for a store entry (`core.store.ModelEntry`): FROM, TEMPLATE, stops, SYSTEM."""
    path = Path(entry.path)
    info = read_gguf_info(path)
    family = template_family(info.chat_template, entry.name)
    specials = special_tokens(path)
    stops = list(dict.fromkeys([*family.stops, *(specials[k] for k in ("eos", "eot") if k in specials)]))
    lines = [
        f"# {entry.name}: {family.name} chat template; create with `ollama create {entry.name} -f Modelfile`",
        f"FROM {path.resolve()}",
        f'TEMPLATE """{ollama_template(family, info.chat_template or "")}"""',
    ]
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    if system:
        lines.append(f'SYSTEM """{system}"""')
    return "\n".join(lines) + "\n"


def lmstudio_path(entry, root: Path, publisher: str = "llmdeck") -> Path:
    """ROOT/publisher/MODEL-GGUF/NAME.gguf, the folder layout LM Studio scans."""
    model = entry.name.removesuffix(f".{(entry.quant_type or entry.file_type).lower()}")
    return Path(root) / publisher / f"{model}-GGUF" / f"{entry.name}.gguf"


def export_to_dir(entry, root: Path, layout: str = "lmstudio", link: bool = False, publisher: str = "llmdeck") -> Path:
    """Place a store model under `root` in `layout`, as a hard link (same filesystem) or a copy (temp, then rename)."""
    if layout != "lmstudio":
        raise BadInput(f"--layout {layout}: expected lmstudio")
    target = lmstudio_path(entry, root, publisher)
    if target.exists():
        raise BadInput(f"{target}: already exists")
    source = Path(entry.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not link:
        atomic_copy(source, target)
        return target
    try:
        os.link(source, target)
    except OSError as exc:
        raise BadInput(f"{target}: cannot hard-link {source} there ({exc.strerror}); drop --link to copy") from None
    return target
