"""`tui-hf attach RUN`: the live training view of one run, in any terminal."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header

from tui_hf.ui.guard import KeepsRunning
from tui_hf.ui.training.run_view import TrainingView


class AttachApp(KeepsRunning, App[int]):
    CSS_PATH = "../app.tcss"  # the app's stylesheet: the live view looks the same in both
    TITLE = "tui-hf attach"
    BINDINGS = [Binding("s", "stop", "Stop run"), Binding("e", "export", "Export CSV"),
                Binding("v", "save", "Save now"), Binding("x", "xray", "X-ray"),
                Binding("l", "log_y", "Log y"), Binding("o", "overlay", "Overlay runs")]

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.sub_title = str(run_dir)

    def compose(self) -> ComposeResult:
        yield Header()
        yield TrainingView(self.run_dir, can_try=False, id="train-view")
        yield Footer()

    def on_mount(self) -> None:
        from tui_hf.core.training.runs import run_dirs

        self.query_one(TrainingView).set_overlays(run_dirs(self.run_dir.parent))

    def action_stop(self) -> None:
        self.query_one("#run-stop").press()

    def action_export(self) -> None:
        self.query_one("#run-export").press()

    def action_save(self) -> None:
        self.query_one("#run-save").press()

    def action_xray(self) -> None:
        self.query_one(TrainingView).action_xray()

    def action_log_y(self) -> None:
        self.query_one("#run-log").toggle()

    def action_overlay(self) -> None:
        self.query_one("#run-overlay").toggle()
