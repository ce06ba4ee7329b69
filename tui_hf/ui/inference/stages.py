"""The tokenizer's stages for one input: normalizer, pre-tokenizer words, the model's pieces, post-processor.

A Line-API view like the coloured text: a 10k-character input makes thousands of word rows, and only the
rows on screen are drawn.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui_hf.core.tokenizer_stages import Stages
from tui_hf.core.tokens import readable

HEAD = Style(bold=True, color="#ffd75f")
DIM = Style(color="#8a8a8a")
PIECE = Style(color="#f0f0f0", bgcolor="#3b4d7a")
PIECE_ALT = Style(color="#f0f0f0", bgcolor="#6b4226")
SPECIAL = Style(color="#ffffff", bgcolor="#7c3aed", bold=True)
CHANGED = Style(color="#ffaf5f")

StageLine = list[tuple[str, Style | None]]
EMPTY_STAGES: list[StageLine] = [[("Type in the input box to see what the tokenizer does to it, stage by stage.", DIM)]]


def stage_lines(stages: Stages, readable_pieces: bool = False, byte_level: bool = False) -> list[StageLine]:
    """The stages as lines of (text, style): read top to bottom, the way the tokenizer runs."""
    if not stages.available:
        return [[("No stages to show. ", HEAD)], [(stages.reason, None)]]
    lines: list[StageLine] = []
    if stages.truncated_to:
        lines.append([(f"(the first {stages.truncated_to:,} characters)", DIM)])
    lines.append([("1 normalizer  ", HEAD), (stages.normalizer or "none", DIM)])
    if stages.changed_by_normalizer:
        lines.append([("  → ", DIM), (stages.normalized[:2000], CHANGED)])
    else:
        lines.append([("  → the text is unchanged", DIM)])
    words, kept = len(stages.splits) - len(stages.matched), len(stages.matched)
    added = f", {kept:,} added token{'s' * (kept != 1)} kept whole" if kept else ""
    lines.append(
        [
            ("2 pre-tokenizer  ", HEAD),
            (stages.pre_tokenizer or "none", DIM),
            (f"  {words:,} word{'s' * (words != 1)}{added} (offsets in your text)", DIM),
        ]
    )
    lines.append([("3 model  ", HEAD), (stages.model, DIM)])
    width = min(max((cell_len(w) for w, _ in stages.splits[:500]), default=4), 24)
    for row, ((word, (start, end)), pieces) in enumerate(zip(stages.splits, stages.pieces)):
        if row in stages.matched:  # taken out of the text before the normalizer: never lowercased or split
            lines.append(
                [
                    ("  " + word.ljust(width)[:width], None),
                    (f" {start}:{end}".ljust(12), DIM),
                    (word, SPECIAL),
                    ("  added token", DIM),
                ]
            )
            continue
        shown_word = readable(word, byte_level) if readable_pieces else word
        line: StageLine = [("  " + shown_word.ljust(width)[:width], None), (f" {start}:{end}".ljust(12), DIM)]
        for k, piece in enumerate(pieces):
            text = readable(piece, byte_level) if readable_pieces else piece
            line += [(text, PIECE if k % 2 == 0 else PIECE_ALT), (" ", None)]
        lines.append(line)
    lines.append([("4 post-processor  ", HEAD), (stages.post_processor or "none", DIM)])
    if stages.template_single:
        lines.append([("  single  ", DIM), (stages.template_single, None)])
    if stages.template_pair:
        lines.append([("  pair    ", DIM), (stages.template_pair, None)])
    added: StageLine = [("  added to this input  ", DIM)]
    for token in stages.added_tokens or []:
        added += [(token, SPECIAL), (" ", None)]
    if not stages.added_tokens:
        added.append(("nothing", DIM))
    lines.append(added)
    if stages.type_ids and any(stages.type_ids):
        lines.append([("  type ids  ", DIM), ("".join(str(t) for t in stages.type_ids[:200]), None)])
    lines.append([("decoder  ", HEAD), (stages.decoder or "none", DIM)])
    return lines


class StagesView(ScrollView, can_focus=True):  # focusable: at 80x24 its rows are reached with the arrow keys
    DEFAULT_CSS = "StagesView { height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[StageLine] = []

    def show(self, lines: list[StageLine]) -> None:
        self.lines = lines
        widest = max((sum(cell_len(t) for t, _ in line) for line in lines[:2000]), default=0)
        self.virtual_size = Size(widest, len(lines))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        row = self.scroll_offset.y + y
        if row >= len(self.lines):
            return Strip.blank(self.size.width, self.rich_style)
        segments = [Segment(text, style or self.rich_style) for text, style in self.lines[row]]
        return Strip(segments).crop(self.scroll_offset.x, self.scroll_offset.x + self.size.width)
