"""A drop-down that survives the app closing while it mounts."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.css.query import NoMatches
from textual.widgets import Select


class Choice(Select[Any]):
    """`Select`, minus a shutdown race.

    Quitting while a lazily mounted pane is still mounting (ctrl+q in the app's first second) removes parts
    of the Select (its overlay, or its current-value label) before its Mount handler runs, and Textual 8's
    handler then raises NoMatches, which turns a clean exit into a traceback and exit status 1. Textual
    already guards `_watch_expanded` the same way.
    """

    def _on_mount(self, event: events.Mount) -> None:
        # Textual calls the Mount handler of every class in the MRO: prevent_default keeps Select's from
        # running a second time, unguarded.
        event.prevent_default()
        try:
            self._setup_options_renderables()
            self._init_selected_option(self._value)
        except NoMatches:
            pass  # torn down before it finished mounting: nothing left to set up
