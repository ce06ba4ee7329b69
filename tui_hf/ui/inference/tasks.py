"""The task list in the sidebar."""

from __future__ import annotations

from textual import events
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from tui_hf.core.tasks.registry import TASKS
from tui_hf.ui.widgets.lists import VI_KEYS, mentions


class TaskList(OptionList):
    """Every task of the registry; choosing one switches the input form, output view and model head.

    `/` filters it (the screen's #tasks-filter, by title, name and alias)."""

    BINDINGS = VI_KEYS

    def __init__(self, current: str, *, id: str | None = None) -> None:
        super().__init__(*self._task_options(""), id=id)
        self._initial = current

    @staticmethod
    def _task_options(query: str) -> list[Option]:
        options = []
        for spec in TASKS.values():
            if mentions(query, spec.title, spec.name, *spec.aliases):
                alias = f" [dim]({', '.join(spec.aliases)})[/dim]" if spec.aliases else ""
                options.append(Option(f"{spec.title}{alias}", id=spec.name))
        return options

    def on_mount(self) -> None:
        self.highlighted = self.get_option_index(self._initial)

    def on_key(self, event: events.Key) -> None:
        self.screen.query_one("#tasks-filter").take(event)  # type: ignore[attr-defined]  # / filters

    def filter(self, query: str) -> None:
        """Show the tasks that match `query`: the highlighted one stays highlighted while it matches, else the
        first match is."""
        current = self.highlighted_option.id if self.highlighted_option is not None else None
        self.clear_options()
        self.add_options(self._task_options(query))
        ids = [option.id for option in self.options]
        self.highlighted = ids.index(current) if current in ids else 0 if ids else None

    def show_task(self, name: str) -> None:
        """Highlight task `name`, clearing a filter that hides it."""
        try:
            index = self.get_option_index(name)
        except OptionDoesNotExist:
            filter_box = self.screen.query_one("#tasks-filter")
            filter_box.value = ""  # type: ignore[attr-defined]
            filter_box.display = False
            self.filter("")
            index = self.get_option_index(name)
        self.highlighted = index
