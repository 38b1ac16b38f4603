"""The bundled task sets, generated from a seed so every answer is exact, and their fixtures:

- `tool_tasks.jsonl`: questions for the ReAct agent - arithmetic and unit conversions (calculator), date math
  (the python tool), lookups in a fixture workspace (files), lookups in a fixture RAG collection (rag_search)
  and questions that need no tool; each tool question carries a `hint` (the tool call to make), shown only
  when a collection asks for hints;
- `code_tasks.jsonl`: small Python tasks for the verify pair, graded 1 (print one computed value), 2 (loops,
  several lines of output) and 3 (functions checked by asserts);
- `workspace/` (the files tool's directory) and `corpus/` (ingested into the collection `llmdeck-tasks`).

Each category is split into train and held-out by task id (a stable hash ranks the ids; the lowest 30% are
held out), recorded in each line. `python -m llmdeck.agents.task_sets` rewrites the files; a test checks that
regenerating gives the committed files byte for byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
from pathlib import Path

SEED = 20260314
DATA_DIR = Path(__file__).resolve().parent / "task_data"
TOOL_TASKS = "tool_tasks.jsonl"
CODE_TASKS = "code_tasks.jsonl"
COLLECTION = "llmdeck-tasks"
HELDOUT_FRACTION = 0.3
FIXTURES = {"workspace": "workspace", "collection": COLLECTION, "corpus": "corpus"}  # every question: the same tools

FRUITS = ["apples", "pears", "plums", "cherries", "lemons", "mangos", "peaches", "kiwis", "limes", "figs"]
PEOPLE = ["Alice", "Bruno", "Chen", "Dana", "Emil", "Farah", "Goran", "Hana", "Ivo", "Jule"]
ITEMS = ["stapler", "notebook", "pencil", "lamp", "mug", "backpack", "scissors", "ruler"]
PROJECTS = [
    "Zorblat",
    "Quillon",
    "Marrow",
    "Tessel",
    "Vantor",
    "Brisk",
    "Orrin",
    "Pellam",
    "Sundry",
    "Talvo",
    "Ferrix",
    "Gantry",
]
CODENAMES = [
    "BLUE-HERON",
    "RED-FALCON",
    "GREEN-OTTER",
    "GOLD-LYNX",
    "GREY-WHALE",
    "PINK-CRANE",
    "TEAL-MOTH",
    "JADE-VIPER",
    "RUST-BADGER",
    "IVORY-STORK",
    "AMBER-WASP",
    "CORAL-SEAL",
]
LEADS = [
    "Mira Okafor",
    "Tomas Lindqvist",
    "Priya Raman",
    "Jonas Weber",
    "Lucia Ferreira",
    "Kenji Sato",
    "Nadia Haddad",
    "Oscar Novak",
    "Ruth Abebe",
    "Sven Dahl",
    "Yara Costa",
    "Pavel Horak",
]
CITIES = [
    "Lisbon",
    "Oslo",
    "Nairobi",
    "Lima",
    "Osaka",
    "Tallinn",
    "Quito",
    "Dakar",
    "Hobart",
    "Bergen",
    "Cusco",
    "Turku",
]
NO_TOOL = [
    ("Say hello.", ["hello", "hi"]),
    ("Repeat the word banana.", ["banana"]),
    ("What is the opposite of hot?", ["cold"]),
    ("What is the opposite of up?", ["down"]),
    ("What is the opposite of day?", ["night"]),
    ("What is the opposite of big?", ["small", "little"]),
    ("What is the opposite of fast?", ["slow"]),
    ("What color is the sky on a clear day?", ["blue"]),
    ("What color is grass?", ["green"]),
    ("What color is snow?", ["white"]),
    ("What color is a ripe banana?", ["yellow"]),
    ("What animal says meow?", ["cat"]),
    ("What animal barks?", ["dog"]),
    ("What animal says moo?", ["cow"]),
    ("What is the plural of mouse?", ["mice"]),
    ("What is the plural of child?", ["children"]),
    ("What is the plural of foot?", ["feet"]),
    ("What is the capital of France?", ["paris"]),
    ("What is the capital of Italy?", ["rome"]),
    ("What is the capital of Japan?", ["tokyo"]),
    ("What do bees make?", ["honey"]),
    ("Is ice hot or cold?", ["cold"]),
    ("What is frozen water called?", ["ice"]),
    ("Which planet do we live on?", ["earth"]),
    ("What do cows drink?", ["water"]),
    ("Say goodbye.", ["goodbye", "bye"]),
]
UNITS = [  # (question template, factor, unit words); inputs chosen so the answer is a whole number
    ("How many meters are in {x} kilometers?", 1000),
    ("How many centimeters are in {x} meters?", 100),
    ("How many minutes are in {x} hours?", 60),
    ("How many seconds are in {x} minutes?", 60),
    ("How many grams are in {x} kilograms?", 1000),
    ("How many inches are in {x} feet?", 12),
    ("How many days are in {x} weeks?", 7),
    ("How many eggs are in {x} dozen?", 12),
    ("How many milliliters are in {x} liters?", 1000),
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
WORDS = [
    "banana",
    "python",
    "rocket",
    "garden",
    "window",
    "silver",
    "planet",
    "yellow",
    "castle",
    "mirror",
    "orange",
    "puzzle",
    "breeze",
    "candle",
    "forest",
]


def tool_tasks(rng: random.Random) -> tuple[list[dict], dict[str, str], dict[str, str]]:
    """The agent questions, the workspace files and the corpus documents they are about."""
    tasks: list[dict] = []

    def add(
        category: str, difficulty: int, question: str, answers: list[str], tool: str, args: dict | None = None
    ) -> None:
        if any(t["question"] == question for t in tasks):  # a repeated question could sit in both splits
            return
        hint = {"hint": f"Use {tool} with {json.dumps(args)}, then answer from its result."} if args else {}
        tasks.append(
            {
                "id": f"{category}-{sum(t['category'] == category for t in tasks) + 1:03d}",
                "kind": "agent",
                "category": category,
                "difficulty": difficulty,
                "question": question,
                "answers": answers,
                "tool": tool,
                **hint,
                **FIXTURES,
            }
        )

    def count(category: str) -> int:
        return sum(t["category"] == category for t in tasks)

    while count("arithmetic") < 50:
        a, b, c = rng.randint(12, 99), rng.randint(12, 99), rng.randint(2, 9)
        form = rng.choice(["+", "-", "*", "mix", "div", "percent"])
        if form == "mix":
            add(
                "arithmetic",
                2,
                f"What is ({a} + {b}) * {c}?",
                [str((a + b) * c)],
                "calculator",
                {"expression": f"({a} + {b}) * {c}"},
            )
        elif form == "div":
            add("arithmetic", 2, f"What is {a * c} / {c}?", [str(a)], "calculator", {"expression": f"{a * c} / {c}"})
        elif form == "percent":
            p, base = rng.choice([10, 20, 25, 50]), rng.randint(2, 40) * 20
            add(
                "arithmetic",
                3,
                f"What is {p}% of {base}?",
                [str(p * base // 100)],
                "calculator",
                {"expression": f"{base} * {p} / 100"},
            )
        else:
            add(
                "arithmetic",
                1,
                f"What is {a} {form} {b}?",
                [str(eval(f"{a}{form}{b}"))],
                "calculator",  # noqa: S307
                {"expression": f"{a} {form} {b}"},
            )
    while count("units") < 36:
        template, factor = rng.choice(UNITS)
        x = rng.randint(2, 40) if rng.random() < 0.7 else rng.randint(2, 20) + 0.5
        value = x * factor
        if value != int(value):
            x = int(x)
            value = x * factor
        shown = f"{x:g}"
        add(
            "units", 2, template.format(x=shown), [str(int(value))], "calculator", {"expression": f"{shown} * {factor}"}
        )
    start = dt.date(2024, 1, 1)
    while count("dates") < 30:
        day = start + dt.timedelta(days=rng.randint(0, 730))
        form = rng.choice(["between", "weekday", "after"])
        if form == "between":
            other = day + dt.timedelta(days=rng.randint(5, 200))
            add(
                "dates",
                3,
                f"How many days are there from {day.isoformat()} to {other.isoformat()}?",
                [str((other - day).days)],
                "python",
                {"code": f"from datetime import date\nprint((date({_ymd(other)}) - date({_ymd(day)})).days)"},
            )
        elif form == "weekday":
            add(
                "dates",
                3,
                f"What day of the week is {day.isoformat()}?",
                [WEEKDAYS[day.weekday()]],
                "python",
                {"code": f"from datetime import date\nprint(date({_ymd(day)}).strftime('%A'))"},
            )
        else:
            n = rng.randint(3, 90)
            add(
                "dates",
                3,
                f"What date is {n} days after {day.isoformat()}? Answer as YYYY-MM-DD.",
                [(day + dt.timedelta(days=n)).isoformat()],
                "python",
                {"code": f"from datetime import date, timedelta\nprint(date({_ymd(day)}) + timedelta(days={n}))"},
            )

    counts = {fruit: rng.randint(3, 95) for fruit in FRUITS}
    phones = {person: f"555-{rng.randint(1000, 9999)}" for person in PEOPLE}
    rooms = {person: str(rng.randint(101, 499)) for person in PEOPLE}
    prices = {item: rng.randint(2, 60) for item in ITEMS}
    workspace = {
        "inventory.txt": "".join(f"{fruit}: {n}\n" for fruit, n in counts.items()),
        "contacts.txt": "".join(f"{person}: {phone}\n" for person, phone in phones.items()),
        "offices.txt": "".join(f"{person} sits in room {room}\n" for person, room in rooms.items()),
        "prices.csv": "item,price\n" + "".join(f"{item},{price}\n" for item, price in prices.items()),
    }
    for fruit in FRUITS:
        add(
            "files",
            2,
            f"How many {fruit} are listed in inventory.txt?",
            [str(counts[fruit])],
            "files",
            {"operation": "read", "path": "inventory.txt"},
        )
    for person in PEOPLE:
        add(
            "files",
            2,
            f"What is {person}'s phone number in contacts.txt?",
            [phones[person]],
            "files",
            {"operation": "read", "path": "contacts.txt"},
        )
    for person in PEOPLE:
        add(
            "files",
            2,
            f"Which room does {person} sit in, according to offices.txt?",
            [rooms[person]],
            "files",
            {"operation": "read", "path": "offices.txt"},
        )
    for item in ITEMS:
        add(
            "files",
            2,
            f"What is the price of a {item} in prices.csv?",
            [str(prices[item])],
            "files",
            {"operation": "read", "path": "prices.csv"},
        )

    corpus = {}
    for name, codename, lead, city in zip(PROJECTS, CODENAMES, LEADS, CITIES):
        year = rng.randint(2015, 2025)
        corpus[f"{name.lower()}.md"] = (
            f"# Project {name}\n\nProject {name} is an internal effort run from the {city} office. The codename of"
            f" project {name} is {codename}. Project {name} is led by {lead}. It started in {year}.\n"
        )
        add(
            "rag",
            2,
            f"What is the codename of project {name}?",
            [codename.lower()],
            "rag_search",
            {"query": f"codename of project {name}"},
        )
        add(
            "rag",
            2,
            f"Who leads project {name}?",
            [lead.lower(), lead.split()[1].lower()],
            "rag_search",
            {"query": f"who leads project {name}"},
        )
        add(
            "rag",
            2,
            f"In which year did project {name} start?",
            [str(year)],
            "rag_search",
            {"query": f"when did project {name} start"},
        )

    for question, answers in NO_TOOL:
        add("no-tool", 1, question, answers, "final_answer")
    return tasks, workspace, corpus


def _ymd(day: dt.date) -> str:
    return f"{day.year}, {day.month}, {day.day}"


def code_tasks(rng: random.Random) -> list[dict]:
    """Coding tasks with expected stdout (levels 1-2) or asserts (level 3)."""
    tasks: list[dict] = []

    def add(difficulty: int, task: str, expect: str | None = None, tests: str | None = None) -> None:
        check = {"expect": expect} if expect is not None else {"tests": tests}
        tasks.append(
            {
                "id": f"code-{len(tasks) + 1:03d}",
                "kind": "verify",
                "category": f"level-{difficulty}",
                "difficulty": difficulty,
                "task": task,
                **check,
            }
        )

    words = list(WORDS)
    for n in rng.sample(range(10, 200), 6):
        add(1, f"Print the sum of the numbers from 1 to {n}.", str(n * (n + 1) // 2))
    for n in rng.sample(range(11, 99), 4):
        add(1, f"Print {n} squared.", str(n * n))
    for n in rng.sample(range(3, 20), 4):
        add(1, f"Print 2 to the power of {n}.", str(2**n))
    for word in rng.sample(words, 5):
        add(1, f"Print the string '{word}' reversed.", word[::-1])
    for word in rng.sample(words, 4):
        add(1, f"Print the word '{word}' in upper case.", word.upper())
    for word in rng.sample(words, 4):
        add(1, f"Print the length of the string '{word * 2}'.", str(len(word * 2)))
    for _ in range(5):
        numbers = rng.sample(range(1, 100), 5)
        kind, value = rng.choice([("largest", max(numbers)), ("smallest", min(numbers)), ("sum", sum(numbers))])
        text = (
            f"the sum of the numbers in the list {numbers}"
            if kind == "sum"
            else f"the {kind} number in the list {numbers}"
        )
        add(1, f"Print {text}.", str(value))
    for word in rng.sample(words, 4):
        letter = rng.choice(sorted(set(word)))
        add(1, f"Print how many times the letter '{letter}' occurs in the word '{word}'.", str(word.count(letter)))
    for _ in range(4):
        a, b = rng.randint(100, 999), rng.randint(3, 19)
        add(1, f"Print the remainder of {a} divided by {b}.", str(a % b))

    for _ in range(5):
        a = rng.randint(1, 10)
        b = a + rng.randint(2, 5)
        add(2, f"Print the numbers from {a} to {b}, one per line.", "\n".join(str(i) for i in range(a, b + 1)))
    for n in rng.sample(range(4, 9), 4):
        add(
            2,
            f"Print the squares of the numbers 1 to {n} on one line separated by spaces.",
            " ".join(str(i * i) for i in range(1, n + 1)),
        )
    for n in rng.sample(range(4, 11), 4):
        add(2, f"Print the factorial of {n}.", str(math.factorial(n)))
    for n in rng.sample(range(6, 13), 4):
        fib = [0, 1]
        while len(fib) < n:
            fib.append(fib[-1] + fib[-2])
        add(
            2,
            f"Print the first {n} Fibonacci numbers on one line separated by spaces, starting with 0 1.",
            " ".join(map(str, fib)),
        )
    for n in rng.sample(range(10, 30), 4):
        add(
            2,
            f"Print the even numbers from 2 to {n} on one line separated by spaces.",
            " ".join(str(i) for i in range(2, n + 1, 2)),
        )
    for n in rng.sample(range(2, 10), 4):
        add(2, f"Print the first five multiples of {n}, one per line.", "\n".join(str(n * i) for i in range(1, 6)))
    for n in rng.sample(range(3, 8), 3):
        add(2, f"Print a countdown from {n} to 1, one number per line.", "\n".join(str(i) for i in range(n, 0, -1)))
    for _ in range(4):
        n = rng.randint(1000, 99999)
        add(2, f"Print the sum of the digits of {n}.", str(sum(int(d) for d in str(n))))
    for word in rng.sample(words, 3):
        add(2, f"Print each letter of the word '{word}' on its own line.", "\n".join(word))

    level3 = [
        ("add(a, b) that returns the sum of a and b", "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"),
        (
            "is_even(n) that returns True when n is even and False otherwise",
            "assert is_even(4) is True\nassert is_even(7) is False\nassert is_even(0) is True\n",
        ),
        (
            "reverse_string(s) that returns the string s reversed",
            "assert reverse_string('abc') == 'cba'\nassert reverse_string('') == ''\n",
        ),
        (
            "count_vowels(s) that returns how many of the letters a, e, i, o, u are in s",
            "assert count_vowels('banana') == 3\nassert count_vowels('sky') == 0\n",
        ),
        (
            "max_of_three(a, b, c) that returns the largest of the three numbers",
            "assert max_of_three(1, 5, 3) == 5\nassert max_of_three(-1, -5, -3) == -1\n",
        ),
        (
            "is_palindrome(s) that returns True when s reads the same backwards",
            "assert is_palindrome('level') is True\nassert is_palindrome('hello') is False\n",
        ),
        (
            "celsius_to_fahrenheit(c) that converts Celsius to Fahrenheit (c * 9 / 5 + 32)",
            "assert celsius_to_fahrenheit(0) == 32\nassert celsius_to_fahrenheit(100) == 212\n",
        ),
        (
            "sum_list(numbers) that returns the sum of a list of numbers",
            "assert sum_list([1, 2, 3]) == 6\nassert sum_list([]) == 0\n",
        ),
        ("factorial(n) that returns n factorial for n >= 0", "assert factorial(0) == 1\nassert factorial(5) == 120\n"),
        (
            "fib(n) that returns the n-th Fibonacci number, with fib(0) == 0 and fib(1) == 1",
            "assert fib(0) == 0\nassert fib(1) == 1\nassert fib(10) == 55\n",
        ),
        (
            "gcd(a, b) that returns the greatest common divisor of a and b",
            "assert gcd(12, 18) == 6\nassert gcd(7, 5) == 1\n",
        ),
        (
            "count_words(s) that returns the number of words in s (split on spaces)",
            "assert count_words('a b c') == 3\nassert count_words('hello') == 1\n",
        ),
        ("first_char(s) that returns the first character of s", "assert first_char('hello') == 'h'\n"),
        ("last_item(items) that returns the last element of a list", "assert last_item([1, 2, 3]) == 3\n"),
        (
            "is_positive(n) that returns True when n is greater than 0",
            "assert is_positive(3) is True\nassert is_positive(-2) is False\nassert is_positive(0) is False\n",
        ),
        (
            "average(numbers) that returns the mean of a non-empty list of numbers",
            "assert average([1, 2, 3]) == 2\nassert average([4]) == 4\n",
        ),
        (
            "double_all(numbers) that returns a new list with every number doubled",
            "assert double_all([1, 2, 3]) == [2, 4, 6]\nassert double_all([]) == []\n",
        ),
        (
            "only_even(numbers) that returns the even numbers of a list, in order",
            "assert only_even([1, 2, 3, 4]) == [2, 4]\nassert only_even([1, 3]) == []\n",
        ),
    ]
    for signature, tests in level3:
        add(3, f"Define a function {signature}.", tests=tests)
    for k in rng.sample(range(3, 13), 5):
        add(
            3,
            f"Define a function times_{k}(x) that returns x multiplied by {k}.",
            tests=f"assert times_{k}(2) == {2 * k}\nassert times_{k}(0) == 0\nassert times_{k}(-1) == {-k}\n",
        )
    for k in rng.sample(range(3, 13), 4):
        add(
            3,
            f"Define a function divisible_by_{k}(n) that returns True when n is divisible by {k}.",
            tests=f"assert divisible_by_{k}({k * 7}) is True\nassert divisible_by_{k}({k * 7 + 1}) is False\n",
        )
    for word in rng.sample(sorted({w[0]: w for w in words}.values()), 4):
        add(
            3,
            f"Define a function starts_with_{word[0]}(s) that returns True when s starts with the letter '{word[0]}'.",
            tests=f"assert starts_with_{word[0]}('{word}') is True\n"
            f"assert starts_with_{word[0]}('zz') is {word[0] == 'z'}\n",
        )
    return tasks


def assign_splits(tasks: list[dict]) -> list[dict]:
    """Within each category, the 30% of ids that rank lowest by a stable hash are held out."""
    by_category: dict[str, list[dict]] = {}
    for task in tasks:
        by_category.setdefault(task["category"], []).append(task)
    for members in by_category.values():
        ranked = sorted(members, key=lambda t: hashlib.sha256(t["id"].encode()).hexdigest())
        held = {t["id"] for t in ranked[: round(len(members) * HELDOUT_FRACTION)]}
        for task in members:
            task["split"] = "heldout" if task["id"] in held else "train"
    return tasks


def generated_files() -> dict[str, str]:
    """Every bundled file's relative path and text."""
    rng = random.Random(SEED)
    tools, workspace, corpus = tool_tasks(rng)
    code = code_tasks(rng)
    files = {TOOL_TASKS: _jsonl(assign_splits(tools)), CODE_TASKS: _jsonl(assign_splits(code))}
    files.update({f"workspace/{name}": text for name, text in workspace.items()})
    files.update({f"corpus/{name}": text for name, text in corpus.items()})
    return files


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def bundled(kind: str = "agent") -> Path:
    """The bundled task file for agent questions or coding (verify) tasks."""
    return DATA_DIR / (TOOL_TASKS if kind == "agent" else CODE_TASKS)


def write(directory: Path = DATA_DIR) -> list[Path]:
    written = []
    for relative, text in generated_files().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        print(path)
