"""`llmdeck tui --headless --script FILE`: replay a script against the real app without a terminal
(Textual's headless `run_test` machinery and its Pilot) and write screenshots (SVG and plain text).

One step per line; `#` followed by a space starts a comment (`#prompt` is a selector); arguments are
shell-quoted:

    size 120 40                 window size (first step only; default 120 40)
    press f2 down enter         key presses (Textual key names: a, enter, ctrl+n, f2, space...)
    type "hello world"          type text into the focused widget
    click #prompt               click a widget (a CSS selector: #id, .class, Type)
    wait #models-table [10]     wait until a widget matching the selector is shown (timeout in s, default 10)
    wait-text "tok/s" [30]      wait until the text is on the screen
    sleep 0.5                   pause
    screenshot NAME             write NAME.svg and NAME.txt to the output folder

A step that cannot be parsed is bad input (exit 2) naming the line; a wait that times out fails the run
(exit 1) naming the line and the step.
"""

from __future__ import annotations

import asyncio
import io
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from llmdeck.core.errors import BadInput, LlmdeckError
from llmdeck.core.validate import file_kind

DEFAULT_SIZE = (120, 40)
DEFAULT_TIMEOUT_S = 10.0
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
ARITY = {
    "size": (2, 2),
    "press": (1, 99),
    "type": (1, 1),
    "click": (1, 1),
    "wait": (1, 2),
    "wait-text": (1, 2),
    "sleep": (1, 1),
    "screenshot": (1, 1),
}


@dataclass
class Step:
    line: int
    verb: str
    args: list[str]
    text: str  # the line as written, for messages

    def where(self, script: Path) -> str:
        return f"{script}:{self.line}: {self.text}"


def parse_script(script: Path) -> tuple[list[Step], tuple[int, int]]:
    """The steps and the window size; BadInput naming every bad line."""
    kind = file_kind(script)
    if kind == "no such file":
        raise BadInput(f"{script}: no such script file")
    if kind is not None:  # never opened: a FIFO would block
        raise BadInput(f"{script}: {kind} (expected a script file)")
    steps, problems = [], []
    for number, raw in enumerate(script.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        try:
            words = shlex.split(_without_comment(text))
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        verb, args = words[0], words[1:]
        if verb not in ARITY:
            problems.append(f"line {number}: unknown step {verb!r} (expected one of {', '.join(ARITY)})")
            continue
        low, high = ARITY[verb]
        if not low <= len(args) <= high:
            problems.append(f"line {number}: {verb} takes {low}{'' if low == high else f'-{high}'} argument(s)")
            continue
        problem = _check_args(verb, args)
        if problem:
            problems.append(f"line {number}: {verb}: {problem}")
            continue
        steps.append(Step(number, verb, args, text))
    if problems:
        raise BadInput(f"{script}: " + "; ".join(problems))
    size = DEFAULT_SIZE
    if steps and steps[0].verb == "size":
        size = (int(steps[0].args[0]), int(steps[0].args[1]))
        steps = steps[1:]
    if any(step.verb == "size" for step in steps):
        raise BadInput(f"{script}: size must be the first step")
    return steps, size


def _without_comment(line: str) -> str:
    """The line up to a comment: a `#` outside quotes with a space (or the line's start) before it and a
    space (or the line's end) after it; `#prompt` is a selector, not a comment."""
    quote = None
    for index, character in enumerate(line):
        if quote:
            quote = None if character == quote else quote
        elif character in "'\"":
            quote = character
        elif (
            character == "#"
            and (index == 0 or line[index - 1].isspace())
            and (index + 1 == len(line) or line[index + 1].isspace())
        ):
            return line[:index]
    return line


def _check_args(verb: str, args: list[str]) -> str | None:
    numbers = {"size": args, "sleep": args, "wait": args[1:], "wait-text": args[1:]}.get(verb, [])
    for value in numbers:
        try:
            if float(value) <= 0:
                return f"{value!r}: expected a positive number"
        except ValueError:
            return f"{value!r}: expected a number"
    if verb == "size" and not all(value.isdigit() and 20 <= int(value) <= 500 for value in args):
        return "expected two whole numbers of columns and rows (20-500)"
    if verb == "screenshot" and not NAME_PATTERN.match(args[0]):
        return f"{args[0]!r}: expected a file name of letters, digits, '.', '_' or '-'"
    return None


def screen_text(app) -> str:
    """The screen as plain text (what a person would read)."""
    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system=None,
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def run_script_file(app, script: Path, out_dir: Path) -> list[Path]:
    """Replay `script` on `app` (headless); returns the screenshot files written."""
    steps, size = parse_script(script)
    return asyncio.run(_replay(app, steps, size, script, out_dir))


async def _replay(app, steps: list[Step], size: tuple[int, int], script: Path, out_dir: Path) -> list[Path]:
    written: list[Path] = []
    async with app.run_test(headless=True, size=size) as pilot:
        await pilot.pause()
        for step in steps:
            await _run_step(pilot, step, script, out_dir, written)
    return written


async def _run_step(pilot, step: Step, script: Path, out_dir: Path, written: list[Path]) -> None:
    app, args = pilot.app, step.args
    if step.verb == "press":
        await pilot.press(*args)
    elif step.verb == "type":
        await pilot.press(*[_key_for(ch) for ch in args[0]])
    elif step.verb == "click":
        if not app.screen.query(args[0]):
            raise LlmdeckError(f"{step.where(script)}: no widget matches {args[0]!r} on this screen")
        await pilot.click(args[0])
    elif step.verb == "sleep":
        await pilot.pause(float(args[0]))
    elif step.verb in ("wait", "wait-text"):
        timeout = float(args[1]) if len(args) > 1 else DEFAULT_TIMEOUT_S
        found = _shown(args[0]) if step.verb == "wait" else (lambda app, text=args[0]: text in screen_text(app))
        deadline = time.monotonic() + timeout
        while not found(app):
            if time.monotonic() > deadline:
                raise LlmdeckError(f"{step.where(script)}: timed out after {timeout:g}s")
            await pilot.pause(0.1)
    elif step.verb == "screenshot":
        await pilot.pause()
        out_dir.mkdir(parents=True, exist_ok=True)
        svg, txt = out_dir / f"{args[0]}.svg", out_dir / f"{args[0]}.txt"
        svg.write_text(app.export_screenshot(title=args[0]), encoding="utf-8")
        txt.write_text(screen_text(app), encoding="utf-8")
        written += [svg, txt]
        print(f"screenshot {svg} {txt}", file=sys.stderr)


def _shown(selector: str):
    def check(app) -> bool:
        try:
            return any(widget.display and widget.is_on_screen for widget in app.screen.query(selector))
        except Exception:  # a malformed selector matches nothing
            return False

    return check


KEY_NAMES = {" ": "space", "\t": "tab", "\n": "enter"}


def _key_for(character: str) -> str:
    """Pilot.press takes key names; a printable character is its own name except these."""
    return KEY_NAMES.get(character, character)
