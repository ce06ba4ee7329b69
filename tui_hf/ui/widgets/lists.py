"""Lists and tables with the keys terminal users bring from lazygit, k9s and htop: j/k move, / filters."""

from __future__ import annotations

from typing import Any

from textual import events, on
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
    """The filter of one list, hidden until `/` opens it (the list's owner passes its keys to `take`): typing
    filters (the owner handles Input.Changed), enter or ↓ goes back to the list keeping the filter, esc clears
    it and goes back."""

    DEFAULT_CSS = "FilterInput { display: none; }"
    BINDINGS = [Binding("escape", "clear", "Clear filter"), Binding("down", "back", "To the list", show=False)]

    def __init__(self, target: str, placeholder: str, *, id: str | None = None) -> None:
        # No select-on-focus: Textual selects after the focus event, and a key typed before that (a fast
        # typist, a busy terminal) would be selected and then replaced by the next one.
        super().__init__(placeholder=placeholder, id=id, compact=True, select_on_focus=False)
        self.target = target  # the id of the list it filters, which gets focus back

    def open(self) -> None:
        """A new filter, as k9s starts one: the old one goes."""
        self.value = ""
        self.display = True
        self.screen.set_focus(self)  # now, not at Textual's next turn: the keys read after the / follow it

    def take(self, event: events.Key) -> None:
        """A key of the list this filters (its owner's on_key passes each one): `/` opens the filter, and a key
        read before the focus moved here is typed into it. Handled here, not by a binding: Textual hands each
        key to the widget focused when it was read and runs bindings only after the key has gone up the DOM,
        so with a binding the keys typed right after `/` (a fast typist, a busy machine) were lost."""
        focused = self.screen.focused is self  # has_focus follows only once the Focus event is handled
        if event.key == "slash" and not focused:
            self.open()
        elif focused and event.is_printable and event.character:
            self.insert_text_at_cursor(event.character)
        else:
            return
        event.stop()
        event.prevent_default()

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
