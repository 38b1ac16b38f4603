"""Render the subset of Go's text/template that Ollama Modelfile TEMPLATEs use, to check them without Ollama.

Supported: text, `{{ .System }}`-style fields (also on `$`, variables and parenthesized calls), `{{ if }}` /
`{{ else if }}` / `{{ else }}` / `{{ end }}`, `{{ with }}`, `{{ range .Messages }}` (with `$i, $m :=`
variables), `$x := ...` assignments, the functions eq, ne, lt, le, gt, ge, and, or, not, len, index, slice,
string literals, numbers, `{{/* comments */}}` and the `{{-` / `-}}` trim markers. Anything else (define,
template, block, pipes, other functions, unknown fields) raises `GoTemplateUnsupported` naming it when it is
reached, rather than rendering a guess: a tools branch that the conversation never enters
(`{{ if .Tools }}...{{ json . }}`) does not stop it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmdeck.core.errors import BadInput

WHITESPACE = " \t\r\n"
FUNCTIONS = ("eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "len", "index", "slice")
UNSUPPORTED_KEYWORDS = ("define", "template", "block", "break", "continue")
_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>"(?:[^"\\]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<char>'(?:[^'\\]|\\.)*')
    |(?P<declare>:=)
    |(?P<assign>=)
    |(?P<punct>[(),|])
    |(?P<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    |(?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
    |(?P<number>-?[0-9]+(?:\.[0-9]+)?)
    |(?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'", "0": "\0"}


class GoTemplateError(BadInput):
    """The template is not valid Go template syntax (Ollama would refuse it too)."""


class GoTemplateUnsupported(BadInput):
    """Valid perhaps, but beyond the subset this renderer implements; the message names the construct."""


# -- parse tree ---------------------------------------------------------------------------------------------
@dataclass
class _Token:
    kind: str
    text: str
    start: int
    end: int


@dataclass
class _Expr:
    """One operand or call: kind in literal | field | variable | call | paren; `chain` are fields after a paren."""

    kind: str
    value: Any = None
    args: list[_Expr] = field(default_factory=list)
    chain: tuple[str, ...] = ()


@dataclass
class _Text:
    text: str


@dataclass
class _Output:
    expr: _Expr
    declare: str | None = None  # `$x := expr` / `$x = expr` print nothing
    reassign: bool = False


@dataclass
class _If:
    branches: list[tuple[_Expr, list]]
    otherwise: list


@dataclass
class _With:
    """`{{ with X }}`: the body with X as the dot when X is truthy, else the `{{ else }}` part."""

    expr: _Expr
    body: list
    otherwise: list


@dataclass
class _Range:
    expr: _Expr
    variables: tuple[str, ...]
    body: list
    otherwise: list


@dataclass
class _Action:
    """An action as lexed: its words, its line, and whether it trims around it."""

    source: str
    line: int
    tokens: list[_Token]


def _lex(template: str) -> list[_Text | _Action]:
    """Text and actions, with `{{-` / `-}}` trims applied to the neighbouring text and comments dropped."""
    pieces: list[_Text | _Action] = []
    position, trim_next = 0, False
    while True:
        start = template.find("{{", position)
        text = template[position : start if start >= 0 else len(template)]
        if trim_next:
            text = text.lstrip(WHITESPACE)
        if start < 0:
            pieces.append(_Text(text))
            return pieces
        line = template.count("\n", 0, start) + 1
        inner_start = start + 2
        if template.startswith("- ", inner_start) or template.startswith("-\n", inner_start):
            text = text.rstrip(WHITESPACE)
            inner_start += 1
        pieces.append(_Text(text))
        end = _action_end(template, inner_start, line)
        inner_end, trim_next = end, False
        if template[end - 1] == "-" and template[end - 2] in WHITESPACE:
            inner_end, trim_next = end - 1, True
        source = template[inner_start:inner_end].strip()
        if not (source.startswith("/*") and source.endswith("*/")):
            pieces.append(_Action(source, line, _tokens(source, line)))
        position = end + 2


def _action_end(template: str, start: int, line: int) -> int:
    """Where the action's `}}` is, skipping quoted strings."""
    position, quote = start, ""
    while position < len(template) - 1:
        char = template[position]
        if quote:
            if char == "\\" and quote != "`":
                position += 1
            elif char == quote:
                quote = ""
        elif char in "\"`'":
            quote = char
        elif template.startswith("}}", position):
            return position
        position += 1
    raise GoTemplateError(f"TEMPLATE line {line}: an action opened with {{{{ is never closed with }}}}")


def _tokens(source: str, line: int) -> list[_Token]:
    tokens, position = [], 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if not match or match.end() == position:
            raise GoTemplateError(f"TEMPLATE line {line}: cannot read {{{{ {source} }}}} at {source[position:]!r}")
        kind = match.lastgroup or ""
        text = match.group(kind)
        tokens.append(_Token(kind, text, match.start(kind), match.end()))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, pieces: list[_Text | _Action]):
        self.pieces, self.index = pieces, 0

    def parse(self) -> list:
        nodes, stop = self._list(())
        if stop is not None:
            raise GoTemplateError(f"TEMPLATE line {stop.line}: {{{{ {stop.source} }}}} without an opening if/range")
        return nodes

    def _list(self, stops: tuple[str, ...]) -> tuple[list, _Action | None]:
        """Nodes up to one of `stops` (end, else); returns them and the action that stopped them."""
        nodes: list = []
        while self.index < len(self.pieces):
            piece = self.pieces[self.index]
            self.index += 1
            if isinstance(piece, _Text):
                if piece.text:
                    nodes.append(_Text(piece.text))
                continue
            keyword = piece.tokens[0].text if piece.tokens and piece.tokens[0].kind == "word" else ""
            if keyword in ("end", "else"):
                return nodes, piece
            if keyword in UNSUPPORTED_KEYWORDS:
                raise GoTemplateUnsupported(
                    f"TEMPLATE line {piece.line}: {{{{ {piece.source} }}}}: `{keyword}` is beyond what llmdeck renders"
                    " (if, range, fields, variables and eq/ne/lt/le/gt/ge/and/or/not/len/index/slice)"
                )
            if keyword == "if":
                nodes.append(self._if(piece))
            elif keyword == "with":
                nodes.append(self._with(piece))
            elif keyword == "range":
                nodes.append(self._range(piece))
            else:
                nodes.append(self._output(piece))
        if stops:
            raise GoTemplateError("TEMPLATE: an if/range is never closed with {{ end }} (at the end of the text)")
        return nodes, None

    def _if(self, action: _Action) -> _If:
        branches: list[tuple[_Expr, list]] = []
        condition = _expression(action, action.tokens[1:])
        while True:
            body, stop = self._list(("end", "else"))
            assert stop is not None  # _list raises at the end of the text when stops are given
            branches.append((condition, body))
            words = [token.text for token in stop.tokens]
            if words == ["end"]:
                return _If(branches, [])
            if words[:2] == ["else", "if"]:
                condition = _expression(stop, stop.tokens[2:])
                continue
            if words == ["else"]:
                otherwise, last = self._list(("end", "else"))
                if last is None or [token.text for token in last.tokens] != ["end"]:
                    raise GoTemplateError(
                        f"TEMPLATE line {stop.line}: {{{{ else }}}} must be followed by {{{{ end }}}}"
                    )
                return _If(branches, otherwise)
            raise GoTemplateUnsupported(
                f"TEMPLATE line {stop.line}: {{{{ {stop.source} }}}} is beyond what llmdeck renders"
            )

    def _with(self, action: _Action) -> _With:
        expr = _expression(action, action.tokens[1:])
        body, stop = self._list(("end", "else"))
        assert stop is not None  # _list raises at the end of the text when stops are given
        otherwise: list = []
        if [t.text for t in stop.tokens] == ["else"]:
            otherwise, stop = self._list(("end",))
        if stop is None or [t.text for t in stop.tokens] != ["end"]:
            raise GoTemplateUnsupported(
                f"TEMPLATE line {action.line}: {{{{ {action.source} }}}}: expected {{{{ end }}}}"
            )
        return _With(expr, body, otherwise)

    def _range(self, action: _Action) -> _Range:
        tokens = action.tokens[1:]
        variables: tuple[str, ...] = ()
        declare = next((i for i, token in enumerate(tokens) if token.kind == "declare"), None)
        if declare is not None:
            names = [token.text for token in tokens[:declare] if token.kind == "variable"]
            if not names or len(names) > 2:
                raise GoTemplateError(f"TEMPLATE line {action.line}: {{{{ {action.source} }}}}: expected $i, $x :=")
            variables, tokens = tuple(names), tokens[declare + 1 :]
        expr = _expression(action, tokens)
        body, stop = self._list(("end", "else"))
        assert stop is not None  # _list raises at the end of the text when stops are given
        otherwise: list = []
        if [t.text for t in stop.tokens] == ["else"]:
            otherwise, stop = self._list(("end",))
        if stop is None or [t.text for t in stop.tokens] != ["end"]:
            raise GoTemplateUnsupported(
                f"TEMPLATE line {action.line}: {{{{ {action.source} }}}}: expected {{{{ end }}}}"
            )
        return _Range(expr, variables, body, otherwise)

    def _output(self, action: _Action) -> _Output:
        tokens = action.tokens
        if len(tokens) >= 2 and tokens[0].kind == "variable" and tokens[1].kind in ("declare", "assign"):
            return _Output(_expression(action, tokens[2:]), tokens[0].text, tokens[1].kind == "assign")
        return _Output(_expression(action, tokens))


def _expression(action: _Action, tokens: list[_Token]) -> _Expr:
    if not tokens:
        raise GoTemplateError(f"TEMPLATE line {action.line}: {{{{ {action.source} }}}}: missing a value")
    if any(token.text == "|" and token.kind == "punct" for token in tokens):
        raise GoTemplateUnsupported(
            f"TEMPLATE line {action.line}: {{{{ {action.source} }}}}: pipes (|) are beyond what llmdeck renders"
        )
    expr, rest = _command(action, tokens)
    if rest:
        raise GoTemplateError(f"TEMPLATE line {action.line}: {{{{ {action.source} }}}}: unexpected {rest[0].text!r}")
    return expr


def _command(action: _Action, tokens: list[_Token]) -> tuple[_Expr, list[_Token]]:
    """A function call with its operands, or a single operand; stops at ')' or the end."""
    operands: list[_Expr] = []
    while tokens and tokens[0].text != ")":
        operand, tokens = _operand(action, tokens)
        operands.append(operand)
    if not operands:
        raise GoTemplateError(f"TEMPLATE line {action.line}: {{{{ {action.source} }}}}: empty ( )")
    head = operands[0]
    if head.kind == "function":
        return _Expr("call", head.value, operands[1:]), tokens
    if len(operands) > 1:
        raise GoTemplateError(
            f"TEMPLATE line {action.line}: {{{{ {action.source} }}}}: {head.value!r} is not a function"
        )
    return head, tokens


def _operand(action: _Action, tokens: list[_Token]) -> tuple[_Expr, list[_Token]]:
    token, rest = tokens[0], tokens[1:]
    where = f"TEMPLATE line {action.line}: {{{{ {action.source} }}}}"
    if token.text == "(":
        inner, rest = _command(action, rest)
        if not rest or rest[0].text != ")":
            raise GoTemplateError(f"{where}: a ( is never closed")
        close, rest = rest[0], rest[1:]
        chain: tuple[str, ...] = ()
        if rest and rest[0].kind == "field" and rest[0].start == close.end:
            chain, rest = tuple(rest[0].text.split(".")[1:]), rest[1:]
        return _Expr("paren", args=[inner], chain=chain), rest
    if token.kind == "string":
        return _Expr("literal", _unquote(token.text[1:-1])), rest
    if token.kind == "raw":
        return _Expr("literal", token.text[1:-1]), rest
    if token.kind == "number":
        return _Expr("literal", float(token.text) if "." in token.text else int(token.text)), rest
    if token.kind == "field":
        return _Expr("field", tuple(part for part in token.text.split(".")[1:] if part)), rest
    if token.kind == "variable":
        name, *chain_parts = token.text.split(".")
        return _Expr("variable", name, chain=tuple(chain_parts)), rest
    if token.kind == "word":
        if token.text in ("true", "false"):
            return _Expr("literal", token.text == "true"), rest
        if token.text == "nil":
            return _Expr("literal", None), rest
        return _Expr("function", token.text), rest  # one llmdeck lacks is refused if it is called
    raise GoTemplateUnsupported(f"{where}: {token.text!r} is beyond what llmdeck renders")


def _unquote(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), body)


# -- evaluation ---------------------------------------------------------------------------------------------
class _Stop(Exception):
    """Raised after `.Response` is printed when rendering the prompt of the last turn (Ollama cuts there)."""


@dataclass
class _Scope:
    root: Any
    dot: Any
    variables: list[dict[str, Any]]
    stop_at_response: bool = False

    def lookup(self, name: str) -> Any:
        if name == "$":
            return self.root
        for frame in reversed(self.variables):
            if name in frame:
                return frame[name]
        raise GoTemplateError(f"TEMPLATE: undefined variable {name}")

    def assign(self, name: str, value: Any, reassign: bool) -> None:
        if reassign:
            for frame in reversed(self.variables):
                if name in frame:
                    frame[name] = value
                    return
            raise GoTemplateError(f"TEMPLATE: {name} = ... before {name} := ...")
        self.variables[-1][name] = value


def _truth(value: Any) -> bool:
    return value not in (None, False, 0, "") and not (isinstance(value, (list, tuple, dict)) and not value)


def _field(value: Any, names: Sequence[str], scope: _Scope) -> Any:
    for name in names:
        if not isinstance(value, dict) or name not in value:
            known = ", ".join(sorted(value)) if isinstance(value, dict) else "none"
            raise GoTemplateUnsupported(f"TEMPLATE: the field .{name} is not one llmdeck renders (it has: {known})")
        value = value[name]
        if name == "Response" and scope.stop_at_response:
            raise _Stop(value)
    return value


def _evaluate(expr: _Expr, scope: _Scope) -> Any:
    if expr.kind == "literal":
        return expr.value
    if expr.kind == "field":
        return _field(scope.dot, expr.value, scope)
    if expr.kind == "variable":
        return _field(scope.lookup(expr.value), expr.chain, scope)
    if expr.kind == "paren":
        return _field(_evaluate(expr.args[0], scope), expr.chain, scope)
    if expr.kind == "call":
        return _call(expr.value, expr.args, scope)
    raise GoTemplateError(f"TEMPLATE: {expr.value} is a function; call it with its arguments in ( )")


def _call(name: str, args: list[_Expr], scope: _Scope) -> Any:
    def values() -> list:
        return [_evaluate(arg, scope) for arg in args]

    if name not in FUNCTIONS:
        raise GoTemplateUnsupported(
            f"TEMPLATE: the function {name!r} is beyond what llmdeck renders ({', '.join(FUNCTIONS)})"
        )

    if name in ("and", "or"):
        if not args:
            raise GoTemplateError(f"TEMPLATE: {name} needs arguments")
        value = None
        for arg in args:  # short-circuits like Go: the first falsy (and) / truthy (or) value, else the last
            value = _evaluate(arg, scope)
            if _truth(value) == (name == "or"):
                return value
        return value
    arguments = values()
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
    }
    try:
        if name == "not":
            (value,) = arguments
            return not _truth(value)
        if name == "eq":
            first, *others = arguments
            return any(first == other for other in others)
        if name == "ne":
            first, second = arguments
            return first != second
        if name in comparisons:
            first, second = arguments
            return comparisons[name](first, second)
        if name == "len":
            (value,) = arguments
            return len(value)
        if name == "index":
            value, *keys = arguments
            for key in keys:
                value = value[key]
            return value
        if name == "slice":
            value, *bounds = arguments
            return value[bounds[0] : bounds[1]] if len(bounds) == 2 else value[bounds[0] :] if bounds else value
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise GoTemplateError(f"TEMPLATE: {name} failed on {arguments!r} ({exc})") from None
    raise GoTemplateUnsupported(
        f"TEMPLATE: the function {name!r} is beyond what llmdeck renders ({', '.join(FUNCTIONS)})"
    )


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<no value>"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise GoTemplateUnsupported(f"TEMPLATE: printing a {type(value).__name__} is beyond what llmdeck renders")


def _execute(nodes: list, scope: _Scope, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Output):
            value = _evaluate(node.expr, scope)
            if node.declare:
                scope.assign(node.declare, value, node.reassign)
            else:
                out.append(_show(value))
        elif isinstance(node, _If):
            chosen = next((body for cond, body in node.branches if _truth(_evaluate(cond, scope))), node.otherwise)
            scope.variables.append({})
            try:
                _execute(chosen, scope, out)
            finally:
                scope.variables.pop()
        elif isinstance(node, _With):
            value = _evaluate(node.expr, scope)
            outer_dot = scope.dot
            scope.variables.append({})
            try:
                if _truth(value):
                    scope.dot = value
                    _execute(node.body, scope, out)
                else:
                    _execute(node.otherwise, scope, out)
            finally:
                scope.variables.pop()
                scope.dot = outer_dot
        elif isinstance(node, _Range):
            _range(node, scope, out)


def _range(node: _Range, scope: _Scope, out: list[str]) -> None:
    items = _evaluate(node.expr, scope)
    if items is None:
        items = []
    if not isinstance(items, (list, tuple)):
        raise GoTemplateUnsupported(f"TEMPLATE: range over a {type(items).__name__} is beyond what llmdeck renders")
    if not items:
        _execute(node.otherwise, scope, out)
        return
    outer_dot = scope.dot
    for index, item in enumerate(items):
        frame: dict[str, Any] = {}
        if len(node.variables) == 1:
            frame[node.variables[0]] = item
        elif len(node.variables) == 2:
            frame[node.variables[0]], frame[node.variables[1]] = index, item
        scope.variables.append(frame)
        scope.dot = item
        try:
            _execute(node.body, scope, out)
        finally:
            scope.variables.pop()
            scope.dot = outer_dot


# -- Ollama's way of calling a template -------------------------------------------------------------------
@dataclass(frozen=True)
class GoTemplate:
    """A parsed TEMPLATE; `render_chat` fills it the way Ollama's `template.Execute` does."""

    source: str
    nodes: list

    @property
    def uses_messages(self) -> bool:
        return ".Messages" in self.source

    def render(self, data: dict, stop_at_response: bool = False) -> str:
        out: list[str] = []
        scope = _Scope(root=data, dot=data, variables=[{}], stop_at_response=stop_at_response)
        try:
            _execute(self.nodes, scope, out)
        except _Stop as stop:
            out.append(_show(stop.args[0]))
        except RecursionError:
            raise GoTemplateUnsupported("TEMPLATE: nested too deeply to render") from None
        return "".join(out)

    def render_chat(self, messages: Sequence[dict]) -> str:
        """The prompt Ollama builds for a chat request ending in a user turn (the reply is what follows)."""
        system, collated = _collate(messages)
        if self.uses_messages:
            data = {
                "System": system,
                "Messages": [{"Role": m["role"], "Content": m["content"], "ToolCalls": []} for m in collated],
                "Tools": [],
                "Prompt": "",
                "Response": "",
            }
            return self.render(data)
        return self._legacy(collated)

    def _legacy(self, messages: list[dict]) -> str:
        """Templates of .System/.Prompt/.Response are run once per turn; the last one is cut at .Response."""
        parts: list[str] = []
        turn = {"System": "", "Prompt": "", "Response": ""}

        def flush() -> None:
            parts.append(self.render(dict(turn)))
            turn.update(System="", Prompt="", Response="")

        for message in messages:
            role, content = message["role"], message["content"]
            if role == "system":
                if turn["Prompt"] or turn["Response"]:
                    flush()
                turn["System"] = content
            elif role == "user":
                if turn["Response"]:
                    flush()
                turn["Prompt"] = content
            elif role == "assistant":
                turn["Response"] = content
        parts.append(self.render(dict(turn), stop_at_response=True))
        return "".join(parts)


def _collate(messages: Sequence[dict]) -> tuple[str, list[dict]]:
    """Ollama's collate: the system messages joined, and consecutive messages of one role merged."""
    system = [m["content"] for m in messages if m["role"] == "system"]
    collated: list[dict] = []
    for message in messages:
        if collated and collated[-1]["role"] == message["role"]:
            collated[-1] = {**collated[-1], "content": collated[-1]["content"] + "\n\n" + message["content"]}
        else:
            collated.append(dict(message))
    return "\n\n".join(system), collated


def parse(template: str) -> GoTemplate:
    """Parse a TEMPLATE; `GoTemplateError` for broken syntax, `GoTemplateUnsupported` beyond the subset."""
    return GoTemplate(template, _Parser(_lex(template)).parse())


def modelfile_template(modelfile_text: str, where: str = "Modelfile") -> str:
    """The TEMPLATE of a Modelfile (`TEMPLATE \"\"\"...\"\"\"`, `TEMPLATE "..."` or the rest of its line)."""
    match = re.search(r'^\s*TEMPLATE\s+(?:"""(.*?)"""|"((?:[^"\\]|\\.)*)"|(.*)$)', modelfile_text, re.M | re.S | re.I)
    if match is None:
        raise BadInput(f'{where}: no TEMPLATE line (expected TEMPLATE """...""")')
    if match.group(1) is not None:
        return match.group(1)
    if match.group(2) is not None:
        return _unquote(match.group(2))
    return (match.group(3) or "").split("\n", 1)[0].strip()
