"""Any number of tokenizers on the same text: a table of all of them (tokens, characters per token, unknown
tokens, vocabulary, round trip) and the split of the ones selected side by side, kept current as the input,
the tokenize settings or the app's tokenizer change.

The app's own tokenizer is the first row. The highlighted row's split shows beside it; space pins more rows
(up to four splits side by side), delete removes a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, Static
from textual.worker import get_current_worker

from tui_hf.core.tokens import TokenizeSettings
from tui_hf.ui.inference.token_text import TokenTextView
from tui_hf.ui.inference.tokens import trip_label
from tui_hf.ui.widgets.lists import Rows
from tui_hf.ui.widgets.markup import escape

SLOTS = "abcd"  # split views: #compare-a (the app's tokenizer), #compare-b ...
COLUMNS = ("", "tokenizer", "tokens", "chars/tok", "unk", "vocab", "round trip")
FIXED = 2 + 6 + 9 + 5 + 8 + 7 * 2  # the other columns and their padding, in cells


class ComparePane(Vertical):
    BINDINGS = [
        Binding("space", "pin", "Pin split"),
        Binding("delete", "remove", "Remove row"),
    ]

    @dataclass
    class Compared(Message):
        stats: list[Any]  # core.token_compare.TokenizerStats, one per row
        generation: int

    @dataclass
    class Loaded(Message):
        reference: str
        tokenizer: Any

    @dataclass
    class Failed(Message):
        reference: str
        error: str

    def __init__(self, offline: bool = False, trust_remote_code: bool = False, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.offline, self.trust_remote_code = offline, trust_remote_code
        self.tokenizer: Any = None  # the app's current tokenizer (the first row)
        self.texts: list[str] = []
        self.settings = TokenizeSettings()
        self.others: list[tuple[str, Any]] = []  # (reference, tokenizer) added by the user
        self.stats: list[Any] = []
        self.pinned: set[str] = set()  # references whose split stays on screen
        self._generation = 0
        self._loading: set[str] = set()

    def compose(self) -> ComposeResult:
        with Horizontal(id="compare-bar"):
            yield Label("Add", classes="field-label")
            yield Input(
                placeholder="e.g. openai-community/gpt2, ./my-model (comma-separated)", id="compare-ref", compact=True
            )
            yield Button("Add", id="compare-load", compact=True)
        yield Static("Add tokenizers to compare their split of the input with the current one.", id="compare-summary")
        table = Rows(id="compare-table", cursor_type="row", zebra_stripes=True, show_cursor=True)
        table.add_columns(*COLUMNS)
        yield table
        with Horizontal(id="compare-views"):
            for slot in SLOTS:
                with Vertical(id=f"compare-slot-{slot}", classes="compare-slot"):
                    yield Static("", id=f"compare-title-{slot}", classes="compare-title")
                    yield TokenTextView(id=f"compare-{slot}")

    def on_mount(self) -> None:
        for slot in SLOTS[2:]:
            self.query_one(f"#compare-slot-{slot}").display = False
        if self.tokenizer is not None:
            self._recompute()

    # -- what to compare ----------------------------------------------------------------------------------

    def update_source(self, tokenizer: Any, texts: list[str], settings: TokenizeSettings) -> None:
        """The input, its settings or the app's tokenizer changed: compare again."""
        self.tokenizer, self.texts, self.settings = tokenizer, texts, settings
        if self.tokenizer is not None and self.is_mounted:
            self._recompute()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._request()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._request()

    def _request(self) -> None:
        field = self.query_one("#compare-ref", Input)
        references = [r.strip() for r in field.value.split(",") if r.strip()]
        if not references:
            return
        if self.tokenizer is None:
            self.notify("The current tokenizer is still loading.", severity="warning")
            return
        known = {ref for ref, _tok in self.others} | self._loading
        new = [r for r in references if r not in known]
        if not new:
            self.notify("Already in the table.", timeout=3)
            return
        field.value = ""
        self._loading |= set(new)
        self.query_one("#compare-summary", Static).update(f"loading {escape(', '.join(new))}…")
        for reference in new:
            self._load(reference)

    @work(thread=True, group="compare-load", exit_on_error=False, description="load a tokenizer to compare")
    def _load(self, reference: str) -> None:
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.hub import parse_ref, resolve
        from tui_hf.core.models import load_tokenizer

        try:
            tokenizer = load_tokenizer(resolve(parse_ref(reference), offline=self.offline), self.trust_remote_code)
        except TuiHfError as exc:
            self.post_message(self.Failed(reference, str(exc)))
            return
        except Exception as exc:  # a tokenizer that cannot be read: say so, keep the pane usable
            self.post_message(self.Failed(reference, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.Loaded(reference, tokenizer))

    def on_compare_pane_loaded(self, message: ComparePane.Loaded) -> None:
        message.stop()
        self._loading.discard(message.reference)
        self.others.append((message.reference, message.tokenizer))
        self._highlight_next = len(self.others)  # the new row, once the table is refilled
        self._recompute()

    def on_compare_pane_failed(self, message: ComparePane.Failed) -> None:
        message.stop()
        self._loading.discard(message.reference)
        self.query_one("#compare-summary", Static).update(
            f"[red]{escape(message.reference)}: {escape(message.error)}[/red]"
        )

    def action_pin(self) -> None:
        row = self._row()
        if row is None or row == 0:
            return
        reference = self.others[row - 1][0]
        self.pinned ^= {reference}
        self._fill_table(keep=row)
        self._show_splits()

    def action_remove(self) -> None:
        row = self._row()
        if row is None or row == 0:
            return
        reference, _tok = self.others.pop(row - 1)
        self.pinned.discard(reference)
        self.stats = self.stats[:row] + self.stats[row + 1 :]
        self._fill_table(keep=min(row, len(self.stats) - 1))
        self._show_summary()
        self._show_splits()
        self._recompute()  # a comparison still running counts the removed row: its result must not land

    # -- computing ----------------------------------------------------------------------------------------

    _highlight_next: int | None = None

    def _recompute(self) -> None:
        self._generation += 1
        tokenizers = [self.tokenizer] + [tok for _ref, tok in self.others]
        names = [None] + [ref for ref, _tok in self.others]
        self._compute(tokenizers, names, self.texts or [""], self.settings, self._generation)

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False, description="compare tokenizers")
    def _compute(
        self,
        tokenizers: list[Any],
        names: list[str | None],
        texts: list[str],
        settings: TokenizeSettings,
        generation: int,
    ) -> None:
        from tui_hf.core.token_compare import tokenizer_stats

        stats = []
        for tok, name in zip(tokenizers, names):
            try:
                stats.append(tokenizer_stats(tok, texts, settings, name))
            except Exception as exc:  # a tokenizer that refuses these settings (a max_length, padding)
                stats.append(f"{type(exc).__name__}: {exc}")
        if not get_current_worker().is_cancelled:
            self.post_message(self.Compared(stats, generation))

    def on_compare_pane_compared(self, message: ComparePane.Compared) -> None:
        message.stop()
        if message.generation != self._generation:
            return  # a newer input is being compared
        self.stats = message.stats
        keep = self._highlight_next if self._highlight_next is not None else self._row()
        self._highlight_next = None
        self._fill_table(keep=keep)
        self._show_summary()
        self._show_splits()

    # -- drawing ------------------------------------------------------------------------------------------

    def _row(self) -> int | None:
        table = self.query_one("#compare-table", DataTable)
        return table.cursor_row if table.row_count else None

    def on_resize(self) -> None:
        if self.stats:
            self._fill_table(keep=self._row())  # the name column takes what the width gives

    def _fill_table(self, keep: int | None = None) -> None:
        table = self.query_one("#compare-table", DataTable)
        table.clear(columns=True)  # columns too: their widths only ever grow, and the name's follows the width
        table.add_columns(*COLUMNS)
        # The round trip column shows the reason's head whole ("≈ normalization"; the summary line says it in
        # full for the highlighted row); the name takes what is left, its start clipped.
        trips = ["failed" if isinstance(s, str) else trip_label(s.roundtrip) for s in self.stats]
        room = max((self.size.width or self.app.size.width) - 2, 60) - FIXED
        name_width = max(12, room - max(map(len, trips), default=5))
        for row, (s, trip) in enumerate(zip(self.stats, trips)):
            reference = None if row == 0 else self.others[row - 1][0]
            mark = "●" if row == 0 else ("✓" if reference in self.pinned else "")
            if isinstance(s, str):
                table.add_row(mark, _clip(reference or "current", name_width), "—", "—", "—", "—", trip)
                continue
            current = " (current)" if row == 0 and len(s.name) + 10 <= name_width else ""
            table.add_row(
                mark,
                _clip(s.name, name_width - len(current)) + current,
                str(s.tokens),
                f"{s.chars_per_token:.2f}",
                str(s.unknown),
                f"{s.vocab_size:,}",
                trip,
            )
        if keep is not None and table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1), animate=False)

    def _show_summary(self) -> None:
        summary = self.query_one("#compare-summary", Static)
        counts = [s.tokens for s in self.stats if not isinstance(s, str)]
        if not counts:
            summary.update("")
            return
        row = self._row()
        chosen = self.stats[row] if row is not None and row < len(self.stats) else None
        why = ""
        if row and chosen is not None and not isinstance(chosen, str) and not chosen.exact:  # row 0: in Tokens
            why = f"\n[yellow]≈[/yellow] round trip of {escape(_clip(chosen.name, 40))}: {escape(chosen.roundtrip)}"
        elif isinstance(chosen, str):
            why = f"\n[red]{escape(chosen)}[/red]"
        if len(counts) == 1:
            summary.update(
                f"[b]{counts[0]}[/b] tokens with the current tokenizer · add tokenizers above to compare" + why
            )
            return
        base = max(counts[0], 1)
        ratios = ", ".join(f"{c / base:.2f}×" for c in counts[1:])
        per_input = ""
        stats = [s for s in self.stats if not isinstance(s, str)]
        if len(stats[0].per_input) > 1:
            per_input = " · per input: " + ", ".join(
                "/".join(str(s.per_input[i]) for s in stats) for i in range(len(stats[0].per_input))
            )
        summary.update(
            f"[b]{'[/b] vs [b]'.join(str(c) for c in counts)}[/b] tokens ({ratios} of the current){per_input}{why}"
        )

    def shown_rows(self) -> list[int]:
        """The rows whose split is on screen: the current tokenizer, the highlighted row, the pinned ones."""
        rows = [0]
        cursor = self._row()
        if cursor:
            rows.append(cursor)
        for row, (reference, _tok) in enumerate(self.others, 1):
            if reference in self.pinned and row not in rows:
                rows.append(row)
        if len(rows) == 1 and len(self.stats) > 1:
            rows.append(1)
        return [r for r in rows if r < len(self.stats)][: len(SLOTS)]

    def _show_splits(self) -> None:
        rows = self.shown_rows()
        for k, slot in enumerate(SLOTS):
            holder = self.query_one(f"#compare-slot-{slot}")
            view = self.query_one(f"#compare-{slot}", TokenTextView)
            title = self.query_one(f"#compare-title-{slot}", Static)
            holder.display = k < max(len(rows), 2)
            if k >= len(rows) or isinstance(self.stats[rows[k]], str):
                title.update("")
                view.show(None)
                continue
            s = self.stats[rows[k]]
            room = max(holder.size.width or self.size.width // max(len(rows), 2), 30) - 16
            title.update(f"[b]{slot.upper()}[/b] {escape(_clip(s.name, room))} · {s.tokens} tokens")
            view.show(s.breakdown)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_splits()
        self._show_summary()


def _clip(text: str, width: int) -> str:
    """A name that fits `width`: a path keeps its last two parts, then its end."""
    parts = text.replace("\\", "/").rstrip("/").split("/")
    if len(parts) > 2 and len(text) > width:
        text = "/".join(parts[-2:])
    return text if len(text) <= width else "…" + text[-(width - 1) :]
