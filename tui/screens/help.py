"""The keys of every screen and of the app, from their bindings (so it never goes stale). Esc closes."""

from __future__ import annotations

import importlib

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

INTRO = """\
# llmdeck keys

**ctrl+p** opens the command palette: every action of every screen, searchable ("run", "model", "session").
**Tab** moves between panes; the footer shows the keys of whatever has focus.
Themes: command palette, "Change theme" (the choice is saved in config.toml).
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f10", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog tall"):
            with VerticalScroll():
                yield Markdown(self.help_text(), id="help-text")

    def help_text(self) -> str:
        from llmdeck.tui.app import MODE_TABLE, LlmdeckApp, screen_actions

        lines = [INTRO, "## Everywhere", "", "| key | action |", "|---|---|"]
        lines += [f"| {b.key} | {b.description} |" for b in LlmdeckApp.BINDINGS if isinstance(b, Binding)]
        for mode in MODE_TABLE:
            screen = mode.screen_class()
            summary = (screen.__doc__ or "").strip().splitlines() or [""]
            lines += ["", f"## {mode.title} ({mode.key.upper()})", "", summary[0], "", "| key | action |", "|---|---|"]
            lines += [f"| {key or 'palette'} | {title} |" for title, _, key in screen_actions(screen)]
            for widget_keys in getattr(screen, "WIDGET_KEYS", ()):
                lines.append(f"| {widget_keys[0]} | {widget_keys[1]} |")
            for key, module, name in getattr(screen, "SUBSCREENS", ()):  # screens opened from this one
                sub = getattr(importlib.import_module(f"llmdeck.tui.screens.{module}"), name)
                summary = (sub.__doc__ or "").strip().splitlines() or [""]
                lines += [
                    "",
                    f"### {name.removesuffix('Screen')} ({key} on the {mode.title} screen)",
                    "",
                    summary[0],
                    "",
                    "| key | action |",
                    "|---|---|",
                ]
                lines += [f"| {k or 'palette'} | {title} |" for title, _, k in screen_actions(sub)]
                lines += [f"| {k} | {text} |" for k, text in getattr(sub, "WIDGET_KEYS", ())]
        return "\n".join(lines)
