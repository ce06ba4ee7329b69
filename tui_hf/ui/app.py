"""The tui-hf application shell: settings, theme, help, the command palette and the main screen.

Nothing here imports torch or transformers: the first frame paints while a worker thread imports them
and loads the model. The screens own the behaviour (ui/main.py for the main layout).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterable
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tui_hf.ui.changes_only import ChangesOnly
from tui_hf.ui.guard import KeepsRunning
from tui_hf.ui.settings import DEFAULT_TEXT, AppSettings  # noqa: F401  (tests and scripts import them from here)

BENCH_MARK_ENV = "TUI_HF_BENCH_MARKS"  # bench/startup.py: a file to append "painted" / "ready" times to


class TuiHfApp(ChangesOnly, KeepsRunning, App[int]):
    CSS_PATH = "app.tcss"
    # Small terminals (80x24 over SSH) get a slimmer layout: see the -narrow / -short rules in app.tcss.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    TITLE = "tui-hf"
    SUB_TITLE = "Hugging Face transformers in the terminal"
    BINDINGS = [
        Binding("f1", "help", "Help", priority=True),
        Binding("question_mark", "help", "Help", show=False),  # not priority: typed into a text field
        Binding("f9", "toggle_theme", "Theme", priority=True, show=False),
    ]

    def __init__(self, settings: AppSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.keep_running_on_error = self.settings.keep_running_on_error
        self.log_path = self.settings.log_path

    @property
    def main(self) -> Any:
        """The main screen (bottom of the stack): modals (picker, help, confirm) open above it."""
        return self.screen_stack[0]

    # What the main screen holds, read-only, for scripts that drive the app (tests, benchmarks, screenshots).
    @property
    def task_spec(self) -> Any:
        return self.main.task_spec

    @property
    def loaded(self) -> Any:
        return self.main.model.loaded

    @property
    def last_load_error(self) -> str | None:
        return self.main.model.last_error

    @property
    def tokenizer(self) -> Any:
        return self.main.model.tokenizer

    @property
    def breakdown(self) -> Any:
        return self.main.query_one("#tokens-pane").breakdown

    @property
    def chat_history(self) -> list[dict[str, str]]:
        return self.main.runs.chat_history

    def get_default_screen(self) -> Screen[Any]:
        from tui_hf.ui.main import MainScreen

        return MainScreen(self.settings)

    def on_mount(self) -> None:
        self.call_after_refresh(self.bench_mark, "painted")
        self.call_after_refresh(gc.enable)  # off for the start-up only (cli's launch_app)

    def bench_mark(self, what: str) -> None:
        path = os.environ.get(BENCH_MARK_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(f"{what} {time.time():.6f}\n")
            if what == "ready":
                self.exit(0)

    def action_help(self) -> None:
        from tui_hf.ui.screens import HelpScreen

        if isinstance(self.screen, HelpScreen):  # F1 is a priority key: it reaches the app in the help too
            self.screen.dismiss(None)
        else:
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "Keys, panes and tasks (F1)", self.action_help)
        yield SystemCommand("Toggle light/dark theme", "F9", self.action_toggle_theme)
        commands = getattr(self.main, "system_commands", None)
        if commands is not None:
            yield from commands()


def make_app(settings: AppSettings | None = None) -> TuiHfApp:
    """Build the app; tests and the screenshot script inject settings (tiny models, no log file)."""
    return TuiHfApp(settings)
