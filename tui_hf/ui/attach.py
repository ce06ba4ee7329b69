"""`tui-hf attach RUN`: the live training view of one run, in any terminal."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header

from tui_hf.ui.panes.training import TrainingView


class AttachApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "tui-hf attach"
    BINDINGS = [Binding("s", "stop", "Stop run"), Binding("e", "export", "Export CSV"),
                Binding("m", "smooth", "Smoothing"), Binding("o", "overlay", "Overlay runs")]

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.sub_title = str(run_dir)

    def compose(self) -> ComposeResult:
        yield Header()
        yield TrainingView(self.run_dir, can_try=False, id="train-view")
        yield Footer()

    def on_mount(self) -> None:
        from tui_hf.core.training.follow import Follower
        from tui_hf.core.training.runs import run_dirs

        self.query_one(TrainingView).set_overlays([Follower(p) for p in run_dirs(self.run_dir.parent)])

    def action_stop(self) -> None:
        self.query_one("#run-stop").press()

    def action_export(self) -> None:
        self.query_one("#run-export").press()

    def action_smooth(self) -> None:
        self.query_one("#run-smooth").toggle()

    def action_overlay(self) -> None:
        self.query_one("#run-overlay").toggle()
