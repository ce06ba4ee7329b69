"""Lists and tables with the keys terminal users bring from lazygit, k9s and htop: j/k move, / filters."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.binding import Binding
from textual.widgets import DataTable, Input, OptionList

VI_KEYS = [Binding("j", "cursor_down", "Down", show=False), Binding("k", "cursor_up", "Up", show=False)]


class Rows(DataTable[Any]):
    """A DataTable that j/k move in too."""

    BINDINGS = VI_KEYS


class Options(OptionList):
    """An OptionList that j/k move in too."""

    BINDINGS = VI_KEYS


class FilterInput(Input):
    """The filter of one list, hidden until `/` opens it: typing filters (the owner handles Input.Changed),
    enter or ↓ goes back to the list keeping the filter, esc clears it and goes back."""

    DEFAULT_CSS = "FilterInput { display: none; }"
    BINDINGS = [Binding("escape", "clear", "Clear filter"), Binding("down", "back", "To the list", show=False)]

    def __init__(self, target: str, placeholder: str, *, id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id, compact=True)
        self.target = target  # the id of the list it filters, which gets focus back

    def open(self) -> None:
        self.display = True
        self.focus()

    def action_back(self) -> None:
        self.display = bool(self.value)  # an empty filter goes away; one in use stays in sight
        self.screen.query_one(f"#{self.target}").focus()

    def action_clear(self) -> None:
        self.value = ""
        self.action_back()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_back()


def mentions(query: str, *fields: str) -> bool:
    """Every word of `query` is in one of the fields (case-insensitive), as k9s and lazygit filter."""
    text = " ".join(fields).lower()
    return all(word in text for word in query.lower().split())
