"""The log pane: the libraries' log lines (also written to the log file)."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widgets import RichLog


class LogPane(RichLog):
    """Mounted when first shown: it starts with the lines logged until then (`backlog`)."""

    def __init__(self, backlog: Iterable[str] = (), *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, markup=False, max_lines=5000)
        self._backlog = list(backlog)

    def on_mount(self) -> None:
        for line in self._backlog:
            self.write(line)
        self._backlog = []
