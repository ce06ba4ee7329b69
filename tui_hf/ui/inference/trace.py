"""Generated (or scored) text you can see into: each token coloured by its probability, a token cursor that
shows the alternatives the model weighed there, and branches made by choosing one of them.

The data is the core's (core/generation/trace.py: traces with branches); this module lays it out and dispatches keys.
`TokenStream` is a Line-API view of one model's output (one block per sequence); `TracePanel` holds one
stream per model (two side by side with a second model), the detail of the token under the cursor, and the
worker that grows a new branch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from tui_hf.core.generation.trace import Trace, TracedToken
from tui_hf.ui.inference.probability import legend, probability_style
from tui_hf.ui.widgets.cells import fit_cells
from tui_hf.ui.widgets.markup import escape

STYLE_CURSOR = Style(color="#000000", bgcolor="#ffd75f", bold=True, underline=True)
STYLE_LEAD = Style(color="#8a8a8a")
STYLE_HEADER = Style(color="#8a8a8a", italic=True, underline=True)
ROLE_STYLES = {
    "user": Style(color="#5fd7ff", bold=True),
    "assistant": Style(color="#5fd75f", bold=True),
    "system": Style(color="#d75fd7", bold=True),
}
LEAD_CHARS = 2_000  # of a long prompt, the end is shown (the tokens continue it)


@dataclass
class Block:
    """One traced text and what is drawn before it (the prompt, the chat so far)."""

    trace: Trace
    lead: list[tuple[str, Style]] = field(default_factory=list)
    title: str = ""


@dataclass
class Column:
    """What one model wrote: a block per sequence."""

    title: str
    blocks: list[Block]
    head: tuple[list[Any], list[Any]] | None = None  # Rich renderables above the text: (warnings, the rest)


class Cell(NamedTuple):
    text: str
    block: int
    position: int | None  # the token's index in its branch; None for lead and headers
    style: Style | None  # fixed style (lead, header); None: the token's own


def _short_lead(prompt: str) -> str:
    return prompt if len(prompt) <= LEAD_CHARS else "…" + prompt[-LEAD_CHARS:]


def columns_of(result: Any) -> list[Column] | None:
    """The columns to show for a result recorded token by token; None for any other result."""
    from tui_hf.core.generation.scoring import ScoreResult
    from tui_hf.core.tasks.chat import ChatResult
    from tui_hf.core.tasks.generation import GenerationResult

    if isinstance(result, GenerationResult) and result.traces:
        out = [_generation_column(result)]
        if result.beside is not None and result.beside.traces:
            out.append(_generation_column(result.beside))
        return out
    if isinstance(result, ChatResult) and result.trace is not None:
        out = [_chat_column(result)]
        if result.beside is not None and result.beside.trace is not None:
            out.append(_chat_column(result.beside))
        return out
    if isinstance(result, ScoreResult):
        return [Column(result.trace.model, [Block(result.trace)], _score_head(result))]
    return None


def _generation_column(result: Any) -> Column:
    from tui_hf.ui.inference.render import settings_line, warnings_block

    many = len(result.traces) > 1
    blocks = [
        Block(t, [(_short_lead(result.prompt), STYLE_LEAD)], f"sequence {k + 1}" if many else "")
        for k, t in enumerate(result.traces)
    ]
    return Column(
        result.model, blocks, (warnings_block(result.warnings), [settings_line(result.settings, result.sources)])
    )


def _chat_column(result: Any) -> Column:
    from tui_hf.ui.inference.render import settings_line, warnings_block

    lead: list[tuple[str, Style]] = []
    for m in result.messages[:-1]:
        lead += [(f"{m.role}: ", ROLE_STYLES.get(m.role, STYLE_LEAD)), (m.content + "\n", STYLE_LEAD)]
    lead.append(("assistant: ", ROLE_STYLES["assistant"]))
    assert result.trace is not None
    return Column(
        result.model,
        [Block(result.trace, lead)],
        (warnings_block(result.warnings), [settings_line(result.settings, result.sources)]),
    )


def _score_head(result: Any) -> tuple[list[Any], list[Any]]:
    from tui_hf.ui.inference.render import score_summary, warnings_block

    return warnings_block(result.warnings) + score_summary(result)[:1], score_summary(result)[1:]


def layout(column: Column, width: int) -> list[list[Cell]]:
    """The column's blocks in lines of at most `width` cells: header, lead, then each token of the branch shown."""
    width = max(width, 8)
    lines: list[list[Cell]] = []
    for b, block in enumerate(column.blocks):
        if block.title:
            lines.append([Cell(block.title, b, None, STYLE_HEADER)])
        line: list[Cell] = []
        used = 0

        def put(text: str, position: int | None, style: Style | None, b: int = b) -> None:
            nonlocal line, used
            for part_no, part in enumerate(text.translate(CONTROL_PICTURES).split("\n")):
                if part_no:
                    lines.append(line)
                    line, used = [], 0
                while part:
                    room = width - used
                    if cell_len(part) <= room:
                        line.append(Cell(part, b, position, style))
                        used += cell_len(part)
                        break
                    head = fit_cells(part, room)
                    if head:
                        line.append(Cell(head, b, position, style))
                    lines.append(line)
                    line, used = [], 0
                    part = part[len(head) :]

        for text, style in block.lead:
            put(text, None, style)
        for k, token in enumerate(block.trace.current.tokens):
            shown = token.shown if token.text or token.probability is not None or token.special else ""
            put(shown or "∅", k, None)
        lines.append(line)
        if b < len(column.blocks) - 1:
            lines.append([])
    return lines


# A generated control character (a random or badly trained model writes \x07, \r, \x1b...) reaching the
# terminal as it is moves the cursor and smears the screen: each is drawn as its Unicode control picture.
CONTROL_PICTURES = (
    {c: 0x2400 + c for c in range(32) if c != 10} | {0x7F: 0x2421} | {c: 0xFFFD for c in range(0x80, 0xA0)}
)


class TokenStream(ScrollView, can_focus=True):
    """One model's output, token by token. ←/→ move the cursor, ↑/↓ move it a line, 1-9 choose that
    alternative (a new branch, or the branch already made with it), [ and ] switch branches; a click puts the
    cursor on a token."""

    DEFAULT_CSS = """
    TokenStream { height: 1fr; }
    TokenStream:focus { background-tint: $primary 4%; }
    """
    BINDINGS = [
        Binding("left", "move(-1)", "Previous token", show=False),
        Binding("right", "move(1)", "Next token", show=False),
        Binding("up", "line(-1)", "Line up", show=False),
        Binding("down", "line(1)", "Line down", show=False),
        Binding("home", "jump(0)", "First token", show=False),
        Binding("end", "jump(-1)", "Last token", show=False),
        # The footer names the two keys a reader cannot guess (the detail's last line repeats them where
        # there is room): one entry each for 1-9 and for [ ].
        Binding("left_square_bracket", "branch(-1)", "Branch", key_display="[ ]"),
        Binding("right_square_bracket", "branch(1)", "Next branch", show=False),
        Binding("1", "choose(1)", "Choose alternative", key_display="1-9"),
        *(Binding(str(k), f"choose({k})", f"Choose alternative {k}", show=False) for k in range(2, 10)),
    ]

    @dataclass
    class Moved(Message):
        stream: TokenStream

    @dataclass
    class Choose(Message):
        stream: TokenStream
        block: int
        position: int
        token_id: int

    @dataclass
    class SwitchBranch(Message):
        stream: TokenStream
        block: int
        step: int

    def __init__(self, index: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.index = index  # which column
        self.column: Column | None = None
        self.lines: list[list[Cell]] = []
        self.cursor: tuple[int, int] | None = None  # (block, position)
        self._where: dict[tuple[int, int], tuple[int, int]] = {}  # (block, position) -> (line, x)
        self._width = 0

    # -- data ---------------------------------------------------------------------------------------------

    def show(self, column: Column) -> None:
        self.column = column
        self._layout()
        if self.cursor is None or not self._valid(self.cursor):
            first = self._first_token()
            self.cursor = first
        self.refresh()

    def _layout(self) -> None:
        width = max(self.scrollable_content_region.width, 20)
        self._width = width
        self.lines = layout(self.column, width) if self.column is not None else []
        self._where = {}
        for y, line in enumerate(self.lines):
            x = 0
            for cell in line:
                if cell.position is not None:
                    self._where.setdefault((cell.block, cell.position), (y, x))
                x += cell_len(cell.text)
        self.virtual_size = Size(width, len(self.lines))

    def _valid(self, at: tuple[int, int]) -> bool:
        return at in self._where

    def _first_token(self) -> tuple[int, int] | None:
        """The first predicted token (a scored text's first token is only context)."""
        if self.column is None:
            return None
        for b, block in enumerate(self.column.blocks):
            for k, token in enumerate(block.trace.current.tokens):
                if token.probability is not None:
                    return (b, k)
        return min(self._where, default=None)

    def token(self) -> tuple[Trace, int, TracedToken] | None:
        """The trace, position and token under the cursor."""
        if self.column is None or self.cursor is None:
            return None
        block, position = self.cursor
        if block >= len(self.column.blocks):
            return None
        trace = self.column.blocks[block].trace
        tokens = trace.current.tokens
        if position >= len(tokens):
            return None
        return trace, position, tokens[position]

    def place(self, block: int, position: int) -> None:
        """Put the cursor on a token and bring it into view."""
        if not self._valid((block, position)):
            return
        self.cursor = (block, position)
        y, _x = self._where[(block, position)]
        top, height = self.scroll_offset.y, self.scrollable_content_region.height
        if y < top:
            self.scroll_to(y=y, animate=False)
        elif y >= top + height:
            self.scroll_to(y=y - height + 1, animate=False)
        self.refresh()
        self.post_message(self.Moved(self))

    # -- drawing ------------------------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        if self.column is not None and max(self.scrollable_content_region.width, 20) != self._width:
            self._layout()
            self.refresh()

    def render_line(self, y: int) -> Strip:
        row = self.scroll_offset.y + y
        if row >= len(self.lines) or self.column is None:
            return Strip.blank(self.size.width, self.rich_style)
        segments = []
        for cell in self.lines[row]:
            segments.append(Segment(cell.text, self._style(cell)))
        return Strip(segments).crop(self.scroll_offset.x, self.scroll_offset.x + self.size.width)

    def _style(self, cell: Cell) -> Style:
        if cell.style is not None:
            return cell.style
        assert self.column is not None and cell.position is not None
        if self.cursor == (cell.block, cell.position):
            return STYLE_CURSOR
        token = self.column.blocks[cell.block].trace.current.tokens[cell.position]
        return probability_style(token.probability, cell.position, token.special)

    # -- keys and mouse -----------------------------------------------------------------------------------

    def _order(self) -> list[tuple[int, int]]:
        return sorted(self._where, key=lambda at: (at[0], at[1]))

    def action_move(self, step: int) -> None:
        order = self._order()
        if not order:
            return
        at = order.index(self.cursor) if self.cursor in order else 0
        self.place(*order[max(0, min(len(order) - 1, at + step))])

    def action_line(self, step: int) -> None:
        if self.cursor not in self._where:
            return self.action_move(0)
        y, x = self._where[self.cursor]
        target = y + step
        candidates = [(abs(cx - x), at) for at, (cy, cx) in self._where.items() if cy == target]
        while not candidates and 0 <= target < len(self.lines):
            target += step
            candidates = [(abs(cx - x), at) for at, (cy, cx) in self._where.items() if cy == target]
        if candidates:
            self.place(*min(candidates)[1])
        return None

    def action_jump(self, where: int) -> None:
        order = self._order()
        if order:
            self.place(*order[0 if where == 0 else -1])

    def action_choose(self, k: int) -> None:
        found = self.token()
        if found is None:
            return
        _trace, position, token = found
        if 1 <= k <= len(token.top) and self.cursor is not None:
            self.post_message(self.Choose(self, self.cursor[0], position, token.top[k - 1].id))

    def action_branch(self, step: int) -> None:
        if self.cursor is not None:
            self.post_message(self.SwitchBranch(self, self.cursor[0], step))

    def on_click(self, event: events.Click) -> None:
        row = self.scroll_offset.y + event.y
        col = self.scroll_offset.x + event.x
        if not 0 <= row < len(self.lines):
            return
        x = 0
        for cell in self.lines[row]:
            w = cell_len(cell.text)
            if x <= col < x + w and cell.position is not None:
                self.place(cell.block, cell.position)
                return
            x += w

    def offset_of(self, block: int, position: int) -> tuple[int, int] | None:
        """Where a token is drawn, relative to the view (for tests driving the mouse)."""
        found = self._where.get((block, position))
        if found is None:
            return None
        y, x = found
        return x - self.scroll_offset.x, y - self.scroll_offset.y


class TraceDetail(Static):
    """The token under the cursor: its probability and rank, the alternatives (click one to branch)."""

    @dataclass
    class Chosen(Message):
        k: int

    def action_choose(self, k: int) -> None:
        self.post_message(self.Chosen(k))


def detail_markup(
    trace: Trace, position: int, token: TracedToken, width: int, total: int, growing: bool = False
) -> str:
    """The cursor's token as markup: what it is, its probability and rank, the branch, then the alternatives
    (click one, or press its number, to branch) and the keys."""
    piece = escape(repr(token.text if token.text else token.token))
    branch = trace.current
    where = f"branch {branch.id + 1}/{len(trace.branches)}" if len(trace.branches) > 1 else ""
    if branch.parent is not None:
        parent = trace.branch(branch.parent)
        if branch.fork < len(parent.tokens):
            was = escape(repr(parent.tokens[branch.fork].text or parent.tokens[branch.fork].token))
            where += f" (token {branch.fork + 1} was {was} in branch {parent.id + 1})"
    if growing:
        where += " [yellow]generating…[/yellow]"
    head = f"[b]token {position + 1}[/b]/{total} {piece} [dim]{escape(token.token)} id {token.id}[/dim]"
    if token.probability is None:
        return "\n".join(x for x in (head + " · [dim]context: not predicted[/dim]", where) if x)
    logprob = token.logprob if token.logprob is not None else float("nan")
    head += f" · p [b]{token.probability:.3f}[/b] · log p {logprob:.2f} · rank [b]{token.rank}[/b]"
    if where:
        head += f" · {where}"
    forks = trace.forks_at(trace.active, position)
    cells = []
    for k, alt in enumerate(token.top, 1):
        mark = "●" if alt.id == token.id else ("→" if alt.id in forks else " ")
        label = repr(alt.readable)
        label = escape(label if len(label) <= 14 else label[:13] + "…")
        plain = f"{k}{mark}{label} {alt.probability:.3f}"
        cell = (
            f"[@click=choose({k})][b]{k}[/b]{mark}{label} {alt.probability:.3f}[/]" if k <= 9 else f"[dim]{plain}[/dim]"
        )
        cells.append((cell, len(plain.replace("\\[", "["))))
    cell_width = max((w for _c, w in cells), default=10) + 2
    per_line = max(1, width // cell_width)
    rows = [
        "".join(c + " " * (cell_width - w) for c, w in cells[start : start + per_line]).rstrip()
        for start in range(0, len(cells), per_line)
    ]
    keys = "[dim]←→↑↓ tokens · 1-9 or click: choose (a new branch) · \\[ ] switch branch[/dim]"
    return "\n".join([head, *rows, keys])


class TracePanel(Vertical):
    """One stream per model, side by side, with the detail of the token under the cursor (styles in app.tcss)."""

    @dataclass
    class BranchSwitched(Message):
        """The text shown for a result changed branch (a chat keeps the reply that is shown)."""

        result: Any
        column: int
        block: int
        text: str

    @dataclass
    class Grown(Message):
        trace: Trace
        branch: Any  # core.trace.Branch
        done: bool

        def can_replace(self, message: Message) -> bool:
            return (
                isinstance(message, TracePanel.Grown)
                and not message.done
                and message.trace is self.trace
                and message.branch.id == self.branch.id
            )

    @dataclass
    class Failed(Message):
        error: str

    def __init__(self, result: Any = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.result: Any = None
        self.columns: list[Column] = []
        self._initial = result
        self._cancel: threading.Event | None = None
        self._focused = 0  # the column whose cursor the detail shows
        self._growing: set[tuple[int, int]] = set()  # (trace, branch) being generated
        self._ready = False

    def compose(self) -> ComposeResult:
        yield Static("", id="trace-head")
        with Horizontal(id="trace-columns"):
            for k in range(2):
                with Vertical(classes="trace-column", id=f"trace-column-{k}"):
                    yield Static("", classes="trace-title", id=f"trace-title-{k}")
                    yield TokenStream(k, id=f"trace-stream-{k}")
        yield TraceDetail("", id="trace-detail")

    def on_mount(self) -> None:
        self._ready = True
        if self._initial is not None:
            self.show(self._initial)

    def streams(self) -> list[TokenStream]:
        return [self.query_one(f"#trace-stream-{k}", TokenStream) for k in range(2)]

    def show(self, result: Any) -> None:
        """Draw `result` (a newer run's result replaces the old one; its growing branch is abandoned)."""
        if not self._ready:  # mounted but not composed yet: shown from on_mount
            self._initial = result
            return
        columns = columns_of(result) or []
        if result is not self.result and self._cancel is not None:
            self._cancel.set()
        self.result, self.columns = result, columns
        self._draw()

    def _draw(self) -> None:
        from rich.console import Group

        columns = self.columns
        scale = Text()
        for text, style in legend():
            scale.append(text, style)
        warnings, rest = columns[0].head if columns and columns[0].head is not None else ([], [])
        # Warnings first, then the scale: on a short screen the head keeps its first lines.
        self.query_one("#trace-head", Static).update(Group(*warnings, scale, *rest))
        two = len(columns) > 1
        for k, stream in enumerate(self.streams()):
            holder = self.query_one(f"#trace-column-{k}")
            holder.display = k < len(columns)
            title = self.query_one(f"#trace-title-{k}", Static)
            title.display = two
            if k < len(columns):
                title.update(escape(columns[k].title))
                stream.show(columns[k])
        self._detail()

    def _detail(self) -> None:
        detail = self.query_one("#trace-detail", TraceDetail)
        streams = self.streams()
        stream = streams[self._focused] if self._focused < len(self.columns) else streams[0]
        found = stream.token()
        if found is None:
            detail.update("")
            return
        trace, position, token = found
        growing = (id(trace), trace.active) in self._growing
        detail.update(
            detail_markup(trace, position, token, max(detail.size.width, 40), len(trace.current.tokens), growing)
        )

    # -- the cursor ---------------------------------------------------------------------------------------

    def on_token_stream_moved(self, message: TokenStream.Moved) -> None:
        message.stop()
        self._focused = message.stream.index
        self._detail()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, TokenStream):
            self._focused = event.widget.index
            self._detail()

    def on_trace_detail_chosen(self, message: TraceDetail.Chosen) -> None:
        message.stop()
        stream = self.streams()[self._focused]
        stream.focus()
        stream.action_choose(message.k)

    # -- branches -----------------------------------------------------------------------------------------

    def on_token_stream_switch_branch(self, message: TokenStream.SwitchBranch) -> None:
        message.stop()
        column = self.columns[message.stream.index]
        trace = column.blocks[message.block].trace
        if len(trace.branches) < 2:
            self.notify("One branch so far: choose an alternative (1-9) to make another.", timeout=3)
            return
        trace.switch(message.step)
        self._switched(message.stream.index, message.block)

    def on_token_stream_choose(self, message: TokenStream.Choose) -> None:
        message.stop()
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.generation.branching import fork

        column = self.columns[message.stream.index]
        trace = column.blocks[message.block].trace
        if not getattr(self.result, "done", True):
            self.notify("The run is still writing: branch once it has finished.", timeout=4)
            return
        current = trace.current
        if message.position < len(current.tokens) and current.tokens[message.position].id == message.token_id:
            return  # the token already there
        existing = trace.forks_at(trace.active, message.position).get(message.token_id)
        if existing is not None:
            trace.active = existing
            self._switched(message.stream.index, message.block)
            return
        try:
            branch = fork(trace, trace.active, message.position, message.token_id)
        except TuiHfError as exc:
            self.notify(str(exc), title="Cannot branch", severity="warning", markup=False)
            return
        trace.add(branch)
        self._growing.add((id(trace), branch.id))
        self._switched(message.stream.index, message.block)
        if self._cancel is not None:
            self._cancel.set()
        self._cancel = cancel = threading.Event()
        self._grow(trace, branch, cancel)

    @work(thread=True, exclusive=True, group="branch", exit_on_error=False, description="grow a branch")
    def _grow(self, trace: Trace, branch: Any, cancel: threading.Event) -> None:
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.generation.branching import grow

        def emit(partial: Any) -> None:
            if not cancel.is_set():
                self.post_message(self.Grown(trace, partial, False))

        try:
            done = grow(trace, branch, cancel, emit)
        except TuiHfError as exc:
            self.post_message(self.Failed(str(exc)))
            return
        except Exception as exc:  # a model that fails mid-branch: one line here, the traceback in the log
            from tui_hf.core.quiet import log_failure

            path = log_failure("growing a branch failed", exc)
            self.post_message(self.Failed(f"{type(exc).__name__}: {exc} (traceback in {path})"))
            return
        self.post_message(self.Grown(trace, done, True))

    def on_trace_panel_grown(self, message: TracePanel.Grown) -> None:
        message.stop()
        trace = message.trace
        branch = next((b for b in trace.branches if b.id == message.branch.id), None)
        if branch is None:
            return
        branch.tokens = message.branch.tokens
        branch.stop = message.branch.stop if message.done else ""
        if message.done:
            self._growing.discard((id(trace), branch.id))
        for k, column in enumerate(self.columns):
            for b, block in enumerate(column.blocks):
                if block.trace is trace:
                    if trace.active == branch.id:
                        self.streams()[k].show(column)
                        self._detail()
                    if message.done:
                        self._announce(k, b)

    def on_trace_panel_failed(self, message: TracePanel.Failed) -> None:
        message.stop()
        self._growing.clear()
        self._detail()
        self.notify(message.error, title="Branch not grown", severity="error", markup=False, timeout=8)

    def _switched(self, column: int, block: int) -> None:
        stream = self.streams()[column]
        stream.show(self.columns[column])
        self._detail()
        self._announce(column, block)

    def _announce(self, column: int, block: int) -> None:
        """Keep the result in step with the branch shown (Copy, Raw JSON, a chat's history)."""
        trace = self.columns[column].blocks[block].trace
        text = trace.current.text
        result = self.result if column == 0 else getattr(self.result, "beside", None)
        if result is None:
            return
        if hasattr(result, "sequences") and block < len(result.sequences):
            result.sequences[block] = text
        elif hasattr(result, "messages") and result.messages:
            result.messages[-1].content = text.strip()
        self.post_message(self.BranchSwitched(self.result, column, block, text))

    def cancel(self) -> None:
        """Stop a branch that is growing (at its next token)."""
        if self._cancel is not None:
            self._cancel.set()

    def on_unmount(self) -> None:
        self.cancel()  # a new run or closing the app: no generate thread goes on for a panel that is gone
