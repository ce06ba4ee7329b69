"""The log pane: the libraries' log lines (also written to the log file)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from textual.widgets import RichLog

MAX_LINES = 5000


class LogBuffer:
    """Lines logged before the log pane exists (it mounts when first shown) and while it is away."""

    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=MAX_LINES)

    def add(self, line: str) -> None:
        self.lines.append(line)


class LogPane(RichLog):
    def __init__(self, backlog: Iterable[str] = (), *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, markup=False, max_lines=MAX_LINES)
        self._backlog = list(backlog)

    def on_mount(self) -> None:
        for line in self._backlog:
            self.write(line)
        self._backlog = []
