"""Send the terminal only the cells that changed, as Bubble Tea and curses do.

Textual repaints a widget's whole region whenever the widget refreshes: a chart that gains one point, or a
line whose one number moved, goes out in full. Over SSH that is most of the bytes (a live run view at 120x40
sent ~55 KiB/s). `ChangesOnly` keeps a copy of what the terminal shows, cell by cell, and turns each partial
update into the runs of cells that differ from it. A full repaint (start, resize, a screen pushed, resume
after ctrl+z) goes out as Textual made it and resets the copy, so the copy never drifts from the terminal.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.control import Control
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate, CompositorUpdate, LayoutUpdate
from textual.strip import Strip

Cell = tuple[str, Style | None]  # a wide character's second cell is ("", style)
UNKNOWN: Cell = ("\0", None)  # never equal to a painted cell: sent on the next update
GAP = 4  # unchanged cells between two changed runs sent anyway: cheaper than a cursor move and a new style
PLAIN_GAP = 24  # the same between changes in one style (digits along a line of text): no style to restart


def _one_style(cells: list[Cell]) -> bool:
    style = cells[0][1]
    return all(cell[1] == style for cell in cells)


class CellsUpdate(CompositorUpdate):
    """The changed runs of a partial update, already rendered to terminal sequences."""

    def __init__(self, text: str) -> None:
        self.text = text

    def render_segments(self, console: Console) -> str:
        return self.text


class ScreenCells:
    """What the terminal shows, one (character, style) per cell."""

    def __init__(self) -> None:
        self.width = self.height = 0
        self.rows: list[list[Cell]] = []
        self.cursor: Any = None  # where the last frame left the cursor

    def reset(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.rows = [[UNKNOWN] * width for _ in range(height)]

    def _paint(self, y: int, x: int, strip: Strip, x1: int, x2: int, changed: set[int]) -> None:
        """Write a strip starting at column x into row y, only within [x1, x2); note the columns that change."""
        if not 0 <= y < self.height:
            return
        row = self.rows[y]
        for text, style, control in strip:
            if control:
                continue
            for char in text:
                width = cell_len(char)
                cells: list[Cell] = [(char, style)] + [("", style)] * (width - 1) if width else []
                for cell in cells:
                    if x1 <= x < x2 and 0 <= x < self.width and row[x] != cell:
                        row[x] = cell
                        changed.add(x)
                    x += 1

    def apply_layout(self, update: LayoutUpdate, size: tuple[int, int]) -> None:
        """A full repaint, copied without comparing (it goes out whole anyway): on the first frame's path."""
        if (self.width, self.height) != size:
            self.reset(*size)
        region = update.region
        for y, line in enumerate(update.strips, region.y):
            if not 0 <= y < self.height:
                continue
            row, x = self.rows[y], region.x
            for strip in line:
                for text, style, control in strip:
                    if control:
                        continue
                    if text.isascii():  # one cell a character: the common case, copied a slice at a time
                        end = min(x + len(text), self.width)
                        if x < end:
                            row[x:end] = [(char, style) for char in text[: end - x]]
                        x += len(text)
                    else:
                        for char in text:
                            for i in range(cell_len(char)):
                                if 0 <= x < self.width:
                                    row[x] = (char, style) if i == 0 else ("", style)
                                x += 1

    def diff_chops(self, update: ChopsUpdate, console: Console) -> str:
        """The terminal sequences that bring the terminal from this copy to the update's cells."""
        changed: dict[int, set[int]] = {}
        for y, x1, x2 in update.spans:
            cols = changed.setdefault(y, set())
            for end, (x, strip) in zip(update.chop_ends[y], update.chops[y].items()):
                if strip is None or x >= x2 or end <= x1:
                    continue
                self._paint(y, x, strip, x1, x2, cols)
        out: list[str] = []
        for y in sorted(changed):
            cols = sorted(changed[y])
            if not cols:
                continue
            row = self.rows[y]
            runs: list[list[int]] = [[cols[0], cols[0]]]
            for x in cols[1:]:
                last = runs[-1][1]
                between = row[last + 1 : x]
                if UNKNOWN not in between and (
                    len(between) <= GAP or (len(between) <= PLAIN_GAP and _one_style(row[last : x + 1]))
                ):
                    runs[-1][1] = x
                else:
                    runs.append([x, x])
            for start, stop in runs:
                while start > 0 and row[start][0] == "":  # never begin inside a wide character
                    start -= 1
                while stop + 1 < self.width and row[stop + 1][0] == "":
                    stop += 1
                segments = [Segment(*row[x]) for x in range(start, stop + 1)]
                out.append(Control.move_to(start, y).segment.text)
                out.append(Strip(Segment.simplify(segments)).render(console))
        return "".join(out)


class ChangesOnly:
    """App mixin: partial repaints go out as the cells that changed (see the module's docstring)."""

    def _display(self, screen: Any, renderable: Any) -> None:
        app: Any = self
        cells: ScreenCells | None = getattr(self, "_screen_cells", None)
        if cells is None:
            cells = self._screen_cells = ScreenCells()
        driver = getattr(app, "_driver", None)
        live = renderable is not None and not app.is_headless and driver is not None and not driver.is_inline
        if live and not app._batch_count:
            size = (app.size.width, app.size.height)
            if isinstance(renderable, LayoutUpdate):
                cells.apply_layout(renderable, size)
                cells.cursor = None
            elif isinstance(renderable, ChopsUpdate) and (cells.width, cells.height) == size:
                text = cells.diff_chops(renderable, app.console)
                cursor = app.cursor_position
                if not text and cursor == cells.cursor:  # a refresh that changed nothing: no frame at all
                    return
                cells.cursor = cursor
                renderable = CellsUpdate(text)
            else:  # something this copy does not model: the next full repaint starts it again
                cells.reset(*size)
                cells.cursor = None
        super()._display(screen, renderable)  # type: ignore[misc]
