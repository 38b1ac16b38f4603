"""Coding task families for the verify pair, graded 1 (print one computed value), 2 (loops, several values or
lines) and 3 (functions checked by asserts). Each task comes with a reference program: a printing task's
expected stdout is what its reference prints, a function task's asserts are its reference's return values on
drawn inputs, so no expected value is typed in by hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import random
from collections.abc import Callable

from llmdeck.agents.task_gen import Draft, Family
from llmdeck.agents.task_gen.agent import WORDS


def run_reference(program: str) -> str:
    """What a reference program prints (our own generated code, run in-process)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(program, {"__name__": "__main__"})  # noqa: S102 (generated here, never user or model text)
    return out.getvalue().rstrip("\n")


def printing(prompt: str, difficulty: int, program: str) -> Draft:
    return Draft(prompt, difficulty, expect=run_reference(program), reference=program)


def function_task(prompt: str, reference: str, name: str, inputs: list[tuple]) -> Draft:
    """A function task whose asserts are the reference's own results on `inputs`."""
    namespace: dict = {}
    exec(reference, namespace)  # noqa: S102 (generated here)
    lines = []
    for args in inputs:
        value = namespace[name](*args)
        call = f"{name}({', '.join(repr(a) for a in args)})"
        lines.append(f"assert {call} is {value}" if isinstance(value, bool) else f"assert {call} == {value!r}")
    return Draft(prompt, 3, tests="\n".join(lines) + "\n", reference=reference)


def _list(rng: random.Random, low: int = 1, high: int = 99) -> list[int]:
    return rng.sample(range(low, high + 1), rng.randint(4, 7))


# -- level 1: one value -------------------------------------------------------------------------------
def numbers(rng: random.Random) -> Draft:
    form = rng.choice(["sum-range", "square", "power", "remainder", "list-stat"])
    if form == "sum-range":
        n = rng.randint(10, 999)
        return printing(f"Print the sum of the numbers from 1 to {n}.", 1, f"print(sum(range(1, {n} + 1)))")
    if form == "square":
        n = rng.randint(11, 999)
        return printing(f"Print {n} squared.", 1, f"print({n} ** 2)")
    if form == "power":
        b, e = rng.randint(2, 9), rng.randint(2, 20)
        return printing(f"Print {b} to the power of {e}.", 1, f"print({b} ** {e})")
    if form == "remainder":
        a, b = rng.randint(100, 9999), rng.randint(3, 29)
        return printing(f"Print the remainder of {a} divided by {b}.", 1, f"print({a} % {b})")
    values = _list(rng)
    kind, function = rng.choice([("largest number", "max"), ("smallest number", "min"), ("sum of the numbers", "sum")])
    return printing(f"Print the {kind} in the list {values}.", 1, f"print({function}({values}))")


def strings(rng: random.Random) -> Draft | None:
    word = rng.choice(WORDS)
    form = rng.choice(["reverse", "upper", "length", "count", "letters"])
    if form == "reverse":
        return printing(f"Print the string '{word}' reversed.", 1, f"print({word!r}[::-1])")
    if form == "upper":
        return printing(f"Print the word '{word}' in upper case.", 1, f"print({word!r}.upper())")
    if form == "length":
        text = "".join(rng.sample(WORDS, 2))
        return printing(f"Print the length of the string '{text}'.", 1, f"print(len({text!r}))")
    if form == "count":
        letter = rng.choice(sorted(set(word)))
        prompt = f"Print how many times the letter '{letter}' occurs in the word '{word}'."
        return printing(prompt, 1, f"print({word!r}.count({letter!r}))")
    return printing(f"Print each letter of the word '{word}' on its own line.", 2, f"for c in {word!r}:\n    print(c)")


# -- level 2: loops and several values ----------------------------------------------------------------
def loops(rng: random.Random) -> Draft:
    form = rng.choice(["range", "squares", "evens", "multiples", "countdown", "divisible", "fizzbuzz"])
    if form == "range":
        a = rng.randint(1, 30)
        b = a + rng.randint(2, 8)
        prompt = f"Print the numbers from {a} to {b}, one per line."
        return printing(prompt, 2, f"for i in range({a}, {b} + 1):\n    print(i)")
    if form == "squares":
        a = rng.randint(1, 10)
        b = a + rng.randint(3, 7)
        prompt = f"Print the squares of the numbers {a} to {b} on one line separated by spaces."
        return printing(prompt, 2, f"print(' '.join(str(i * i) for i in range({a}, {b} + 1)))")
    if form == "evens":
        n = rng.randint(10, 40)
        prompt = f"Print the even numbers from 2 to {n} on one line separated by spaces."
        return printing(prompt, 2, f"print(' '.join(str(i) for i in range(2, {n} + 1, 2)))")
    if form == "multiples":
        n, k = rng.randint(2, 25), rng.randint(3, 8)
        prompt = f"Print the first {k} multiples of {n} (starting with {n}), one per line."
        return printing(prompt, 2, f"for i in range(1, {k} + 1):\n    print({n} * i)")
    if form == "countdown":
        n = rng.randint(3, 15)
        prompt = f"Print a countdown from {n} to 1, one number per line."
        return printing(prompt, 2, f"for i in range({n}, 0, -1):\n    print(i)")
    if form == "divisible":
        n, k = rng.randint(20, 80), rng.randint(3, 9)
        prompt = f"Print the numbers from 1 to {n} that are divisible by {k}, on one line separated by spaces."
        return printing(prompt, 2, f"print(' '.join(str(i) for i in range(1, {n} + 1) if i % {k} == 0))")
    n = rng.randint(10, 30)
    prompt = (
        f"Print the numbers from 1 to {n}, one per line, but print Fizz instead of multiples of 3, Buzz instead of"
        " multiples of 5, and FizzBuzz instead of multiples of both."
    )
    program = (
        f"for i in range(1, {n} + 1):\n"
        "    print('FizzBuzz' if i % 15 == 0 else 'Fizz' if i % 3 == 0 else 'Buzz' if i % 5 == 0 else i)"
    )
    return printing(prompt, 2, program)


def algorithms(rng: random.Random) -> Draft:
    form = rng.choice(["factorial", "fib", "digit-sum", "primes", "gcd", "binary", "sorted"])
    if form == "factorial":
        n = rng.randint(4, 20)
        return printing(f"Print the factorial of {n}.", 2, f"import math\nprint(math.factorial({n}))")
    if form == "fib":
        n = rng.randint(6, 25)
        prompt = f"Print the first {n} Fibonacci numbers on one line separated by spaces, starting with 0 1."
        program = f"fib = [0, 1]\nwhile len(fib) < {n}:\n    fib.append(fib[-1] + fib[-2])\nprint(*fib)"
        return printing(prompt, 2, program)
    if form == "digit-sum":
        n = rng.randint(1000, 9_999_999)
        return printing(f"Print the sum of the digits of {n}.", 2, f"print(sum(int(d) for d in str({n})))")
    if form == "primes":
        n = rng.randint(10, 80)
        prompt = f"Print the prime numbers smaller than {n} on one line separated by spaces."
        program = f"print(*[p for p in range(2, {n}) if all(p % d for d in range(2, int(p ** 0.5) + 1))])"
        return printing(prompt, 2, program)
    if form == "gcd":
        g = rng.randint(2, 20)
        a, b = g * rng.randint(2, 15), g * rng.randint(2, 15)
        prompt = f"Print the greatest common divisor of {a} and {b}."
        return printing(prompt, 2, f"import math\nprint(math.gcd({a}, {b}))")
    if form == "binary":
        n = rng.randint(5, 1000)
        return printing(f"Print {n} in binary, without the 0b prefix.", 2, f"print(format({n}, 'b'))")
    values = _list(rng)
    prompt = f"Print the list {values} sorted from smallest to largest, as a Python list."
    return printing(prompt, 2, f"print(sorted({values}))")


def dates(rng: random.Random) -> Draft:
    day = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 1460))
    form = rng.choice(["between", "weekday", "after"])
    head = "from datetime import date, timedelta\n"
    ymd = f"{day.year}, {day.month}, {day.day}"
    if form == "between":
        other = day + dt.timedelta(days=rng.randint(5, 400))
        prompt = f"Print how many days after {day.isoformat()} the date {other.isoformat()} is."
        return printing(prompt, 2, head + f"print((date.fromisoformat({other.isoformat()!r}) - date({ymd})).days)")
    if form == "weekday":
        prompt = f"Print the English name of the weekday of {day.isoformat()} (for example Monday)."
        return printing(prompt, 2, head + f"print(date({ymd}).strftime('%A'))")
    n = rng.randint(3, 200)
    prompt = f"Print the date {n} days after {day.isoformat()} in the form YYYY-MM-DD."
    return printing(prompt, 2, head + f"print(date({ymd}) + timedelta(days={n}))")


UNIT_PAIRS = [
    ("hours", "seconds", 3600),
    ("kilometers", "meters", 1000),
    ("days", "minutes", 1440),
    ("feet", "inches", 12),
    ("weeks", "hours", 168),
    ("kilograms", "grams", 1000),
]


def units(rng: random.Random) -> Draft:
    big, small, factor = rng.choice(UNIT_PAIRS)
    n = rng.randint(2, 99)
    return printing(f"Print how many {small} are in {n} {big}.", 1, f"print({n} * {factor})")


def parsing(rng: random.Random) -> Draft:
    form = rng.choice(["csv-sum", "words", "max-field"])
    if form == "csv-sum":
        text = ",".join(str(v) for v in _list(rng))
        prompt = f"Print the sum of the comma-separated numbers in the string '{text}'."
        return printing(prompt, 2, f"print(sum(int(v) for v in {text!r}.split(',')))")
    if form == "words":
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12)))
        prompt = f"Print the number of words in the sentence '{sentence}'."
        return printing(prompt, 2, f"print(len({sentence!r}.split()))")
    names = rng.sample(WORDS, rng.randint(3, 6))
    pairs = ";".join(f"{n}={v}" for n, v in zip(names, rng.sample(range(1, 500), len(names))))
    prompt = (
        f"The string '{pairs}' holds name=value pairs separated by semicolons. Print the name with the largest value."
    )
    program = f"pairs = [p.split('=') for p in {pairs!r}.split(';')]\nprint(max(pairs, key=lambda p: int(p[1]))[0])"
    return printing(prompt, 2, program)


# -- level 3: functions checked by asserts -------------------------------------------------------------
FUNCTIONS: list[tuple[str, str, str, list[tuple]]] = [  # (what to define, name, reference, inputs)
    ("add(a, b) that returns the sum of a and b", "add", "def add(a, b):\n    return a + b", [(2, 3), (-1, 1), (0, 0)]),
    (
        "is_even(n) that returns True when n is even and False otherwise",
        "is_even",
        "def is_even(n):\n    return n % 2 == 0",
        [(4,), (7,), (0,)],
    ),
    (
        "reverse_string(s) that returns the string s reversed",
        "reverse_string",
        "def reverse_string(s):\n    return s[::-1]",
        [("abc",), ("",), ("level",)],
    ),
    (
        "count_vowels(s) that returns how many of the letters a, e, i, o, u are in s",
        "count_vowels",
        "def count_vowels(s):\n    return sum(c in 'aeiou' for c in s)",
        [("banana",), ("sky",), ("queue",)],
    ),
    (
        "max_of_three(a, b, c) that returns the largest of the three numbers",
        "max_of_three",
        "def max_of_three(a, b, c):\n    return max(a, b, c)",
        [(1, 5, 3), (-1, -5, -3), (7, 7, 2)],
    ),
    (
        "is_palindrome(s) that returns True when s reads the same backwards",
        "is_palindrome",
        "def is_palindrome(s):\n    return s == s[::-1]",
        [("level",), ("hello",), ("",)],
    ),
    (
        "celsius_to_fahrenheit(c) that converts Celsius to Fahrenheit (c * 9 / 5 + 32)",
        "celsius_to_fahrenheit",
        "def celsius_to_fahrenheit(c):\n    return c * 9 / 5 + 32",
        [(0,), (100,), (-40,)],
    ),
    (
        "sum_list(numbers) that returns the sum of a list of numbers",
        "sum_list",
        "def sum_list(numbers):\n    return sum(numbers)",
        [([1, 2, 3],), ([],), ([-4, 4, 10],)],
    ),
    (
        "factorial(n) that returns n factorial for n >= 0",
        "factorial",
        "def factorial(n):\n    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result",
        [(0,), (5,), (10,)],
    ),
    (
        "fib(n) that returns the n-th Fibonacci number, with fib(0) == 0 and fib(1) == 1",
        "fib",
        "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
        [(0,), (1,), (10,), (20,)],
    ),
    (
        "gcd(a, b) that returns the greatest common divisor of two positive integers",
        "gcd",
        "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a",
        [(12, 18), (7, 5), (100, 75)],
    ),
    (
        "count_words(s) that returns the number of words in s (split on spaces)",
        "count_words",
        "def count_words(s):\n    return len(s.split())",
        [("a b c",), ("hello",), ("one two",)],
    ),
    (
        "first_char(s) that returns the first character of a non-empty string s",
        "first_char",
        "def first_char(s):\n    return s[0]",
        [("hello",), ("x",)],
    ),
    (
        "last_item(items) that returns the last element of a non-empty list",
        "last_item",
        "def last_item(items):\n    return items[-1]",
        [([1, 2, 3],), (["a"],)],
    ),
    (
        "is_positive(n) that returns True when n is greater than 0",
        "is_positive",
        "def is_positive(n):\n    return n > 0",
        [(3,), (-2,), (0,)],
    ),
    (
        "average(numbers) that returns the mean of a non-empty list of numbers",
        "average",
        "def average(numbers):\n    return sum(numbers) / len(numbers)",
        [([1, 2, 3],), ([4],), ([1, 2],)],
    ),
    (
        "double_all(numbers) that returns a new list with every number doubled",
        "double_all",
        "def double_all(numbers):\n    return [2 * n for n in numbers]",
        [([1, 2, 3],), ([],)],
    ),
    (
        "only_even(numbers) that returns the even numbers of a list, in order",
        "only_even",
        "def only_even(numbers):\n    return [n for n in numbers if n % 2 == 0]",
        [([1, 2, 3, 4],), ([1, 3],)],
    ),
    (
        "is_prime(n) that returns True when the integer n is a prime number",
        "is_prime",
        "def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))",
        [(2,), (1,), (9,), (13,), (0,)],
    ),
    (
        "unique_sorted(numbers) that returns the distinct numbers of a list in increasing order",
        "unique_sorted",
        "def unique_sorted(numbers):\n    return sorted(set(numbers))",
        [([3, 1, 3, 2],), ([],), ([5, 5],)],
    ),
]


def functions(rng: random.Random) -> list[Draft]:
    return [function_task(f"Define a function {what}.", ref, name, inputs) for what, name, ref, inputs in FUNCTIONS]


def parametrized_functions(rng: random.Random) -> Draft:
    form = rng.choice(["times", "divisible", "starts", "ends", "power", "clamp", "count-char", "repeat"])
    if form == "times":
        k = rng.randint(3, 40)
        return function_task(
            f"Define a function times_{k}(x) that returns x multiplied by {k}.",
            f"def times_{k}(x):\n    return x * {k}",
            f"times_{k}",
            [(2,), (0,), (-1,), (rng.randint(5, 50),)],
        )
    if form == "divisible":
        k = rng.randint(3, 40)
        return function_task(
            f"Define a function divisible_by_{k}(n) that returns True when n is divisible by {k}.",
            f"def divisible_by_{k}(n):\n    return n % {k} == 0",
            f"divisible_by_{k}",
            [(k * rng.randint(2, 9),), (k * rng.randint(2, 9) + 1,), (0,)],
        )
    if form in ("starts", "ends"):
        letter = rng.choice("abcdefghijklmnoprstuvwy")
        word = next((w for w in rng.sample(WORDS, len(WORDS)) if (w[0] if form == "starts" else w[-1]) == letter), None)
        name = f"{form}_with_{letter}"
        method = "startswith" if form == "starts" else "endswith"
        inputs = [(word,)] if word else []
        inputs += [("zz",), (letter,), ("",)]
        return function_task(
            f"Define a function {name}(s) that returns True when the string s {form} with the letter '{letter}'.",
            f"def {name}(s):\n    return s.{method}({letter!r})",
            name,
            inputs,
        )
    if form == "power":
        k = rng.randint(2, 6)
        return function_task(
            f"Define a function power_{k}(x) that returns x raised to the power {k}.",
            f"def power_{k}(x):\n    return x ** {k}",
            f"power_{k}",
            [(2,), (-3,), (0,), (rng.randint(4, 12),)],
        )
    if form == "clamp":
        low = rng.randint(-20, 10)
        high = low + rng.randint(5, 50)
        name = f"clamp_{low}_{high}".replace("-", "minus")
        return function_task(
            f"Define a function {name}(x) that returns x limited to the range {low} to {high}"
            f" (values below {low} become {low}, values above {high} become {high}).",
            f"def {name}(x):\n    return min(max(x, {low}), {high})",
            name,
            [(low - 7,), (high + 3,), (low,), ((low + high) // 2,)],
        )
    if form == "count-char":
        letter = rng.choice("aeinorst")
        name = f"count_{letter}"
        return function_task(
            f"Define a function {name}(s) that returns how many times the letter '{letter}' occurs in s.",
            f"def {name}(s):\n    return s.count({letter!r})",
            name,
            [(rng.choice(WORDS),), ("",), (letter * 3,), (rng.choice(WORDS) + rng.choice(WORDS),)],
        )
    k = rng.randint(2, 5)
    return function_task(
        f"Define a function repeat_{k}(s) that returns the string s repeated {k} times.",
        f"def repeat_{k}(s):\n    return s * {k}",
        f"repeat_{k}",
        [("ab",), ("",), (rng.choice(WORDS),)],
    )


def _family(name: str, count: int, draw: Callable, topic: str, notes: str) -> Family:
    return Family(name, count, draw=draw, topic=topic, notes=notes)


FAMILIES = [
    _family("code-numbers", 60, numbers, "numbers", "sum 1..n, squares, powers, remainders, max/min/sum of a list"),
    _family("code-strings", 55, strings, "strings", "reverse, upper case, length, count a letter, letters per line"),
    _family("code-loops", 60, loops, "loops", "ranges, squares, evens, multiples, countdowns, divisible-by, FizzBuzz"),
    _family(
        "code-algorithms",
        60,
        algorithms,
        "algorithms",
        "factorial, Fibonacci, digit sums, primes, gcd, binary, sorting",
    ),
    _family("code-dates", 30, dates, "dates", "days between, weekday names, N days after"),
    _family("code-units", 25, units, "units", "six unit conversions"),
    _family("code-parsing", 30, parsing, "parsing", "sum of CSV numbers, word counts, the largest of name=value pairs"),
    Family(
        "code-functions",
        len(FUNCTIONS),
        table=functions,
        topic="functions",
        notes="20 small functions, asserts from their reference",
    ),
    _family(
        "code-params",
        60,
        parametrized_functions,
        "functions",
        "times_k, divisible_by_k, starts/ends_with, power, clamp, count, repeat",
    ),
]
