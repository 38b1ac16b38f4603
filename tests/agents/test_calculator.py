"""The calculator evaluates arithmetic through an AST walker and refuses everything else."""

import pytest

from llmdeck.agents.calculator import CalculatorError, calculate


@pytest.mark.parametrize(
    "expression, value",
    [
        ("2 + 2", "4"),
        ("17 * 23", "391"),
        ("(3 + 4) * 5 - 1", "34"),
        ("7 / 2", "3.5"),
        ("10 / 2", "5"),
        ("7 // 2", "3"),
        ("-3 ** 2", "-9"),
        ("2 ** 10", "1024"),
        ("17 % 5", "2"),
        ("sqrt(16)", "4"),
        ("round(2.567, 2)", "2.57"),
        ("max(3, 9, 4)", "9"),
        ("pi", "3.14159265359"),
        ("12 × 3", "36"),
        ("2^8", "256"),
        ("100 ÷ 4", "25"),
        ("17 * 23 =", "391"),
        ("1e3 + 1", "1001"),
        ("factorial(5)", "120"),
    ],
)
def test_arithmetic(expression, value):
    assert calculate(expression) == value


@pytest.mark.parametrize(
    "expression, problem",
    [
        ("__import__('os').system('id')", "unsupported syntax"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("x + 1", "unknown name 'x'"),
        ("(1).__class__", "unsupported syntax"),
        ("[1, 2]", "unsupported syntax"),
        ("9 ** 9 ** 9", "too large"),
        ("10 ** 100000", "too large"),
        ("factorial(100000)", "factorial"),
        ("1 / 0", "ZeroDivisionError"),
        ("2 +", "not an arithmetic expression"),
        ("", "empty"),
        ("'a' * 3", "unsupported syntax"),
        ("sqrt(-1)", "ValueError"),
    ],
)
def test_everything_else_is_refused_with_a_reason(expression, problem):
    with pytest.raises(CalculatorError, match=problem):
        calculate(expression)


def test_long_input_is_refused():
    with pytest.raises(CalculatorError, match="longer than"):
        calculate("1+" * 400 + "1")
