"""A drop-down that survives the app closing while it mounts."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.widgets import Select
from textual.widgets._select import SelectOverlay


class Choice(Select[Any]):
    """`Select`, minus a shutdown race.

    Quitting while a lazily mounted pane is still mounting (ctrl+q in the app's first second) removes the
    Select's children before its Mount handler runs, and Textual 8's handler then raises NoMatches, which
    turns a clean exit into a traceback and exit status 1. Textual already guards `_watch_expanded` the
    same way.
    """

    def _on_mount(self, event: events.Mount) -> None:
        # Textual calls the handler of every class in the MRO; prevent_default stops it reaching Select's.
        if not self.query(SelectOverlay):
            event.prevent_default()  # torn down before it finished mounting: nothing left to set up
