"""Examples as the model sees them: chat templates (named or from a file), tool definitions, assistant-token
masks, continued-pretraining blocks, and what `max_length` cuts.

Shared by `data check`, the launch plan and the worker, so all three count the same tokens.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from llmdeck.core.errors import BadInput

# Built-in templates for bases without one (`--chat-template NAME`). Each ends an assistant turn with a
# marker token that becomes the model's stop (EOS) token.
CHAT_TEMPLATES = {
    "chatml": (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
        " + '<|im_end|>\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    "llama3": (
        "{{ bos_token }}{% for message in messages %}"
        "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
        " + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
    ),
    "gemma": (
        "{{ bos_token }}{% for message in messages %}"
        "{% set role = 'model' if message['role'] == 'assistant' else 'user' %}"
        "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
    ),
}
TEMPLATE_CHOICES = "chatml|llama3|gemma|FILE"
MAX_TEMPLATE_BYTES = 256 * 1024
TOOLS_PREAMBLE = "You can call these functions. Each line is one function's JSON schema:"


# -- chat templates -----------------------------------------------------------------------------
def template_source(name_or_file: str) -> str:
    """A built-in template by name, or the Jinja text of a file; BadInput naming what was expected."""
    if name_or_file in CHAT_TEMPLATES:
        return CHAT_TEMPLATES[name_or_file]
    from llmdeck.tuning.files import read_text_file

    path = Path(name_or_file).expanduser()
    if not path.exists():
        raise BadInput(
            f"chat_template: {name_or_file!r} is neither {', '.join(CHAT_TEMPLATES)} nor an existing Jinja file"
        )
    text = read_text_file(path, max_bytes=MAX_TEMPLATE_BYTES, what="chat template").strip()
    if "messages" not in text:
        raise BadInput(f"{path}: not a chat template (a Jinja template looping over `messages` was expected)")
    return text


def end_of_turn_marker(tokenizer) -> str | None:
    """The text a template writes right after an assistant reply ('<|im_end|>'): the reply's stop marker."""
    probe = "llmdeck-probe-reply"
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}, {"role": "assistant", "content": probe}], tokenize=False
        )
    except Exception as exc:
        raise BadInput(f"chat template does not render a conversation ({type(exc).__name__}: {exc})") from None
    after = text.split(probe, 1)[1].strip() if probe in text else ""
    return after.split()[0] if after else None


def apply_chat_template(tokenizer, name_or_file: str) -> None:
    """Give `tokenizer` the template and make its end-of-turn marker the EOS (stop) token.

    The marker must already be one token of the vocabulary (a base's reserved chat tokens): a new token
    would need new, trained embedding rows that a LoRA adapter does not carry.
    """
    tokenizer.chat_template = template_source(name_or_file)
    marker = end_of_turn_marker(tokenizer)
    if not marker:
        return
    marker_id = tokenizer.get_vocab().get(marker)
    if marker_id is None or tokenizer(marker, add_special_tokens=False)["input_ids"] != [marker_id]:
        others = [name for name in CHAT_TEMPLATES if name != name_or_file]
        raise BadInput(
            f"chat_template: {name_or_file} ends turns with {marker!r}, which is not a single token of this "
            f"model's vocabulary; use one written with its own special tokens ({', '.join(others)} or a FILE)"
        )
    tokenizer.eos_token = marker


def template_supports_tools(tokenizer) -> bool:
    """True when the chat template reads a `tools` variable (so `apply_chat_template(tools=...)` renders them)."""
    template = tokenizer.chat_template
    sources = list(template.values()) if isinstance(template, dict) else [template or ""]
    try:
        import jinja2
        from jinja2 import meta

        environment = jinja2.Environment()
        return any("tools" in meta.find_undeclared_variables(environment.parse(source)) for source in sources)
    except Exception:  # an unparseable template: render tools into the system turn instead
        return False


def tools_in_system_turn(messages: list[dict], tools: list) -> list[dict]:
    """The documented fallback for templates without tool support: the schemas, one JSON per line, in the system
    turn."""
    block = TOOLS_PREAMBLE + "\n" + "\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools)
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": messages[0]["content"] + "\n\n" + block}, *messages[1:]]
    return [{"role": "system", "content": block}, *messages]


def place_tools(examples: list[dict], tokenizer, template_tools: bool) -> list[dict]:
    """Examples whose `tools` go where the model will see them: a JSON `tools` column for templates that render
    tools (trl and `conversation_tokens` pass it on), else inside the system turn."""
    placed = []
    for example in examples:
        tools = example.get("tools")
        if not tools:
            placed.append({k: v for k, v in example.items() if k != "tools"})
        elif template_tools:
            placed.append({**example, "tools": json.dumps(tools, ensure_ascii=False)})
        else:
            rest = {k: v for k, v in example.items() if k != "tools"}
            rest["prompt"] = tools_in_system_turn(example["prompt"], tools)
            placed.append(rest)
    return placed


def _tools_of(example: dict) -> list | None:
    tools = example.get("tools")
    return json.loads(tools) if isinstance(tools, str) else tools or None


# -- tokens ---------------------------------------------------------------------------------------
def conversation_tokens(messages: list[dict], tokenizer, tools: list | None = None) -> dict:
    """Tokenize the rendered conversation once; mark the tokens that fall in an assistant turn's text (except a
    turn of `"weight": 0`, OpenAI's convention for a turn kept as context: a failed program before its repair).

    A turn's text runs from the end of the prompt rendered up to it (with the generation prompt) to the end
    of the conversation rendered through it; character offsets keep merges at the boundaries right.
    """

    def render(upto: int, generation_prompt: bool) -> str:
        return tokenizer.apply_chat_template(
            messages[:upto], tokenize=False, add_generation_prompt=generation_prompt, tools=tools
        )

    text = render(len(messages), False)
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant" or message.get("weight") == 0:  # weight 0: context, not trained on
            continue
        before, through = render(index, True), render(index + 1, False)
        if text.startswith(through):
            spans.append((len(before), len(through)))
        else:  # a template that rewrites earlier turns: only the final reply is reliably placed
            start = len(os.path.commonprefix([text, before]))
            spans.append((start, len(text) if index == len(messages) - 1 else start))
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(start <= char_start < end for start, end in spans)) for char_start, _ in encoded["offset_mapping"]]
    return {"input_ids": encoded["input_ids"], "assistant_masks": mask}


def text_blocks(texts: list[str], tokenizer, max_length: int) -> list[list[int]]:
    """Continued pre-training: every document tokenized, joined with EOS between documents, cut into
    `max_length` blocks (the last one may be shorter), so no token is dropped whatever the line layout."""
    eos = tokenizer.eos_token_id
    blocks: list[list[int]] = []
    current: list[int] = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        current.extend(ids + ([eos] if eos is not None else []))
        while len(current) >= max_length:
            blocks.append(current[:max_length])
            current = current[max_length:]
    if current:
        blocks.append(current)
    return blocks


def truncation(examples: list[dict], tokenizer, max_length: int) -> dict:
    """How many rows exceed `max_length` and the share of their trained (assistant) tokens that would be cut.

    Conversations count assistant tokens past `max_length`; preference rows count the longer of chosen and
    rejected. Text is cut into blocks, so nothing is lost (its rows never count).
    """
    rows_over = assistant_total = assistant_cut = longest = 0
    for example in examples:
        if "text" in example:
            continue
        tools = _tools_of(example)
        sides = [example["completion"]] if "completion" in example else [example["chosen"], example["rejected"]]
        row_over = False
        for side in sides:
            encoded = conversation_tokens(example["prompt"] + side, tokenizer, tools)
            mask = encoded["assistant_masks"]
            longest = max(longest, len(mask))
            assistant_total += sum(mask)
            assistant_cut += sum(mask[max_length:])
            row_over = row_over or len(mask) > max_length
        rows_over += row_over
    rows = sum(1 for example in examples if "text" not in example)
    return {
        "max_length": max_length,
        "rows": rows,
        "rows_over": rows_over,
        "rows_over_share": round(rows_over / rows, 4) if rows else 0.0,
        "assistant_tokens": assistant_total,
        "assistant_tokens_cut": assistant_cut,
        "assistant_cut_share": round(assistant_cut / assistant_total, 4) if assistant_total else 0.0,
        "longest": longest,
    }
