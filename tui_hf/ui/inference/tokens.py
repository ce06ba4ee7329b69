"""The tokenizer breakdown pane: the input split into coloured tokens, and a table of every token.

Both views are Line-API scroll views: they keep plain data and draw only the rows on screen, so a
100k-character input costs the same to scroll and redraw as a short one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Checkbox, Input, Label, Select, Static
from textual.worker import get_current_worker

from tui_hf.core.tokens import (
    Padding,
    TokenBreakdown,
    TokenizeSettings,
    readable,
    roundtrip,
)
from tui_hf.ui.inference.stages import EMPTY_STAGES, StagesView, stage_lines
from tui_hf.ui.inference.template import TemplateTextView, template_notes, template_summary
from tui_hf.ui.inference.token_text import (
    STYLE_PAD,
    STYLE_SELECTED,
    Line,
    TokenTextView,
    wrap,
)
from tui_hf.ui.widgets.cells import fit_cells, fit_fields
from tui_hf.ui.widgets.choice import Choice
from tui_hf.ui.widgets.markup import escape
from tui_hf.ui.widgets.quiet import set_virtual_size, update_static

INLINE_CHARS = 2000  # texts shorter than this are tokenized on the key, longer ones in a worker thread

COLUMNS = (
    ("in", 3),
    ("#", 6),
    ("token", 18),
    ("id", 8),
    ("mask", 4),
    ("span", 13),
    ("spec", 4),
    ("word", 5),
    ("type", 4),
)


def _cell(text: str, width: int) -> str:
    return text[: width - 1] + "…" if cell_len(text) > width else text + " " * (width - cell_len(text))


class TokenTable(ScrollView, can_focus=True):
    """One row per token of the batch: token, id, attention mask, span, special flag, word id, type id."""

    DEFAULT_CSS = """
    TokenTable { height: 1fr; }
    TokenTable:focus { background-tint: $primary 4%; }
    """
    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
        Binding("j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]

    cursor: reactive[int] = reactive(0)

    class CursorMoved(Message):
        def __init__(self, seq: int, index: int) -> None:
            super().__init__()
            self.seq, self.index = seq, index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.breakdown: TokenBreakdown | None = None
        self.rows: list[tuple[int, int]] = []
        self.readable = False  # the vocabulary's own strings ('##izer', 'Ġthe') unless asked otherwise

    @staticmethod
    def header(readable_pieces: bool = False) -> str:
        names = [
            (("token (readable)" if readable_pieces else "token (vocabulary)") if name == "token" else name, w)
            for name, w in COLUMNS
        ]
        return " ".join(_cell(name, width) for name, width in names)

    def set_readable(self, on: bool) -> None:
        self.readable = on
        self.refresh()

    def show(self, bd: TokenBreakdown | None) -> None:
        self.breakdown = bd
        self.rows = [] if bd is None else [(s, i) for s, seq in enumerate(bd.sequences) for i in range(len(seq.ids))]
        set_virtual_size(self, Size(sum(w + 1 for _, w in COLUMNS), len(self.rows)))
        self.set_reactive(TokenTable.cursor, min(self.cursor, max(len(self.rows) - 1, 0)))
        self.refresh()

    def row_text(self, row: int) -> str:
        assert self.breakdown is not None
        s, i = self.rows[row]
        seq = self.breakdown.sequences[s]
        span = "" if seq.offsets is None or seq.special[i] else f"{seq.offsets[i][0]}:{seq.offsets[i][1]}"
        word = "" if seq.word_ids is None or seq.word_ids[i] is None else str(seq.word_ids[i])
        piece = readable(seq.tokens[i], self.breakdown.byte_level) if self.readable else seq.tokens[i]
        values = (
            str(s + 1),
            str(i),
            piece,
            str(seq.ids[i]),
            str(seq.attention_mask[i]),
            span,
            "yes" if seq.special[i] else "",
            word,
            "" if seq.type_ids is None else str(seq.type_ids[i]),
        )
        return " ".join(_cell(v, w) for v, (_, w) in zip(values, COLUMNS))

    def render_line(self, y: int) -> Strip:
        row = self.scroll_offset.y + y
        if row >= len(self.rows) or self.breakdown is None:
            return Strip.blank(self.size.width, self.rich_style)
        s, i = self.rows[row]
        seq = self.breakdown.sequences[s]
        if row == self.cursor:
            style = STYLE_SELECTED
        elif not seq.attention_mask[i]:
            style = STYLE_PAD
        elif seq.special[i]:
            style = Style(color="#c4a7ff", bold=True)
        else:
            style = self.rich_style
        text = self.row_text(row)
        strip = Strip([Segment(text, style)], cell_len(text))
        return strip.crop(self.scroll_offset.x, self.scroll_offset.x + self.size.width)

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()
        if not self.rows:
            return
        top, height = self.scroll_offset.y, self.scrollable_content_region.height
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False)
        self.post_message(self.CursorMoved(*self.rows[new]))

    def move_to(self, seq: int, index: int) -> None:
        """Put the cursor on a token without announcing it (the caller already knows)."""
        try:
            row = self.rows.index((seq, index))
        except ValueError:
            return
        with self.prevent(self.CursorMoved):
            self.cursor = row

    def selected(self) -> tuple[int, int] | None:
        return self.rows[self.cursor] if self.rows else None

    def action_move(self, delta: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(self.scrollable_content_region.height - 1, 1))

    def action_jump(self, where: int) -> None:
        if self.rows:
            self.cursor = 0 if where == 0 else len(self.rows) - 1

    def on_click(self, event: events.Click) -> None:
        row = self.scroll_offset.y + event.y
        if 0 <= row < len(self.rows):
            self.cursor = row


def trip_label(reason: str) -> str:
    """A round-trip reason's head, where a line has no room for all of it: "exact", "≈ normalization",
    "≈ 2 unknown tokens ([UNK])" (core.tokens writes each reason as "head: explanation")."""
    if reason == "exact":
        return "exact"
    head = reason.split(":")[0]
    if ":" in reason and len(head) <= 28:
        return f"≈ {head}"
    return "≈ special tokens" if reason.startswith("special-token text") else "≈ differs"


VIEWS = [("split", "split"), ("stages", "stages")]
TEMPLATE_VIEW = ("chat template", "template")


def _template_view() -> TokenTextView:
    return TemplateTextView(id="tok-template")


PADDING_CHOICES: list[tuple[str, Padding]] = [
    ("pad to longest", "longest"),
    ("pad to max_length", "max_length"),
    ("no padding", "do_not_pad"),
]


class TokensPane(Vertical):
    """Tokenizer settings, a summary, the coloured text, the token table and the decoded round trip.

    It tokenizes in a worker (the newest request wins) and keeps the table, the coloured text and the
    input's selection in step: moving in the table posts `TokenPicked` for the input to select.
    """

    class TokenPicked(Message):
        """The user moved to a token that covers characters start:end of input `seq`."""

        def __init__(self, seq: int, start: int, end: int) -> None:
            super().__init__()
            self.seq, self.start, self.end = seq, start, end

    BINDINGS = [
        Binding("v", "toggle_view", "Split / stages", show=False),
        Binding("r", "toggle_readable", "Vocabulary / readable pieces", show=False),
    ]

    @dataclass
    class Computed(Message):
        breakdown: TokenBreakdown | None
        lines: list[Line]
        generation: int
        stages: Any = None  # core.tokenizer_stages.Stages of one input, when the stages view is on
        template: Any = None  # core.chat_template.TemplateView, when the chat template view is on

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tokenizer: Any = None
        self.breakdown: TokenBreakdown | None = None
        self.stages: Any = None
        self.stage_seq = 0  # which input the stages view shows (the one the cursor is in)
        self.conversation: list[dict[str, str]] | None = None  # a chat's messages: the template view has them
        self.template: Any = None
        self._texts: list[str] = []
        self._generation = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="tok-settings"):
            yield Checkbox("specials", True, id="tok-special", compact=True, tooltip="add special tokens")
            yield Checkbox("truncate", False, id="tok-truncation", compact=True, tooltip="truncate to max_length")
            yield Label("max_length", classes="field-label")
            yield Input(placeholder="auto", id="tok-max-length", type="integer", compact=True)
            yield Choice(PADDING_CHOICES, value="longest", allow_blank=False, id="tok-padding", compact=True)
        with Horizontal(id="tok-view-row"):
            yield Label("view", classes="field-label")
            yield Choice(
                VIEWS,
                value="split",
                allow_blank=False,
                id="tok-view",
                compact=True,
                tooltip="the coloured split, the tokenizer's stages, or (chatting) the chat template (v)",
            )
            yield Checkbox(
                "readable pieces",
                False,
                id="tok-readable",
                compact=True,
                tooltip="spaces as ·, newlines as ↵, byte-level pieces decoded (r)",
            )
        yield Static("Type in the input box to see its tokens.", id="tok-summary")
        yield TokenTextView(id="tok-text")
        yield StagesView(id="tok-stages")
        yield _template_view()
        yield Static(TokenTable.header(), id="tok-table-header")
        yield TokenTable(id="tok-table")
        yield Static("", id="tok-roundtrip")

    def on_mount(self) -> None:
        self.query_one(StagesView).display = False
        self.query_one("#tok-template").display = False

    @property
    def view(self) -> str:
        return str(self.query_one("#tok-view", Select).value)

    @property
    def readable_pieces(self) -> bool:
        return self.query_one("#tok-readable", Checkbox).value

    def action_toggle_view(self) -> None:
        select = self.query_one("#tok-view", Select)
        views = ["split", "stages"] + (["template"] if self.conversation is not None else [])
        select.value = views[(views.index(str(select.value)) + 1) % len(views)] if select.value in views else "split"

    def set_conversation(self, messages: list[dict[str, str]] | None) -> None:
        """The chat so far and the message being typed, or None when the task is not a chat: the chat template
        view is offered only for a chat."""
        chat_before = self.conversation is not None
        self.conversation = messages
        if (messages is not None) != chat_before:
            select = self.query_one("#tok-view", Select)
            value = select.value if messages is not None or select.value != "template" else "split"
            select.set_options(VIEWS + ([TEMPLATE_VIEW] if messages is not None else []))
            select.value = value

    def action_toggle_readable(self) -> None:
        self.query_one("#tok-readable", Checkbox).toggle()

    def settings(self) -> TokenizeSettings:
        raw = self.query_one("#tok-max-length", Input).value.strip()
        max_length = int(raw) if raw.isdigit() and int(raw) > 0 else None
        padding = self.query_one("#tok-padding", Select).value
        return TokenizeSettings(
            add_special_tokens=self.query_one("#tok-special", Checkbox).value,
            truncation=self.query_one("#tok-truncation", Checkbox).value,
            max_length=max_length,
            padding=padding if isinstance(padding, str) else "longest",  # type: ignore[arg-type]
        )

    def text_width(self) -> int:
        return self.query_one("#tok-text", TokenTextView)._width()

    # -- tokenizing -------------------------------------------------------------------------------------

    def set_tokenizer(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.tokenize(self._texts)

    def tokenize(self, texts: list[str]) -> None:
        """Recompute the breakdown for `texts` in a worker; a newer request makes older results void."""
        self._texts = texts
        if self.tokenizer is None:
            return
        self._generation += 1
        seq = min(self.stage_seq, max(len(texts) - 1, 0))
        conversation = self.conversation if self.view == "template" else None
        settings, width, stage_seq = self.settings(), self.text_width(), seq if self.view == "stages" else None
        if conversation is None and sum(len(t) for t in texts) < INLINE_CHARS:
            # A short text tokenizes in well under a millisecond: here, not in a thread whose result comes back
            # as a message, so the key's own frame shows its tokens.
            try:
                computed = self._breakdown(self.tokenizer, texts, settings, width, self._generation, stage_seq)
            except Exception as exc:  # e.g. a max_length the tokenizer refuses: say so, keep typing possible
                self.notify(f"tokenizer: {exc}", severity="error", markup=False)
                return
            self.on_tokens_pane_computed(computed)
            return
        self._compute(self.tokenizer, texts, settings, width, self._generation, stage_seq, conversation)

    @work(thread=True, exclusive=True, group="tokens", exit_on_error=False, description="tokenize")
    def _compute(
        self,
        tokenizer: Any,
        texts: list[str],
        settings: TokenizeSettings,
        width: int,
        generation: int,
        stage_seq: int | None,
        conversation: list[dict[str, str]] | None = None,
    ) -> None:
        if conversation is not None:  # the chat template view: the rendered conversation's tokens
            from tui_hf.core.chat_template import render

            view = render(tokenizer, conversation)
            lines = wrap(view.breakdown, width) if view.breakdown is not None else []
            if not get_current_worker().is_cancelled:
                self.post_message(self.Computed(view.breakdown, lines, generation, template=view))
            return
        try:
            computed = self._breakdown(tokenizer, texts, settings, width, generation, stage_seq)
        except Exception as exc:  # e.g. a max_length the tokenizer refuses: say so, keep typing possible
            self.app.call_from_thread(self.notify, f"tokenizer: {exc}", severity="error", markup=False)
            return
        if not get_current_worker().is_cancelled:
            self.post_message(computed)

    def _breakdown(
        self,
        tokenizer: Any,
        texts: list[str],
        settings: TokenizeSettings,
        width: int,
        generation: int,
        stage_seq: int | None,
    ) -> TokensPane.Computed:
        """The breakdown of `texts`, wrapped to `width`, and their stages while they are on screen."""
        from tui_hf.core.tokenizer_stages import stages
        from tui_hf.core.tokens import breakdown

        if not texts:
            return self.Computed(None, [], generation)
        bd = breakdown(tokenizer, texts, settings)
        # The stages only while they are on screen: they cost about as much again as the breakdown.
        found = stages(tokenizer, texts[stage_seq]) if stage_seq is not None else None
        return self.Computed(bd, wrap(bd, width), generation, found)

    def on_tokens_pane_computed(self, message: TokensPane.Computed) -> None:
        message.stop()
        if message.generation == self._generation:  # else a newer keystroke is already being tokenized
            self.stages = message.stages
            self.template = message.template
            self.show(message.breakdown, message.lines)
            if message.template is not None:
                self._show_template(message.template)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        if event.checkbox.id == "tok-readable":
            self.query_one(TokenTable).set_readable(event.value)
            self.query_one("#tok-table-header", Static).update(TokenTable.header(event.value))
            self._show_stages()
            return
        self.tokenize(self._texts)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "tok-view":
            stages_on, template_on = event.value == "stages", event.value == "template"
            self.query_one("#tok-text").display = not stages_on and not template_on
            self.query_one(StagesView).display = stages_on
            self.query_one("#tok-template").display = template_on
        self.tokenize(self._texts)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.tokenize(self._texts)

    # -- selection --------------------------------------------------------------------------------------

    def on_token_table_cursor_moved(self, event: TokenTable.CursorMoved) -> None:
        event.stop()
        self.query_one("#tok-text", TokenTextView).highlight(event.seq, event.index)
        self.query_one("#tok-template", TokenTextView).highlight(event.seq, event.index)
        bd = self.breakdown
        if bd is None or event.seq >= len(bd.sequences) or self.view == "template":
            return  # the template view's offsets are in the rendered chat, not in the input
        seq = bd.sequences[event.seq]
        if seq.offsets is not None and not seq.special[event.index]:
            start, end = seq.offsets[event.index]
            self.post_message(self.TokenPicked(event.seq, start, end))

    def follow_cursor(self, seq_no: int, char: int) -> None:
        """The input's cursor moved to character `char` of input `seq_no`: show the token under it."""
        if seq_no != self.stage_seq:
            self.stage_seq = seq_no
            if self.view == "stages":
                self.tokenize(self._texts)
        bd = self.breakdown
        if bd is None or seq_no >= len(bd.sequences) or self.view == "template":
            return
        seq = bd.sequences[seq_no]
        index = seq.token_at(char)
        if index is None and char > 0:
            index = seq.token_at(char - 1)  # the cursor just after a word belongs to that word
        if index is None:
            return
        self.query_one(TokenTable).move_to(seq_no, index)
        self.query_one("#tok-text", TokenTextView).highlight(seq_no, index)

    # -- drawing ----------------------------------------------------------------------------------------

    def _show_stages(self) -> None:
        if self.stages is not None:
            byte_level = self.breakdown.byte_level if self.breakdown is not None else False
            self.query_one(StagesView).show(stage_lines(self.stages, self.readable_pieces, byte_level))
        else:  # e.g. the input was cleared: not the stages of the text that was there before
            self.query_one(StagesView).show(EMPTY_STAGES)

    def _show_template(self, view: Any) -> None:
        text = self.query_one("#tok-template")
        text.mask = view.assistant_mask  # type: ignore[attr-defined]
        text.show(view.breakdown, None)  # type: ignore[attr-defined]
        update_static(self.query_one("#tok-summary", Static), template_summary(view))
        update_static(self.query_one("#tok-roundtrip", Static), template_notes(view))

    def show(self, bd: TokenBreakdown | None, lines: list[Line] | None = None) -> None:
        self.breakdown = bd
        self.query_one("#tok-text", TokenTextView).show(bd, lines)
        self._show_stages()
        self.query_one(TokenTable).show(bd)
        summary = self.query_one("#tok-summary", Static)
        roundtrip_view = self.query_one("#tok-roundtrip", Static)
        if bd is None or not bd.sequences:
            update_static(summary, "Type in the input box to see its tokens.")
            update_static(roundtrip_view, "")
            return
        n = len(bd.sequences)
        batch = f"batch of {n}, padded to {bd.padded_length}" if n > 1 else ""
        trunc = sum(s.truncated for s in bd.sequences)
        longest = max(s.real_tokens for s in bd.sequences)
        limit = bd.model_max_length
        # Without truncation a text longer than the model reads is counted whole here: say so, or 3,520 tokens
        # for a 512-position model reads as if the model took them all.
        over = (
            f"[yellow]over the {limit:,} tokens the model reads: truncation is off[/yellow]"
            if limit and longest > limit and not bd.settings.truncation
            else ""
        )
        trips = [roundtrip(bd, i) for i in range(min(n, 20))]
        unknown = sum(t.unknown for t in trips)
        fields = [
            f"[b]{bd.total_tokens}[/b] tokens",
            f"[b]{bd.total_chars}[/b] chars",
            f"{bd.total_chars / max(bd.total_tokens, 1):.2f} chars/token",
            batch,
            f"[yellow]{trunc} truncated[/yellow]" if trunc else "",
            over,
            f"[yellow]{unknown} unknown[/yellow]" if unknown else "",
            "" if bd.is_fast else "[yellow]slow tokenizer: no offsets or word ids[/yellow]",
            f"[dim]{escape(bd.tokenizer_name)}[/dim]",
        ]
        fields = [f for f in fields if f]
        # Whole fields, the warnings last to go: on one row (80x24) the tokenizer's name and the ratios give way.
        plain = [Text.from_markup(f).plain for f in fields]
        rows = 1 if self.screen.has_class("-short") else 2
        room = (summary.content_region.width or self.app.size.width - 2) * rows
        kept = fit_fields(plain, room, drop=[len(fields) - 1, 2, 1])
        update_static(summary, " · ".join(fields[plain.index(p)] for p in kept))
        notes = []
        short = self.screen.has_class("-short")  # two rows (app.tcss): a line per input, its reason's head first
        room = (roundtrip_view.content_region.width or self.app.size.width - 2) - 4
        for i, trip in enumerate(trips):
            seq = bd.sequences[i]
            mark = "[green]✓[/green]" if trip.exact else "[yellow]≈[/yellow]"
            decoded = seq.decoded if len(seq.decoded) <= 200 else seq.decoded[:200] + "…"
            prefix = f"{i + 1}: " if n > 1 else ""
            if short:
                head = f"{prefix}{trip_label(trip.summary).removeprefix('≈ ')} · decode(ids) → "
                text = decoded if cell_len(head + decoded) <= room else fit_cells(decoded, room - len(head) - 1) + "…"
                notes.append(f"{mark} {escape(head)}[i]{escape(text)}[/i]")
                continue
            notes.append(f"{mark} {prefix}decode(ids) → [i]{escape(decoded)}[/i]  [dim]({escape(trip.summary)})[/dim]")
            if not trip.exact and n == 1:  # one input: the room to say where and why
                notes += [f"  [yellow]•[/yellow] {escape(reason)}" for reason in trip.reasons[1:]]
                where = "; ".join(f"at {at}: {escape(repr(a))} → {escape(repr(b))}" for at, a, b in trip.diffs[:3])
                if where:
                    notes.append(f"  [dim]{where}[/dim]")
        if n > 20:
            notes.append(f"[dim]… and {n - 20} more inputs[/dim]")
        update_static(roundtrip_view, "\n".join(notes))
