"""The training pane."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static


class TrainingPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static(
            "[b]Finetuning[/b]\n\nFinetuning jobs and the live loss view are not part of this build yet.\n"
            "Nothing here is simulated: this pane stays empty until a training job exists.",
            id="training-empty",
        )
