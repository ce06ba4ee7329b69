"""The status bar: the model in memory (and the task it serves), and what the app is doing."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from tui_hf.ui.widgets.markup import escape


class StatusBar(Horizontal):
    def compose(self) -> ComposeResult:
        yield Static("no model", id="status-model")
        yield ProgressBar(total=1.0, show_eta=False, show_percentage=False, id="status-progress")
        yield Static("starting", id="status-state")

    def progress(self, stage: str, fraction: float) -> None:
        bar = self.query_one(ProgressBar)
        bar.display = fraction < 1.0
        bar.update(progress=fraction)
        text = f"[yellow]{escape(stage)}…[/yellow]" if fraction < 1.0 else "[green]ready[/green]"
        self.query_one("#status-state", Static).update(text)

    def state(self, markup: str) -> None:
        """What the app is doing now; a progress bar of an earlier stage is hidden."""
        self.query_one(ProgressBar).display = False
        self.query_one("#status-state", Static).update(markup)

    def model(self, info: Any) -> None:
        self.query_one("#status-model", Static).update(
            f"[b]{info.device}[/b] · {escape(info.title)} · {info.task} · {info.architecture} · "
            f"{info.parameters_text} params · {info.dtype}")
