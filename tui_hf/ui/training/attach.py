"""`tui-hf attach RUN`: the live training view of one run, in any terminal."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header

from tui_hf.ui.changes_only import ChangesOnly
from tui_hf.ui.guard import KeepsRunning
from tui_hf.ui.training.run_view import RUN_COMMANDS, TrainingView


class AttachApp(ChangesOnly, KeepsRunning, App[int]):
    CSS_PATH = "../app.tcss"  # the app's stylesheet: the live view looks the same in both
    TITLE = "tui-hf attach"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # the main app's: app.tcss's -narrow rules apply
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    # q first: the footer says how to quit even at 80 columns. The job keeps running either way.
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("escape", "quit", "Quit", show=False),
        Binding("s", "stop", "Stop"),
        Binding("e", "export", "Export CSV"),
        Binding("v", "save", "Save now"),
        Binding("x", "xray", "X-ray"),
        Binding("l", "log_y", "Log y", show=False),
        Binding("o", "overlay", "Overlay", show=False),
    ]

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.sub_title = run_dir.name  # the whole path would be cut at 80 columns

    def compose(self) -> ComposeResult:
        yield Header()
        yield TrainingView(self.run_dir, can_try=False, id="train-view")
        yield Footer()

    def on_mount(self) -> None:
        from tui_hf.core.training.runs import run_dirs

        self.query_one(TrainingView).set_overlays(run_dirs(self.run_dir.parent))

    def action_stop(self) -> None:
        self.query_one(TrainingView).press("run-stop")

    def action_export(self) -> None:
        self.query_one(TrainingView).press("run-export")

    def action_save(self) -> None:
        self.query_one(TrainingView).press("run-save")

    def action_xray(self) -> None:
        self.query_one(TrainingView).action_xray()

    def action_log_y(self) -> None:
        self.query_one("#run-log").toggle()

    def action_overlay(self) -> None:
        self.query_one("#run-overlay").toggle()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        view = self.query_one(TrainingView)
        for title, help_text, button in RUN_COMMANDS:
            yield SystemCommand(title, help_text, lambda b=button: view.press(b))
        yield SystemCommand("Log y", "The loss axis on a log scale (l)", self.action_log_y)
        yield SystemCommand(
            "Overlay runs", "The other runs of the directory on the same chart (o)", self.action_overlay
        )
