"""The coloured token text: the input with each token on its own colour, wrapped by terminal cells, the selected
token highlighted. Drawn by the tokens pane, the chat-template view and the Compare tab alike."""

from __future__ import annotations

from typing import NamedTuple

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui_hf.core.tokens import TokenBreakdown
from tui_hf.ui.widgets.cells import fit_cells
from tui_hf.ui.widgets.quiet import set_virtual_size

# Alternating backgrounds so neighbouring tokens never share a colour (5 is odd: word parity can't align).
TOKEN_COLOURS = ("#3b4d7a", "#6b4226", "#2f5e3a", "#6a2f5c", "#5c5a24")
STYLE_SPECIAL = Style(color="#ffffff", bgcolor="#7c3aed", bold=True)
STYLE_PAD = Style(color="#888888", italic=True, dim=True)
STYLE_SELECTED = Style(color="#000000", bgcolor="#ffd75f", bold=True, underline=True)
STYLE_HEADER = Style(color="#8a8a8a", italic=True)
TOKEN_STYLES = tuple(Style(color="#f0f0f0", bgcolor=c) for c in TOKEN_COLOURS)


class Piece(NamedTuple):
    """A run of text on one line of the coloured view (a tuple: a 100k-character input makes ~50k)."""

    text: str
    seq: int
    index: int | None  # token index within its sequence; None for gaps and headers
    kind: str  # token | special | pad | gap | header


Line = list[Piece]


def wrap(bd: TokenBreakdown, width: int) -> list[Line]:
    """Lay the breakdown out in lines of at most `width` cells. Runs in a worker for big inputs."""
    width = max(width, 8)
    lines: list[Line] = []
    many = len(bd.sequences) > 1
    for s, seq in enumerate(bd.sequences):
        if many:
            lines.append(
                [Piece(f"── input {s + 1} · {seq.real_tokens} tokens · {len(seq.text)} chars", s, None, "header")]
            )
        measure = len if seq.text.isascii() else cell_len
        line: Line = []
        used = 0
        pieces = seq.pieces()
        i = 0
        while i < len(pieces):
            text, index, kind = pieces[i]
            i += 1
            if kind == "pad":  # a run of padding reads better as one marker with a count
                run = 1
                while i < len(pieces) and pieces[i][2] == "pad":
                    run += 1
                    i += 1
                text = f"{text}×{run}" if run > 1 else text
            for part_no, part in enumerate(text.split("\n") if "\n" in text else (text,)):
                if part_no:
                    lines.append(line)
                    line, used = [], 0
                while part:
                    w = measure(part)
                    if used + w <= width:
                        line.append(Piece(part, s, index, kind))
                        used += w
                        break
                    if kind in ("special", "pad") and w <= width:  # keep markers whole
                        lines.append(line)
                        line, used = [], 0
                        continue
                    head = fit_cells(part, width - used)
                    if head:
                        line.append(Piece(head, s, index, kind))
                    lines.append(line)
                    line, used = [], 0
                    part = part[len(head) :]
        lines.append(line)
    return lines


class TokenTextView(ScrollView, can_focus=False):
    """The input text, each token on its own colour; the selected token in yellow."""

    DEFAULT_CSS = "TokenTextView { height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.breakdown: TokenBreakdown | None = None
        self.lines: list[Line] = []
        self.selected: tuple[int, int] | None = None
        self._wrapped_width = 0

    def show(self, bd: TokenBreakdown | None, lines: list[Line] | None = None, width: int | None = None) -> None:
        self.breakdown = bd
        if bd is None:
            self.lines = []
        elif lines is None:
            self.lines = wrap(bd, self._width())
        else:
            self.lines = lines
        self._wrapped_width = width or self._width()
        set_virtual_size(self, Size(self._width(), len(self.lines)))
        self.refresh()

    def _width(self) -> int:
        return max(self.scrollable_content_region.width, 20)

    def on_resize(self, event: events.Resize) -> None:
        if self.breakdown is not None and self._width() != self._wrapped_width:
            self.show(self.breakdown)

    def highlight(self, seq: int | None, index: int | None) -> None:
        self.selected = None if seq is None or index is None else (seq, index)
        if self.selected is not None:
            for y, line in enumerate(self.lines):
                if any(p.seq == seq and p.index == index for p in line):
                    if not (self.scroll_offset.y <= y < self.scroll_offset.y + self.size.height):
                        self.scroll_to(y=max(0, y - self.size.height // 2), animate=False)
                    break
        self.refresh()

    def render_line(self, y: int) -> Strip:
        row = self.scroll_offset.y + y
        if row >= len(self.lines):
            return Strip.blank(self.size.width, self.rich_style)
        base = self.rich_style  # walks the widget's ancestors: once per line, not once per piece
        segments = [Segment(p.text, self._style(p, base)) for p in self.lines[row]]
        return Strip(segments).crop(self.scroll_offset.x, self.scroll_offset.x + self.size.width)

    def _style(self, p: Piece, base: Style) -> Style:
        if p.index is not None and self.selected == (p.seq, p.index):
            return STYLE_SELECTED
        if p.kind == "token":
            return TOKEN_STYLES[(p.index or 0) % len(TOKEN_STYLES)]
        if p.kind == "special":
            return STYLE_SPECIAL
        if p.kind == "pad":
            return STYLE_PAD
        if p.kind == "header":
            return STYLE_HEADER
        return base
