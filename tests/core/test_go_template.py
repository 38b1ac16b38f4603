"""The Go template subset that Ollama Modelfiles use, rendered as Ollama fills it (fast: no model, no Ollama)."""

from __future__ import annotations

import jinja2
import pytest

from llmdeck.core.errors import BadInput
from llmdeck.core.go_template import GoTemplateError, GoTemplateUnsupported, modelfile_template, parse
from llmdeck.core.interop import CHATML, GEMMA, LLAMA3, MISTRAL, ollama_template

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "What is 2+2?"},
]
# SmolLM2-135M-Instruct's own chat template (ChatML with a default system prompt), as its GGUF carries it
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def jinja(template: str, messages: list[dict]) -> str:
    environment = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(template).render(messages=messages, add_generation_prompt=True)


@pytest.mark.parametrize("messages", [CONVERSATION, CONVERSATION[1:]], ids=["with-system", "default-system"])
def test_the_chatml_translation_renders_what_the_jinja_template_renders(messages):
    go = parse(ollama_template(CHATML, SMOLLM2_TEMPLATE))
    assert go.render_chat(messages) == jinja(SMOLLM2_TEMPLATE, messages)


def test_each_family_renders_the_conversation_as_ollama_would():
    rendered = {family.name: parse(ollama_template(family, "")).render_chat(CONVERSATION) for family in (LLAMA3, GEMMA)}
    assert rendered["llama3"] == (
        "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    # gemma: `$last := eq (len (slice $.Messages $i)) 1` opens the model turn only after the last message
    assert rendered["gemma"] == (
        "<start_of_turn>user\nBe brief.<end_of_turn>\n<start_of_turn>user\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )
    # mistral: `and (eq (len ...) 1) $.System` puts the system prompt into the last user turn only
    assert parse(ollama_template(MISTRAL, "")).render_chat(CONVERSATION) == (
        "[INST] Hi[/INST] Hello!</s>[INST] Be brief.\n\nWhat is 2+2?[/INST]"
    )


def test_trim_markers_comments_conditions_and_variables():
    template = (
        "{{/* a comment */}}A  \n  {{- .System -}}  \n  B"
        '{{ range $i, $m := .Messages }}{{ if eq $m.Role "user" }}u{{ $i }}{{ else if eq .Role "system" }}s'
        "{{ else }}a{{ end }}{{ end }}"
        "{{ $n := len .Messages }}{{ if and (gt $n 3) (not .Tools) }} many{{ end }}"
        "{{ if or .Tools (index .Messages 0).Content }} first={{ (index .Messages 0).Role }}{{ end }}"
        "{{ range .Tools }}never{{ else }} no-tools{{ end }}"
    )
    assert parse(template).render_chat(CONVERSATION) == "ABe brief.Bsu1au3 many first=system no-tools"


def test_with_and_a_tools_branch_the_conversation_never_enters():
    template = (
        "{{ with .System }}[{{ . }}]{{ else }}none{{ end }}"
        "{{ if .Tools }}{{ range .Tools }}{{ json .Function }}{{ end }}{{ end }}"
        "{{ range .Messages }}{{ with .ToolCalls }}{{ json . }}{{ else }}.{{ end }}{{ end }}"
    )
    assert parse(template).render_chat(CONVERSATION) == "[Be brief.]...."
    assert parse(template).render_chat(CONVERSATION[1:]) == "none..."
    with pytest.raises(GoTemplateUnsupported, match="the function 'json' is beyond"):
        parse("{{ json .Messages }}").render_chat(CONVERSATION)


def test_a_prompt_response_template_runs_per_turn_and_stops_at_the_last_response():
    template = "{{ if .System }}<s>{{ .System }}\n{{ end }}<u>{{ .Prompt }}\n<a>{{ .Response }}</a>\n"
    assert parse(template).render_chat(CONVERSATION) == "<s>Be brief.\n<u>Hi\n<a>Hello!</a>\n<u>What is 2+2?\n<a>"


@pytest.mark.parametrize(
    ("template", "error", "says"),
    [
        ('{{ define "turn" }}x{{ end }}', GoTemplateUnsupported, "`define` is beyond"),
        ("{{ .System | upper }}", GoTemplateUnsupported, "pipes (|)"),
        ('{{ printf "%s" .System }}', GoTemplateUnsupported, "the function 'printf'"),
        ("{{ .Suffix }}", GoTemplateUnsupported, "the field .Suffix"),
        ("{{ range .Messages }}{{ .Images }}{{ end }}", GoTemplateUnsupported, "the field .Images"),
        ("a\n{{ if .System }}x", GoTemplateError, "never closed with {{ end }}"),
        ("a\n\n{{ end }}", GoTemplateError, "line 3: {{ end }} without an opening"),
        ("{{ .System", GoTemplateError, "line 1: an action opened with {{ is never closed"),
        ("{{ $x }}", GoTemplateError, "undefined variable $x"),
    ],
)
def test_what_it_cannot_render_is_refused_by_name(template, error, says):
    with pytest.raises(error) as caught:
        parse(template).render_chat(CONVERSATION)
    assert says in str(caught.value)
    assert isinstance(caught.value, BadInput)


def test_the_template_is_read_from_a_modelfile():
    assert modelfile_template('FROM x.gguf\nTEMPLATE """{{ .Prompt }}\n"""\nPARAMETER stop "a"\n') == "{{ .Prompt }}\n"
    assert modelfile_template('FROM x\ntemplate "{{ .Prompt }}\\n"\n') == "{{ .Prompt }}\n"
    assert modelfile_template("FROM x\nTEMPLATE {{ .Prompt }}\nSYSTEM hi\n") == "{{ .Prompt }}"
    with pytest.raises(BadInput, match="Modelfile: no TEMPLATE line"):
        modelfile_template("FROM x.gguf\n")
