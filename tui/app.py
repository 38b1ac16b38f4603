"""The Textual app: global bindings, the mode registry, palette commands, theme.

Screens are imported when first shown (start-up stays fast). A new screen is one `Mode` line below.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen


@dataclass(frozen=True)
class Mode:
    name: str
    key: str
    title: str
    module: str  # llmdeck.tui.screens.<module>
    screen: str  # the Screen class in it

    def screen_class(self) -> type[Screen]:
        return getattr(importlib.import_module(f"llmdeck.tui.screens.{self.module}"), self.screen)

    def build_screen(self) -> Screen:
        return self.screen_class()()


MODE_TABLE: tuple[Mode, ...] = (
    Mode("chat", "f1", "Chat", "chat", "ChatScreen"),
    Mode("models", "f2", "Models", "models", "ModelsScreen"),
    Mode("train", "f3", "Train", "train", "TrainScreen"),
    Mode("agents", "f4", "Agents", "agents", "AgentsScreen"),
    Mode("verify", "f5", "Verify", "verify", "VerifyScreen"),
)


class LlmdeckApp(App):
    """llmdeck's terminal workbench."""

    CSS_PATH = "app.tcss"
    TITLE = "llmdeck"
    DEFAULT_MODE = "chat"  # the first screen is built as the chat mode (no default screen to build and leave)
    BINDINGS = [
        *(Binding(m.key, f"switch_mode('{m.name}')", m.title) for m in MODE_TABLE),
        Binding("f10", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]
    MODES = {m.name: m.build_screen for m in MODE_TABLE}

    def __init__(self, model: str | None = None):
        super().__init__()
        self.model_name = model  # the chat's model; None: the store default when the chat opens
        theme = saved_theme()
        if theme in self.available_themes:
            self.theme = theme  # before the stylesheet is first parsed: set later, it is parsed again

    def on_mount(self) -> None:
        from llmdeck.tui.terminal_watch import watch_terminal

        self.theme_changed_signal.subscribe(self, self._save_theme)
        self.call_after_refresh(resume_gc)
        watch_terminal(self)

    def _save_theme(self, theme) -> None:
        from llmdeck.core.settings import update_settings

        try:
            update_settings(theme=theme.name)
        except Exception as exc:
            self.notify(str(exc), title="could not save the theme", severity="warning")

    def action_help(self) -> None:
        from llmdeck.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action of every screen (its key bindings and its PALETTE entries), titled by screen, so
        searching "run" or "model" finds them; choosing one switches to the screen and runs it."""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help: keys of every screen", "Open the help screen (F10)", self.action_help)
        for mode in MODE_TABLE:
            yield SystemCommand(
                f"Go to {mode.title}",
                f"Switch to the {mode.title} screen ({mode.key.upper()})",
                lambda m=mode: self.switch_mode(m.name),
            )
            for title, action, key in screen_actions(mode.screen_class()):
                help_text = f"{mode.title} screen" + (f" ({key})" if key else "")
                yield SystemCommand(
                    f"{mode.title}: {title}", help_text, lambda m=mode, a=action: self.run_on_screen(m.name, a)
                )

    async def run_on_screen(self, mode: str, action: str) -> None:
        if self.current_mode != mode:
            await self.switch_mode(mode)
        await self.screen.run_action(action)


def resume_gc() -> None:
    """`llmdeck` pauses the garbage collector while it imports and paints its first frame (a fifth of that
    CPU time went to full collections of objects that all live on); here it freezes those objects out of
    later collections and resumes. A no-op where nothing paused it (tests, `llmdeck tui`)."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def saved_theme() -> str | None:
    """config.toml's theme, read without the settings model (pydantic) so the first frame comes sooner; a
    broken file is reported by the screens that read settings, not here."""
    import tomllib

    from llmdeck.core.paths import config_path

    try:
        theme = tomllib.loads(config_path().read_text(encoding="utf-8")).get("theme")
    except (OSError, ValueError):
        return None
    return theme if isinstance(theme, str) else None


def screen_actions(screen_class: type[Screen]) -> list[tuple[str, str, str | None]]:
    """(title, action, key) of a screen's own bindings and PALETTE entries (actions without a key)."""
    found: list[tuple[str, str, str | None]] = []
    for binding in screen_class.BINDINGS:
        if isinstance(binding, Binding) and binding.description:
            found.append((binding.description, binding.action, binding.key.split(",")[0]))
    found += [(title, action, None) for title, action in getattr(screen_class, "PALETTE", [])]
    return found


def run_script(script: Path, out_dir: Path, model: str | None = None) -> None:
    """`llmdeck tui --headless --script FILE`: replay a script against the real app without a terminal."""
    from llmdeck.tui.script import run_script_file

    run_script_file(LlmdeckApp(model=model), Path(script), Path(out_dir))
