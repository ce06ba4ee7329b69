"""The status bar: the model in memory (and the task it serves), and what the app is doing."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from tui_hf.ui.widgets.cells import fit_fields
from tui_hf.ui.widgets.markup import escape

PROGRESS_WIDTH = 24  # #status-progress in app.tcss
STATE_MIN = 20  # #status-state's min-width


class StatusBar(Horizontal):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._info: Any = None
        self._state_cells = len("starting")

    def compose(self) -> ComposeResult:
        yield Static("no model", id="status-model")
        yield ProgressBar(total=1.0, show_eta=False, show_percentage=False, id="status-progress")
        yield Static("starting", id="status-state")

    def progress(self, stage: str, fraction: float) -> None:
        bar = self.query_one(ProgressBar)
        bar.display = fraction < 1.0
        bar.update(progress=fraction)
        self._set_state(f"[yellow]{escape(stage)}…[/yellow]" if fraction < 1.0 else "[green]ready[/green]")

    def state(self, markup: str) -> None:
        """What the app is doing now; a progress bar of an earlier stage is hidden."""
        self.query_one(ProgressBar).display = False
        self._set_state(markup)

    def _set_state(self, markup: str) -> None:
        self._state_cells = Text.from_markup(markup).cell_len
        self.query_one("#status-state", Static).update(markup)
        self._show_model()

    def model(self, info: Any) -> None:
        self._info = info
        self._show_model()

    def on_resize(self) -> None:
        self._show_model()

    def _show_model(self) -> None:
        """The model's fields that fit beside the state at this width (80 columns drop the architecture,
        dtype and parameters before a name would be cut): device, name, task, architecture, parameters, dtype."""
        info = self._info
        if info is None:
            return
        bar = PROGRESS_WIDTH if self.query_one(ProgressBar).display else 0
        width = self.size.width or 200
        state = min(max(self._state_cells, STATE_MIN), width // 2 - 2)  # #status-state's max-width: 50%
        room = width - state - 2 - bar - 2  # the paddings
        fields = [info.device, info.title, info.task, info.architecture, f"{info.parameters_text} params", info.dtype]
        shown = fit_fields(fields, room, drop=[3, 5, 4, 2])
        self.query_one("#status-model", Static).update(
            " · ".join(f"[b]{escape(f)}[/b]" if i == 0 else escape(f) for i, f in enumerate(shown))
        )
