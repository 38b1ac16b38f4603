"""Arithmetic for the `calculator` tool: an AST walker over numbers, + - * / // % **, parentheses and a few
math functions. Never `eval`: names, attributes, calls to anything else and huge powers are refused."""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any

MAX_EXPRESSION_CHARS = 500
MAX_INT_DIGITS = 1000
MAX_EXPONENT = 10_000

BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "floor": math.floor,
    "ceil": math.ceil,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "factorial": math.factorial,
}
CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
# what small models write instead of Python operators
SPELLINGS = {"×": "*", "·": "*", "÷": "/", "^": "**", "−": "-", "²": "**2", "³": "**3"}


def _arithmetic_pattern() -> str:
    """A regular expression for what the calculator evaluates: numbers and constants joined by operators, with
    opening parentheses, signs and function calls before a number and closing parentheses after it. It is the
    calculator argument's JSON-schema `pattern`, so the grammar only lets a model write arithmetic (never
    `} + 23 # ...`). Written for both Python's `re` and llama.cpp's regex-to-GBNF converter: no backslash
    escapes but `\\(` `\\)` `\\*` `\\+`, classes for the rest, and every repeated group consumes an operator,
    so a long non-match fails fast (no nested repetition to backtrack through)."""
    functions = "|".join(sorted(FUNCTIONS, key=lambda name: (-len(name), name)))
    constants = "|".join(sorted(CONSTANTS))
    opening = rf"(\(|-|\+|({functions})\() *"
    atom = rf"([0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?|{constants})"
    closing = r" *(\)|²|³)"
    operator_ = r" *(\*\*|//|[-+*/%^×÷·−,]) *"
    term = rf"({opening})*{atom}({closing})*"
    return rf"^ *{term}({operator_}{term})* *$"


ARITHMETIC_PATTERN = _arithmetic_pattern()
ARITHMETIC_HINT = "numbers joined by + - * / ** // %, parentheses, sqrt, round, min, max, log... e.g. 12 * (3 + 4)"


class CalculatorError(ValueError):
    """The expression is not arithmetic we evaluate; the message says why."""


def is_arithmetic(expression: str) -> bool:
    """Whether `expression` fits the calculator argument's pattern (after the trailing = or ? is dropped)."""
    return re.search(ARITHMETIC_PATTERN, expression.strip().rstrip("=?")) is not None


def calculate(expression: str) -> str:
    """The value of `expression` as text (integral results without a trailing .0)."""
    text = normalize(expression)
    if not text:
        raise CalculatorError("empty expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise CalculatorError(f"not an arithmetic expression: {expression!r}") from None
    try:
        return format_number(_evaluate(tree.body))
    except (ZeroDivisionError, OverflowError, ValueError, TypeError) as exc:
        if isinstance(exc, CalculatorError):
            raise
        raise CalculatorError(f"{type(exc).__name__}: {exc}") from None


def normalize(expression: str) -> str:
    text = expression.strip().rstrip("=?").strip()
    for written, python in SPELLINGS.items():
        text = text.replace(written, python)
    return text


def _evaluate(node: ast.AST):
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _bounded(BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in FUNCTIONS
        and not node.keywords
    ):
        arguments = [_evaluate(argument) for argument in node.args]
        if node.func.id == "factorial" and (not arguments or arguments[0] > 500):
            raise CalculatorError("factorial: expected an integer up to 500")
        return _bounded(FUNCTIONS[node.func.id](*arguments))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in FUNCTIONS:
        raise CalculatorError(f"unknown function {node.func.id!r} (known: {', '.join(sorted(FUNCTIONS))})")
    if isinstance(node, ast.Name):
        raise CalculatorError(f"unknown name {node.id!r} (known: {', '.join(sorted(CONSTANTS | FUNCTIONS))})")
    raise CalculatorError(f"unsupported syntax: {ast.unparse(node)!r}")


def _check_power(base, exponent) -> None:
    if abs(exponent) > MAX_EXPONENT or (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and exponent * math.log10(abs(base)) > MAX_INT_DIGITS
    ):
        raise CalculatorError("result too large")


def _bounded(value):
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("result too large (not a finite number)")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value).bit_length() > MAX_INT_DIGITS * 3.33:
        raise CalculatorError("result too large")
    if isinstance(value, complex):
        raise CalculatorError("complex result")
    return value


def format_number(value) -> str:
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.12g}"
    return str(value)
