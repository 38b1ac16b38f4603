"""Agent question families: arithmetic and unit conversions (calculator), dates, strings, lists, parsing and
small algorithms (the python tool), and questions that need no tool. Lookups in the workspace files and the RAG
corpus are in `task_gen.fixtures`.

Which tool a question expects follows one rule, said in the docs: plain arithmetic on numbers in the question is
the calculator's; any other computation (on dates, text, lists, or an algorithm) is the python tool's; general
knowledge needs no tool. Every answer is computed below; every tool question's hint is the call that gives it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import random

from llmdeck.agents.task_gen import Draft, Family, ordinal, spaced

WORDS = (
    "banana python rocket garden window silver planet yellow castle mirror orange puzzle breeze candle forest"
    " jungle marble pepper kettle anchor bottle cactus dragon feather glacier harbor island lantern meadow"
    " nectar oyster pirate quartz ribbon saddle tunnel velvet walnut yogurt zipper basket cotton desert"
    " engine falcon guitar helmet insect jacket koala lemon magnet napkin paddle rabbit sunset teapot"
).split()
WEEKDAYS = list(calendar.day_name)  # Monday first, as date.weekday() counts
MONTHS = list(calendar.month_name)[1:]
NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
    " seventeen eighteen nineteen twenty"
).split()


def _python(code: str) -> dict:
    return {"code": code}


def _calc(expression: str) -> dict:
    return {"expression": expression}


# -- calculator -----------------------------------------------------------------------------------
def arithmetic(rng: random.Random) -> Draft:
    a, b, c = rng.randint(12, 99), rng.randint(12, 99), rng.randint(2, 9)
    form = rng.choice(["+", "-", "*", "mix", "mix2", "div", "percent"])
    if form == "mix":
        expression, difficulty = f"({a} + {b}) * {c}", 2
    elif form == "mix2":
        expression, difficulty = f"{a} * {c} - {b}", 2
    elif form == "div":
        expression, difficulty = f"{a * c} / {c}", 2
    elif form == "percent":
        p, base = rng.choice([10, 20, 25, 50, 75]), rng.randint(2, 40) * 20
        value = p * base // 100
        return Draft(f"What is {p}% of {base}?", 3, (str(value),), "calculator", _calc(f"{base} * {p} / 100"))
    else:
        expression, difficulty = f"{a} {form} {b}", 1
    value = _arithmetic_value(expression)
    return Draft(f"What is {expression}?", difficulty, (str(value),), "calculator", _calc(expression))


def _arithmetic_value(expression: str) -> int:
    from llmdeck.agents.calculator import calculate

    return int(calculate(expression))


UNITS = [  # (from unit, to unit, factor): 1 from = factor to
    ("kilometers", "meters", 1000),
    ("meters", "centimeters", 100),
    ("centimeters", "millimeters", 10),
    ("hours", "minutes", 60),
    ("minutes", "seconds", 60),
    ("hours", "seconds", 3600),
    ("days", "hours", 24),
    ("weeks", "days", 7),
    ("years", "months", 12),
    ("kilograms", "grams", 1000),
    ("liters", "milliliters", 1000),
    ("feet", "inches", 12),
    ("yards", "feet", 3),
    ("dollars", "cents", 100),
    ("dozen", "eggs", 12),
]


def units(rng: random.Random) -> Draft:
    big, small, factor = rng.choice(UNITS)
    x = rng.randint(2, 60)
    if rng.random() < 0.35:  # the other way: an exact multiple of the factor back to the larger unit
        question = (
            f"How many {big} are {x * factor} {small}?" if big != "dozen" else f"How many dozen are {x * 12} eggs?"
        )
        return Draft(question, 2, (str(x),), "calculator", _calc(f"{x * factor} / {factor}"))
    shown = f"{x}" if factor % 2 or rng.random() < 0.7 else f"{x}.5"
    value = int(float(shown) * factor)
    question = f"How many {small} are in {shown} {big}?"
    return Draft(question, 2, (str(value),), "calculator", _calc(f"{shown} * {factor}"))


# -- python: dates ----------------------------------------------------------------------------------
def _ymd(day: dt.date) -> str:
    return f"{day.year}, {day.month}, {day.day}"


def dates(rng: random.Random) -> Draft:
    day = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randint(0, 1460))
    form = rng.choice(["between", "weekday", "after", "before", "month"])
    head = "from datetime import date, timedelta\n"
    if form == "between":
        other = day + dt.timedelta(days=rng.randint(5, 400))
        question = f"How many days after {day.isoformat()} is {other.isoformat()}?"
        code = head + f"print((date({_ymd(other)}) - date({_ymd(day)})).days)"
        return Draft(question, 3, (str((other - day).days),), "python", _python(code))
    if form == "weekday":
        code = head + f"print(date({_ymd(day)}).strftime('%A'))"
        return Draft(
            f"What day of the week is {day.isoformat()}?", 3, (WEEKDAYS[day.weekday()],), "python", _python(code)
        )
    if form in ("after", "before"):
        n = rng.randint(3, 120)
        sign = "+" if form == "after" else "-"
        target = day + dt.timedelta(days=n if form == "after" else -n)
        question = f"What date is {n} days {form} {day.isoformat()}? Answer as YYYY-MM-DD."
        code = head + f"print(date({_ymd(day)}) {sign} timedelta(days={n}))"
        return Draft(question, 3, (target.isoformat(),), "python", _python(code))
    days = calendar.monthrange(day.year, day.month)[1]
    code = f"import calendar\nprint(calendar.monthrange({day.year}, {day.month})[1])"
    return Draft(
        f"How many days does {MONTHS[day.month - 1]} {day.year} have?", 2, (str(days),), "python", _python(code)
    )


# -- python: strings --------------------------------------------------------------------------------
def strings(rng: random.Random) -> Draft | None:
    word = rng.choice(WORDS)
    form = rng.choice(["reverse", "count", "length", "vowels", "sort", "replace", "join"])
    if form == "reverse":
        if word == word[::-1]:
            return None
        code = f"print({word!r}[::-1])"
        return Draft(f"What is the string '{word}' reversed?", 2, (word[::-1],), "python", _python(code))
    if form == "count":
        phrase = " ".join(rng.sample(WORDS, 3))
        letter = rng.choice(sorted(set(phrase) - {" "}))
        code = f"print({phrase!r}.count({letter!r}))"
        question = f"How many times does the letter '{letter}' occur in '{phrase}'?"
        return Draft(question, 2, (str(phrase.count(letter)),), "python", _python(code))
    if form == "length":
        text = "".join(rng.sample(WORDS, 3))
        code = f"print(len({text!r}))"
        return Draft(f"How many characters long is the string '{text}'?", 2, (str(len(text)),), "python", _python(code))
    if form == "vowels":
        stripped = "".join(c for c in word if c not in "aeiou")
        code = f"print(''.join(c for c in {word!r} if c not in 'aeiou'))"
        question = f"What is left of the word '{word}' when every vowel (a, e, i, o, u) is removed?"
        return Draft(question, 2, (stripped,), "python", _python(code))
    if form == "sort":
        ordered = "".join(sorted(word))
        if ordered == word:
            return None
        code = f"print(''.join(sorted({word!r})))"
        question = f"What are the letters of '{word}' in alphabetical order, written as one word?"
        return Draft(question, 2, (ordered,), "python", _python(code))
    if form == "replace":
        old = rng.choice(sorted(set(word)))
        new = rng.choice([c for c in "xzqj" if c not in word])
        replaced = word.replace(old, new)
        code = f"print({word!r}.replace({old!r}, {new!r}))"
        question = f"What does the word '{word}' become when every '{old}' in it is replaced by '{new}'?"
        return Draft(question, 2, (replaced,), "python", _python(code))
    parts = rng.sample(WORDS, 3)
    code = f"print('-'.join({parts!r}))"
    question = (
        f"What do you get when you join the words {parts[0]}, {parts[1]} and {parts[2]} with hyphens, in that order?"
    )
    return Draft(question, 1, ("-".join(parts),), "python", _python(code))


# -- python: lists ----------------------------------------------------------------------------------
def lists(rng: random.Random) -> Draft | None:
    numbers = rng.sample(range(10, 100), rng.randint(5, 8))
    shown = str(numbers)
    form = rng.choice(["ascending", "descending", "reverse", "dedupe", "greater", "evens"])
    if form == "ascending":
        code = f"print(sorted({shown}))"
        question = f"What is the list {shown} sorted from smallest to largest?"
        return Draft(question, 2, (spaced(sorted(numbers)),), "python", _python(code))
    if form == "descending":
        code = f"print(sorted({shown}, reverse=True))"
        question = f"What is the list {shown} sorted from largest to smallest?"
        return Draft(question, 2, (spaced(sorted(numbers, reverse=True)),), "python", _python(code))
    if form == "reverse":
        code = f"print({shown}[::-1])"
        return Draft(
            f"What is the list {shown} in reverse order?", 2, (spaced(numbers[::-1]),), "python", _python(code)
        )
    if form == "dedupe":
        repeated = numbers + [rng.choice(numbers[:-1]) for _ in range(rng.randint(1, 3))]
        rng.shuffle(repeated)
        kept = list(dict.fromkeys(repeated))
        if len(kept) == len(repeated):
            return None
        code = f"print(list(dict.fromkeys({repeated})))"
        question = (
            f"What is the list {repeated} with its repeated numbers removed, each number kept where it first appears?"
        )
        return Draft(question, 3, (spaced(kept),), "python", _python(code))
    if form == "greater":
        k = rng.randint(20, 80)
        count = sum(n > k for n in numbers)
        code = f"print(sum(n > {k} for n in {shown}))"
        return Draft(f"How many numbers in {shown} are greater than {k}?", 2, (str(count),), "python", _python(code))
    evens = [n for n in numbers if n % 2 == 0]
    if len(evens) < 2:
        return None
    code = f"print([n for n in {shown} if n % 2 == 0])"
    question = f"Which numbers in {shown} are even? List them in their order in the list."
    return Draft(question, 2, (spaced(evens),), "python", _python(code))


# -- python: parsing --------------------------------------------------------------------------------
CITIES = ["Oslo", "Lima", "Quito", "Dakar", "Turku", "Hobart"]
NAMES = ["Ann", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ida", "Jo", "Kai", "Liv"]


def parsing(rng: random.Random) -> Draft | None:
    form = rng.choice(["json-keys", "csv-count", "words", "digits", "numbers"])
    if form == "json-keys":
        keys = rng.sample(WORDS, rng.randint(3, 9))
        document = json.dumps({k: rng.choice(WORDS) for k in keys})
        code = f"import json\nprint(len(json.loads({document!r})))"
        return Draft(
            f"How many keys does the JSON object {document} have?", 2, (str(len(keys)),), "python", _python(code)
        )
    if form == "csv-count":
        city = rng.choice(CITIES)
        rows = [(name, rng.choice(CITIES)) for name in rng.sample(NAMES, rng.randint(5, 9))]
        text = ";".join(["name,city", *(f"{n},{c}" for n, c in rows)])
        count = sum(c == city for _, c in rows)
        code = f"rows = {text!r}.split(';')[1:]\nprint(sum(r.split(',')[1] == {city!r} for r in rows))"
        question = (
            f"The CSV text '{text}' has one row per person (rows separated by semicolons, the first row is the"
            f" header). How many of the people live in {city}?"
        )
        return Draft(question, 3, (str(count),), "python", _python(code))
    if form == "words":
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
        code = f"print(len({sentence!r}.split()))"
        question = f"How many words are in the sentence '{sentence}'?"
        return Draft(question, 2, (str(len(sentence.split())),), "python", _python(code))
    if form == "digits":
        text = "".join(
            rng.choice("abcdefxyz" if rng.random() < 0.6 else "0123456789") for _ in range(rng.randint(8, 16))
        )
        count = sum(c.isdigit() for c in text)
        if count == 0:
            return None
        code = f"print(sum(c.isdigit() for c in {text!r}))"
        return Draft(f"How many digits are in the string '{text}'?", 2, (str(count),), "python", _python(code))
    names = rng.sample("pqrstuvwxyz", rng.randint(3, 5))
    values = rng.sample(range(2, 99), len(names))
    text = ", ".join(f"{n}={v}" for n, v in zip(names, values))
    code = f"import re\nprint(sorted(int(v) for v in re.findall(r'\\d+', {text!r})))"
    question = f"What are the numbers in '{text}' sorted from smallest to largest?"
    return Draft(question, 3, (spaced(sorted(values)),), "python", _python(code))


# -- python: small algorithms -----------------------------------------------------------------------
def _primes_below(n: int) -> list[int]:
    return [p for p in range(2, n) if all(p % d for d in range(2, math.isqrt(p) + 1))]


def _collatz_steps(n: int) -> int:
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def algorithms(rng: random.Random) -> Draft:
    form = rng.choice(["gcd", "lcm", "nth-prime", "count-primes", "binary", "digit-sum", "divisors", "collatz", "fib"])
    if form in ("gcd", "lcm"):
        g = rng.randint(2, 15)
        a, b = g * rng.randint(2, 12), g * rng.randint(2, 12)
        if a == b:
            b += g
        value = math.gcd(a, b) if form == "gcd" else math.lcm(a, b)
        name = "greatest common divisor" if form == "gcd" else "least common multiple"
        code = f"import math\nprint(math.{form}({a}, {b}))"
        return Draft(f"What is the {name} of {a} and {b}?", 2, (str(value),), "python", _python(code))
    if form == "nth-prime":
        n = rng.randint(8, 60)
        value = _primes_below(300)[n - 1]
        code = (
            "primes = [p for p in range(2, 1000) if all(p % d for d in range(2, int(p ** 0.5) + 1))]\n"
            f"print(primes[{n - 1}])"
        )
        question = f"What is the {ordinal(n)} prime number, counting 2 as the 1st?"
        return Draft(question, 3, (str(value),), "python", _python(code))
    if form == "count-primes":
        n = rng.randint(20, 300)
        code = f"print(sum(all(p % d for d in range(2, int(p ** 0.5) + 1)) for p in range(2, {n})))"
        question = f"How many prime numbers are smaller than {n}?"
        return Draft(question, 3, (str(len(_primes_below(n))),), "python", _python(code))
    if form == "binary":
        n = rng.randint(5, 255)
        code = f"print(format({n}, 'b'))"
        question = f"What is {n} written in binary (just the 0s and 1s, no prefix)?"
        return Draft(question, 2, (format(n, "b"),), "python", _python(code))
    if form == "digit-sum":
        n = rng.randint(1000, 9_999_999)
        code = f"print(sum(int(d) for d in str({n})))"
        return Draft(
            f"What is the sum of the digits of {n}?", 2, (str(sum(map(int, str(n)))),), "python", _python(code)
        )
    if form == "divisors":
        n = rng.randint(12, 400)
        count = sum(n % d == 0 for d in range(1, n + 1))
        code = f"print(sum({n} % d == 0 for d in range(1, {n} + 1)))"
        question = f"How many positive divisors does {n} have, counting 1 and {n} itself?"
        return Draft(question, 3, (str(count),), "python", _python(code))
    if form == "collatz":
        n = rng.randint(6, 60)
        code = (
            f"n, steps = {n}, 0\nwhile n != 1:\n    n = n // 2 if n % 2 == 0 else 3 * n + 1\n    steps += 1\n"
            "print(steps)"
        )
        question = (
            f"Starting from {n}, how many steps does it take to reach 1 if each step halves an even number and"
            " turns an odd number n into 3n + 1?"
        )
        return Draft(question, 3, (str(_collatz_steps(n)),), "python", _python(code))
    n = rng.randint(8, 40)
    fib = [1, 1]
    while len(fib) < n:
        fib.append(fib[-1] + fib[-2])
    code = f"a, b = 1, 1\nfor _ in range({n - 2}):\n    a, b = b, a + b\nprint(b)"
    question = f"What is the {ordinal(n)} Fibonacci number, when the 1st and the 2nd are both 1?"
    return Draft(question, 3, (str(fib[n - 1]),), "python", _python(code))


# -- no tool ------------------------------------------------------------------------------------------
FACTS = [  # general knowledge with one right answer (a table of facts, looked up, never computed wrong)
    ("What is the opposite of hot?", ("cold",)),
    ("What is the opposite of up?", ("down",)),
    ("What is the opposite of day?", ("night",)),
    ("What is the opposite of big?", ("small", "little")),
    ("What is the opposite of fast?", ("slow",)),
    ("What is the opposite of open?", ("closed", "shut")),
    ("What is the opposite of full?", ("empty",)),
    ("What color is the sky on a clear day?", ("blue",)),
    ("What color is grass?", ("green",)),
    ("What color is snow?", ("white",)),
    ("What color is a ripe banana?", ("yellow",)),
    ("What animal says meow?", ("cat", "cats", "kitten")),
    ("What animal barks?", ("dog", "dogs", "puppy")),
    ("What animal says moo?", ("cow", "cows")),
    ("What is the plural of mouse?", ("mice",)),
    ("What is the plural of child?", ("children",)),
    ("What is the plural of foot?", ("feet",)),
    ("What is the plural of tooth?", ("teeth",)),
    ("What is the plural of goose?", ("geese",)),
    ("What is the capital of France?", ("paris",)),
    ("What is the capital of Italy?", ("rome",)),
    ("What is the capital of Japan?", ("tokyo",)),
    ("What is the capital of Germany?", ("berlin",)),
    ("What is the capital of Spain?", ("madrid",)),
    ("What is the capital of Egypt?", ("cairo",)),
    ("What is the capital of Canada?", ("ottawa",)),
    ("What do bees make?", ("honey",)),
    ("What is frozen water called?", ("ice",)),
    ("Which planet do we live on?", ("earth",)),
    ("Which star is at the center of our solar system?", ("sun", "the sun")),
    ("What is the largest ocean on Earth?", ("pacific",)),
]


def no_tool(rng: random.Random) -> list[Draft]:
    drafts = [Draft(question, 1, answers, "final_answer") for question, answers in FACTS]
    for i, day in enumerate(WEEKDAYS):
        drafts.append(Draft(f"Which day of the week comes after {day}?", 1, (WEEKDAYS[(i + 1) % 7],), "final_answer"))
    for i, month in enumerate(MONTHS):
        drafts.append(Draft(f"Which month comes after {month}?", 1, (MONTHS[(i + 1) % 12],), "final_answer"))
    for n in range(1, 13):
        drafts.append(Draft(f"How is the number {n} written in English words?", 1, (NUMBER_WORDS[n],), "final_answer"))
    rng.shuffle(drafts)
    return drafts


FAMILIES = [
    Family("arithmetic", 45, draw=arithmetic, notes="+ - * /, two-operator mixes and percentages"),
    Family("units", 36, draw=units, notes="15 unit pairs, both ways, whole-number answers"),
    Family("dates", 40, draw=dates, notes="days between, weekday, N days after/before, days in a month"),
    Family(
        "strings", 40, draw=strings, notes="reverse, count a letter, length, drop vowels, sort letters, replace, join"
    ),
    Family("lists", 30, draw=lists, notes="sort both ways, reverse, drop repeats, count above k, the even ones"),
    Family("parsing", 30, draw=parsing, notes="JSON keys, CSV rows matching, words, digits, numbers in k=v text"),
    Family(
        "algorithms",
        32,
        draw=algorithms,
        notes="gcd, lcm, n-th prime, primes below n, binary, digit sum, divisors, Collatz, Fibonacci",
    ),
    Family(
        "no-tool",
        62,
        table=no_tool,
        notes="facts (opposites, plurals, capitals...), the next weekday/month, numbers as words",
    ),
]
