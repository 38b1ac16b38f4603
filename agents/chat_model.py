"""A LangChain chat model over a model `core.runtime` already loaded, whose tool calls come from the
constrained two-step decode (`agents.decoding`): `bind_tools` binds any number of tools, and every reply
is an `AIMessage` with exactly one tool call or a final answer, never free text that failed to parse.

LangChain's `ChatLlamaCpp` cannot do this: it builds its own `Llama` and its `bind_tools` forces one tool.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from llmdeck.agents.decoding import FINAL_ANSWER, Step, StepDecoder, ToolSpec, step_text, system_prompt


class ConstrainedChatModel(BaseChatModel):
    """`create_agent`'s model: reuses `loaded` (no second copy of the weights)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    loaded: Any  # a core.runtime.LoadedModel
    model_name: str = "llmdeck"
    thoughts: bool = False  # decode a one-line thought before each action
    constrained: bool = True  # False: free generation, parsed (to measure what the grammars buy)
    max_string_chars: int = 200  # cap on every string argument
    observation_role: Literal["user", "tool"] = "user"  # tool results as user "Result:" messages, or `tool` ones
    stop_check: Any = None  # a callable checked at every token (the app's cancellation): true ends the run
    temperature: float = 0.0  # 0: greedy; above: sampled (collecting several attempts per task)
    seed: int | None = None  # seeds the sampled steps, so an attempt can be replayed
    guide: str | None = None  # the first step's action, fixed (guided collection: the rest is the model's own)
    _decoder: StepDecoder | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "llmdeck-constrained-llama-cpp"

    @property
    def decoder(self) -> StepDecoder:
        if self._decoder is None:
            self._decoder = StepDecoder(
                self.loaded,
                thoughts=self.thoughts,
                constrained=self.constrained,
                max_string_chars=self.max_string_chars,
                observation_role=self.observation_role,
                stop_check=self.stop_check,
                temperature=self.temperature,
                seed=self.seed,
            )
        return self._decoder

    def bind_tools(self, tools, *, tool_choice: str | None = None, **kwargs: Any):
        """Bind every tool; tool_choice "none" withholds them (the next reply is a final answer)."""
        return self.bind(tool_specs=tool_specs(tools), tool_choice=tool_choice, **kwargs)

    @property
    def rendered_observation_role(self) -> str:
        """How tool results really appear in the prompt ("tool" only where the template renders that role)."""
        return self.decoder.template.observation_role

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager=None,
        tool_specs: Sequence[ToolSpec] = (),
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        specs = list(tool_specs)
        conversation = to_chat(messages, specs, self.thoughts)
        first = not any(isinstance(m, AIMessage) for m in messages)
        step = self.decoder.next_step(
            conversation,
            specs,
            final_only=not specs or tool_choice == "none",
            only_action=self.guide if first and self.constrained else None,
        )
        return ChatResult(generations=[ChatGeneration(message=step_message(step))])


def tool_specs(tools) -> list[ToolSpec]:
    """What the model is told about each LangChain tool (name, description, argument schema)."""
    from langchain_core.utils.function_calling import convert_to_openai_tool

    specs = []
    for tool in tools:
        function = convert_to_openai_tool(tool)["function"]
        specs.append(
            ToolSpec(
                function["name"],
                function.get("description", ""),
                function.get("parameters") or {"type": "object", "properties": {}},
            )
        )
    return specs


def step_message(step: Step) -> AIMessage:
    """A decoded step as LangChain sees it: a final answer, or a thought with one tool call."""
    metadata = {"thought": step.thought, "step_text": step.text, "well_formed": step.well_formed}
    if step.problem:
        metadata["problem"] = step.problem
    if step.action == FINAL_ANSWER:
        return AIMessage(content=step.answer, response_metadata=metadata)
    call = {"name": step.action, "args": step.args, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"}
    return AIMessage(content=step.thought, tool_calls=[call], response_metadata=metadata)


def to_chat(messages: list[BaseMessage], specs: list[ToolSpec], thoughts: bool = False) -> list[dict]:
    """LangChain messages as chat-template messages: one system prompt carrying the ReAct instructions and
    the tools, assistant turns as step text, tool results as `tool` messages."""
    instructions = "\n\n".join(str(m.content) for m in messages if isinstance(m, SystemMessage)) or None
    chat = [{"role": "system", "content": system_prompt(specs, instructions, thoughts)}]
    for message in messages:
        if isinstance(message, HumanMessage):
            chat.append({"role": "user", "content": str(message.content)})
        elif isinstance(message, AIMessage):
            chat.append({"role": "assistant", "content": assistant_text(message)})
        elif isinstance(message, ToolMessage):
            chat.append({"role": "tool", "content": str(message.content)})
    return chat


def assistant_text(message: AIMessage) -> str:
    """The step text of an earlier turn: as decoded when we decoded it, else rendered from its tool calls."""
    recorded = (message.response_metadata or {}).get("step_text")
    if recorded:
        return recorded
    thought = (message.response_metadata or {}).get("thought", "")
    if message.tool_calls:
        return "\n".join(
            step_text(thought if i == 0 else "", call["name"], call["args"])
            for i, call in enumerate(message.tool_calls)
        )
    return step_text(thought, FINAL_ANSWER, {"answer": str(message.content)})
