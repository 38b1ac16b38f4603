"""ReAct steps decoded under constraints from a llama.cpp model, in the model's own chat template.

One assistant turn is two lines (three with an optional thought first):

    Thought: <free text, one line>
    Action: <final_answer or a tool name>
    Action Input: <JSON arguments>

Each line is generated separately, greedily, continuing the same prompt (llama.cpp reuses the evaluated
prefix): the thought under a one-line grammar, the action under an enum grammar over `final_answer` and
the tool names, then the arguments under a grammar built from that tool's JSON schema
(`LlamaGrammar.from_json_schema`, every string length capped, and the tool's argument patterns, enums and
small integer ranges enforced: the calculator's grammar admits only arithmetic, the files tool's only the
workspace's paths). So every step is well formed, whatever the model's size; a grammar guarantees the form and
the patterns, not that the choice is right. Tool results are rendered into the
conversation here: as user messages "Result: ..." (what small chat models follow best), or as `tool` messages
where the template renders that role and the run asks for it.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from llmdeck.core.runtime import LoadedModel
from llmdeck.core.validate import DocumentProblem, raw_decode_json

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage

FINAL_ANSWER = "final_answer"
FINAL_ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "minLength": 1, "maxLength": 300}},
    "required": ["answer"],
}
FINAL_ANSWER_DESCRIPTION = "Give the final answer to the user."
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>'"
    " + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
JSON_CHAR_CLASS = r'char ::= [^"\\\x7F\x00-\x1F]'
JSON_DOT = r'dot ::= [^"\\\x7F\x00-\x1F]'
MAX_RANGE_VALUES = 256  # an integer range this small is decoded as an enum of its values
# Whether decoders enforce the tools' argument patterns (JSON-schema `pattern`) in their grammars by default;
# bench/tool_patterns.py turns it off to measure what the patterns alone change.
ARGUMENT_PATTERNS = True
THOUGHT_GRAMMAR = r'root ::= " " [^\n]+ "\n"'
STEP_PATTERN = re.compile(
    r"(?:Thought:(?P<thought>[^\n]*)\n)?\s*Action:\s*(?P<action>[^\n]+?)\s*\n\s*Action Input:\s*(?P<args>.*)", re.DOTALL
)


@dataclass(frozen=True)
class ToolSpec:
    """What the model is told about a tool, and the schema its arguments are decoded under."""

    name: str
    description: str
    parameters: dict


@dataclass
class Step:
    """One decoded assistant turn."""

    thought: str
    action: str  # FINAL_ANSWER or a tool name
    args: dict
    text: str  # the turn as it stands in the conversation
    well_formed: bool = True
    problem: str | None = None  # why an unconstrained step did not parse

    @property
    def answer(self) -> str:
        return str(self.args.get("answer", "")) if self.action == FINAL_ANSWER else ""


def step_text(thought: str, action: str, args: dict) -> str:
    lines = [f"Thought: {thought}"] if thought else []
    return "\n".join([*lines, f"Action: {action}", f"Action Input: {json.dumps(args, ensure_ascii=False)}"])


def final_answer_spec() -> ToolSpec:
    return ToolSpec(FINAL_ANSWER, FINAL_ANSWER_DESCRIPTION, FINAL_ANSWER_SCHEMA)


def system_prompt(tools: list[ToolSpec], instructions: str | None = None, thoughts: bool = False) -> str:
    """The ReAct instructions with every tool (and final_answer), its description and its input shape."""
    listed = "\n".join(
        f"- {t.name}: {t.description} Input: {input_shape(t.parameters)}" for t in [*tools, final_answer_spec()]
    )
    calculator = "calculator" in {t.name for t in tools}
    lines = ["Thought: one short sentence"] if thoughts else []
    lines += ["Action: one tool name", "Action Input: the tool's input as JSON"]
    head = (instructions.strip() + "\n\n") if instructions else ""
    return (
        f"{head}You answer the user's question. You can use these tools:\n{listed}\n\n"
        f"Reply with exactly {len(lines)} lines:\n" + "\n".join(lines) + "\n\n"
        "After a tool runs you see its result. When you know the answer, use final_answer.\n\n"
        + example(calculator, thoughts)
    )


def example(calculator: bool, thoughts: bool) -> str:
    """A worked example in the reply format (with the calculator when the run has it)."""

    def turn(thought: str, action: str, args: str) -> str:
        return (f"Thought: {thought}\n" if thoughts else "") + f"Action: {action}\nAction Input: {args}\n"

    if calculator:
        return (
            "Example:\nQuestion: What is 6 * 7?\n"
            + turn("I multiply with the calculator.", "calculator", '{"expression": "6 * 7"}')
            + "Result: 42\n"
            + turn("I know the answer.", FINAL_ANSWER, '{"answer": "42"}')
        ).strip()
    return (
        "Example:\nQuestion: Say hello.\n" + turn("I can answer directly.", FINAL_ANSWER, '{"answer": "Hello!"}')
    ).strip()


def input_shape(schema: dict) -> str:
    """A compact picture of a JSON schema for the prompt: {"expression": string, "path": string (optional)}."""
    properties = schema.get("properties") or {}
    if not properties:
        return "{}"
    required = set(schema.get("required") or [])
    parts = []
    for name, prop in properties.items():
        kind = " | ".join(json.dumps(v) for v in prop["enum"]) if "enum" in prop else prop.get("type", "value")
        parts.append(f'"{name}": {kind}{"" if name in required else " (optional)"}')
    return "{" + ", ".join(parts) + "}"


def capped_schema(schema: dict, max_chars: int) -> dict:
    """`schema` with every free string capped at `max_chars` and required strings at least one character long
    (a grammar then bounds the arguments, and a tiny model cannot answer with an empty string)."""
    capped = copy.deepcopy(schema)

    def visit(node, required: bool) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item, required)
            return
        if not isinstance(node, dict):
            return
        if node.get("type") == "string" and not {"enum", "const", "pattern", "format"} & node.keys():
            node["maxLength"] = min(int(node.get("maxLength", max_chars)), max_chars)
            if required and "minLength" not in node:
                node["minLength"] = 1
        needed = set(node.get("required") or [])
        for name, prop in (node.get("properties") or {}).items():
            visit(prop, name in needed)
        for key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties", "$defs", "definitions"):
            if key in node:
                visit(list(node[key].values()) if key in ("$defs", "definitions") else node[key], False)

    visit(capped, False)
    return capped


def without_patterns(schema: Any) -> Any:
    """`schema` with every string `pattern` removed (what a grammar without argument patterns is built from, and
    what a free-text step's shape is checked against: its values are checked when the tool is called)."""
    if isinstance(schema, dict):
        return {
            k: without_patterns(v)
            for k, v in schema.items()
            if not (k == "pattern" and isinstance(v, str) and schema.get("type") in ("string", None))
        }
    if isinstance(schema, list):
        return [without_patterns(v) for v in schema]
    return schema


def ranges_as_enums(schema: Any, max_values: int = MAX_RANGE_VALUES) -> Any:
    """Integer arguments with a `minimum` and a `maximum` at most `max_values` apart become an `enum` of those
    values (llama.cpp's schema converter ignores numeric bounds; an enum it enforces)."""
    if isinstance(schema, list):
        return [ranges_as_enums(v, max_values) for v in schema]
    if not isinstance(schema, dict):
        return schema
    node = {k: ranges_as_enums(v, max_values) for k, v in schema.items()}
    low, high = node.get("minimum"), node.get("maximum")
    if (
        node.get("type") == "integer"
        and "enum" not in node
        and isinstance(low, (int, float))
        and isinstance(high, (int, float))
        and 0 <= high - low < max_values
    ):
        node["enum"] = list(range(math.ceil(low), math.floor(high) + 1))
    return node


def gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def action_grammar(names: list[str]) -> str:
    return 'root ::= " " (' + " | ".join(gbnf_literal(n) for n in names) + ') "\\n"'


def arguments_grammar(schema: dict, max_chars: int, patterns: bool = True) -> str:
    """A GBNF grammar for ` {json}` (a leading space, as the model writes after 'Action Input:'). With `patterns`,
    string `pattern`s, enums and small integer ranges are enforced too; a pattern the converter cannot translate
    is dropped from the grammar (the tool call is still checked against it)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    shaped = ranges_as_enums(schema) if patterns else without_patterns(schema)
    try:
        grammar = json_schema_to_gbnf(json.dumps(capped_schema(shaped, max_chars)))
    except (AssertionError, ValueError, KeyError, IndexError):  # an unsupported regex (lookaheads, ...)
        if not patterns:
            raise
        return arguments_grammar(schema, max_chars, patterns=False)
    grammar = re.sub(r"^root ::=", "llmdeck-arguments ::=", grammar, flags=re.MULTILINE)
    # this converter's string characters admit raw control characters, which JSON forbids: exclude them
    grammar = re.sub(r'^char ::= \[\^"\\\\\]', lambda _: JSON_CHAR_CLASS, grammar, flags=re.MULTILINE)
    # and a pattern's `.` admits quotes and backslashes, which would end or escape the JSON string: not those
    grammar = re.sub(r"^dot ::= .*$", lambda _: JSON_DOT, grammar, flags=re.MULTILINE)
    return grammar + '\nroot ::= " " llmdeck-arguments\n'


def arguments_token_budget(schema: dict, max_chars: int) -> int:
    """Enough tokens for any arguments the capped grammar allows (a token holds at least one character)."""
    text = json.dumps(capped_schema(schema, max_chars))
    return 64 + sum(int(n) + 16 for n in re.findall(r'"maxLength": (\d+)', text))


class ChatTemplate:
    """The model's own chat template (from its GGUF metadata; ChatML when it has none)."""

    def __init__(self, llama, observation_role: str = "user"):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = (getattr(llama, "metadata", None) or {}).get("tokenizer.chat_template") or CHATML
        eos, bos = (_token_text(llama, token) for token in (llama.token_eos(), llama.token_bos()))
        self.formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
        self.stop = [eos] if eos else []
        self.observation_role = "tool" if observation_role == "tool" and self._renders("tool") else "user"

    def _renders(self, role: str) -> bool:
        marker = "llmdeck-role-probe-7f3a"
        try:
            prompt = self._format([{"role": "user", "content": "hi"}, {"role": role, "content": marker}])
        except Exception:  # templates that raise on unknown roles
            return False
        return marker in prompt

    def render(self, messages: list[dict]) -> str:
        """The prompt text for `messages`, ending where the assistant's reply starts."""
        return self._format([self.renderable(m) for m in messages])

    def _format(self, messages: list[dict]) -> str:
        """The template's prompt for plain role/content dicts. The formatter hands them to Jinja as they are;
        llama_cpp's message TypedDicts are narrower (a tool message there needs a tool_call_id)."""
        return self.formatter(messages=cast("list[ChatCompletionRequestMessage]", messages)).prompt

    def renderable(self, message: dict) -> dict:
        if message["role"] == "tool" and self.observation_role == "user":
            return {"role": "user", "content": f"Result: {message['content']}"}
        return {"role": message["role"], "content": message["content"]}


def _token_text(llama, token: int) -> str:
    if token is None or token < 0:
        return ""
    return llama.detokenize([token], special=True).decode("utf-8", errors="replace")


class StepDecoder:
    """Decodes one step at a time on a loaded model: greedy by default; with a `temperature`, sampled (llama.cpp's
    top-k/top-p/min-p cuts) and seeded per call from `seed`, so an attempt can be replayed."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        thoughts: bool = False,
        max_thought_tokens: int = 40,
        max_string_chars: int = 200,
        constrained: bool = True,
        observation_role: str = "user",
        stop_check: Callable[[], bool] | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
        argument_patterns: bool | None = None,
    ):
        self.loaded = loaded
        # enforce the tools' argument patterns in the grammar (None: the module's ARGUMENT_PATTERNS)
        self.argument_patterns = ARGUMENT_PATTERNS if argument_patterns is None else argument_patterns
        self.stop_check = stop_check  # checked at every token: true raises GenerationStopped
        self.template = ChatTemplate(loaded.llama, observation_role)
        self.thoughts = thoughts
        self.max_thought_tokens = max_thought_tokens
        self.max_string_chars = max_string_chars
        self.constrained = constrained
        self.temperature = temperature
        self.seed = seed
        self.top_k, self.top_p, self.min_p = 40, 0.95, 0.05  # llama.cpp's defaults: no wild tail tokens
        self.calls = 0

    def next_step(
        self, messages: list[dict], tools: list[ToolSpec], final_only: bool = False, only_action: str | None = None
    ) -> Step:
        """The next turn after `messages` (system prompt included); `final_only` withholds the tools;
        `only_action` lets the grammar admit that one action (the prompt still lists every tool)."""
        options = [final_answer_spec()] if final_only else [*tools, final_answer_spec()]
        if only_action is not None and not final_only:
            options = [o for o in options if o.name == only_action] or options
        with self.loaded.lock:
            prompt = self.template.render(messages)
            if not self.constrained:
                return self._free_step(prompt, options)
            return self._constrained_step(prompt, options)

    def _constrained_step(self, prompt: str, options: list[ToolSpec]) -> Step:
        text = ""
        thought = ""
        if self.thoughts:
            generated, _ = self._complete(prompt + "Thought:", THOUGHT_GRAMMAR, self.max_thought_tokens)
            thought = " ".join(generated.split())
            text = f"Thought: {thought}\n" if thought else ""
        if len(options) == 1:
            action = options[0].name
        else:
            generated, _ = self._complete(prompt + text + "Action:", action_grammar([o.name for o in options]), 16)
            action = generated.strip()
        spec = next((o for o in options if o.name == action), None)
        if spec is None:  # the grammar rules this out; a model runtime ignoring grammars would not
            raise RuntimeError(f"decoded action {action!r} is none of {', '.join(o.name for o in options)}")
        text += f"Action: {action}\n"
        grammar = arguments_grammar(spec.parameters, self.max_string_chars, self.argument_patterns)
        budget = arguments_token_budget(spec.parameters, self.max_string_chars)
        generated, _ = self._complete(prompt + text + "Action Input:", grammar, budget)
        try:
            args = json.loads(generated)  # the grammar guarantees JSON of the schema's shape...
        except json.JSONDecodeError:  # ...unless an unbounded pattern ran into the token budget
            return _malformed(text + "Action Input:" + generated, "Action Input cut off at the token budget")
        return Step(thought, action, args, step_text(thought, action, args))

    def _free_step(self, prompt: str, options: list[ToolSpec]) -> Step:
        """The same turn without any grammar (to measure what constraints buy): parsed, or marked malformed."""
        generated, _ = self._complete(
            prompt + ("Thought:" if self.thoughts else ""),
            None,
            160,
            stop=[*self.template.stop, "\nResult:", "\nObservation:"],
        )
        raw = ("Thought:" if self.thoughts else "") + generated
        return parse_step(raw, options)

    def _complete(
        self, text: str, grammar: str | None, max_tokens: int, stop: list[str] | None = None
    ) -> tuple[str, str]:
        from llama_cpp import LlamaGrammar

        llama = self.loaded.llama
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        self.calls += 1
        sampling: dict[str, float | int | None] = {"temperature": 0.0}
        if self.temperature > 0:
            sampling = {
                "temperature": self.temperature,
                "top_k": self.top_k,
                "top_p": self.top_p,
                "min_p": self.min_p,
                "seed": None if self.seed is None else (self.seed * 1009 + self.calls) % 2**31,
            }
        result = llama.create_completion(
            tokens,
            max_tokens=max_tokens,
            stop=stop or self.template.stop or None,
            grammar=LlamaGrammar.from_string(grammar, verbose=False) if grammar else None,
            stopping_criteria=self._stopping_criteria(),
            **sampling,
        )
        choice = result["choices"][0]
        return choice["text"], choice.get("finish_reason") or "stop"

    def _stopping_criteria(self):
        """llama.cpp calls its stopping criteria (in Python) after every token: a stop raises there."""
        stop_check = self.stop_check
        if stop_check is None:
            return None
        from llama_cpp import StoppingCriteriaList

        from llmdeck.core.adapters import GenerationStopped

        def check(input_ids, logits) -> bool:
            if stop_check():
                raise GenerationStopped("the generation was stopped")
            return False

        return StoppingCriteriaList([check])


def parse_step(raw: str, options: list[ToolSpec]) -> Step:
    """Read a free-form turn: the three lines, a known action, and JSON arguments valid for its schema."""
    import jsonschema

    match = STEP_PATTERN.search(raw)
    if not match:
        return _malformed(raw, "no 'Action:' and 'Action Input:' lines")
    thought = " ".join((match.group("thought") or "").split())
    action = match.group("action").strip()
    spec = next((o for o in options if o.name == action), None)
    if spec is None:
        return _malformed(raw, f"unknown action {action!r}")
    try:
        args, _ = raw_decode_json(match.group("args").strip())
    except json.JSONDecodeError as exc:
        return _malformed(raw, f"Action Input is not JSON ({exc.msg})")
    except DocumentProblem as exc:
        return _malformed(raw, f"Action Input is out of bounds ({exc.text()})")
    # the shape only: a value that breaks a tool's argument pattern is refused when the tool is called
    errors = sorted(jsonschema.Draft202012Validator(without_patterns(spec.parameters)).iter_errors(args), key=str)
    if errors:
        return _malformed(raw, f"Action Input does not fit the schema ({errors[0].message})")
    return Step(thought, action, args, step_text(thought, action, args))


def _malformed(raw: str, problem: str) -> Step:
    """An unparseable turn: kept as a final answer made of the raw text, flagged as not well formed."""
    answer = raw.strip() or "(no answer)"
    return Step("", FINAL_ANSWER, {"answer": answer}, raw, well_formed=False, problem=problem)
