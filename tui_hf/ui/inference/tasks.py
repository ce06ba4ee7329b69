"""The task list in the sidebar."""

from __future__ import annotations

from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui_hf.core.tasks.registry import TASKS


class TaskList(OptionList):
    """Every task of the registry; choosing one switches the input form, output view and model head."""

    def __init__(self, current: str, *, id: str | None = None) -> None:
        options = []
        for spec in TASKS.values():
            alias = f" [dim]({', '.join(spec.aliases)})[/dim]" if spec.aliases else ""
            options.append(Option(f"{spec.title}{alias}", id=spec.name))
        super().__init__(*options, id=id)
        self._initial = current

    def on_mount(self) -> None:
        self.highlighted = list(TASKS).index(self._initial)
