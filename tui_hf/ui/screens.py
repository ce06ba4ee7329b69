"""Modal screens: the model picker, save, help, and a yes/no confirmation."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from rich.segment import Segment
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from tui_hf.core.tasks.registry import TASKS
from tui_hf.ui.widgets.lists import FilterInput, Options, mentions
from tui_hf.ui.widgets.markup import escape

SOURCE_TITLES = {
    "embedded": "Embedded",
    "run": "Finetuned runs",
    "cache": "Hugging Face cache",
    "recent": "Recent",
    "hub": "Hub (most downloaded)",
}


def render_card(card: Any) -> str:
    params = f"{card.parameters / 1e6:.1f}M" if card.parameters else "?"
    weights = (
        "safetensors"
        if card.safetensors
        else "[red]pickle only: loads after a confirmation[/red]"
        if card.pickle_only
        else "no weights found"
    )
    lines = [
        f"[b]{escape(card.title)}[/b]",
        f"[dim]{escape(card.location)}[/dim]",
        f"architecture {escape(', '.join(card.architectures) or card.model_type)} ({card.model_type})",
        f"parameters {params} · dtype {card.dtype or 'float32'} · {card.size_on_disk / 2**20:,.1f} MiB on disk",
        f"weights {weights}",
        f"vocabulary {card.vocab_size or '?'} · max positions {card.max_positions or '?'} · "
        f"tokenizer {card.tokenizer_class or '?'}",
    ]
    if card.adapter_on:
        lines.append(f"LoRA adapter on {escape(card.adapter_on)} (loaded onto it and merged)")
    if card.labels:
        lines.append(f"labels {escape(', '.join(card.labels[:12]))}")
    if card.tasks:
        lines.append("tasks:")
        for task, how in card.tasks.items():
            colour = {"trained head": "green", "ready": "green"}.get(how, "yellow")
            lines.append(f"  {task} [{colour}]{how}[/{colour}]")
    return "\n".join(lines)


class ModelPicker(ModalScreen[str | None]):
    """Search as you type over local models and, when online, the Hub; a card for the highlighted one."""

    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close")]

    def __init__(self, task: str, runs_dir: Path | None, offline: bool) -> None:
        super().__init__()
        self.task_name, self.runs_dir, self.offline = task, runs_dir, offline
        self.local: list[Any] = []
        self.hub: list[Any] = []
        self.hub_note = "searching the Hub…"
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Label(
                f"Pick a model for [b]{self.task_name}[/b]  [dim]type to search · enter loads · esc closes[/dim]"
            )
            yield Input(placeholder="search, or a hub id / directory to load as typed", id="picker-search")
            with Horizontal():
                yield Options(id="picker-list")
                yield VerticalScroll(
                    Static("Highlight a model to see its card.", id="picker-card"), id="picker-card-scroll"
                )

    def on_mount(self) -> None:
        self.load_local()
        self.search_hub("")

    @work(thread=True, exclusive=True, group="picker-local")
    def load_local(self) -> None:
        from tui_hf.core.catalog import local_models

        entries = local_models(self.runs_dir)
        self.app.call_from_thread(self._set_local, entries)

    def _set_local(self, entries: list[Any]) -> None:
        self.local = entries
        self.refresh_list()

    @work(thread=True, exclusive=True, group="picker-hub")
    def search_hub(self, query: str) -> None:
        from tui_hf.core.catalog import hub_models
        from tui_hf.core.errors import ModelLoadError

        try:
            found, note = hub_models(query, self.task_name, offline=self.offline), ""
        except ModelLoadError as exc:
            found, note = [], str(exc)
        except Exception as exc:  # the Hub answered badly: say so, keep the local list
            found, note = [], f"the Hub search failed: {exc}"
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._set_hub, found, note)

    def _set_hub(self, found: list[Any], note: str) -> None:
        self.hub, self.hub_note = found, note
        self.refresh_list()

    @on(Input.Changed, "#picker-search")
    def _query_changed(self, event: Input.Changed) -> None:
        self.refresh_list()
        typed = event.value.strip()
        if typed and os.path.isdir(os.path.expanduser(typed)):
            self.show_card(typed)  # a directory typed in full: its card, before it is loaded
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.4, lambda: self.search_hub(event.value.strip()))

    @on(Input.Submitted, "#picker-search")
    def _submitted(self, event: Input.Submitted) -> None:
        options = self.query_one("#picker-list", OptionList)
        typed = event.value.strip()
        if typed and os.path.isdir(os.path.expanduser(typed)):
            self.dismiss(typed)
        elif options.highlighted_option is not None and options.highlighted_option.id:
            self.dismiss(options.highlighted_option.id)
        elif event.value.strip():
            self.dismiss(event.value.strip())

    def refresh_list(self) -> None:
        from tui_hf.core.catalog import matches

        query = self.query_one("#picker-search", Input).value
        options = self.query_one("#picker-list", OptionList)
        options.clear_options()
        shown = matches(self.local, query) + self.hub
        source = None
        for entry in shown:
            if entry.source != source:
                source = entry.source
                options.add_option(Option(f"[b]{SOURCE_TITLES[source]}[/b]", disabled=True))
            options.add_option(Option(f"{escape(entry.title)}  [dim]{escape(entry.detail)}[/dim]", id=entry.reference))
        if not self.hub:
            options.add_option(Option(f"[b]{SOURCE_TITLES['hub']}[/b]", disabled=True))
            options.add_option(Option(f"[dim]{escape(self.hub_note or 'no matches')}[/dim]", disabled=True))
        for i, option in enumerate(options.options):
            if not option.disabled:
                options.highlighted = i
                break

    @on(OptionList.OptionHighlighted, "#picker-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        typed = self.query_one("#picker-search", Input).value.strip()
        if typed and os.path.isdir(os.path.expanduser(typed)):
            return  # the card follows the directory being typed
        if event.option.id:
            self.show_card(event.option.id)

    @on(OptionList.OptionSelected, "#picker-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.dismiss(event.option.id)

    @work(thread=True, exclusive=True, group="picker-card")
    def show_card(self, reference: str) -> None:
        from tui_hf.core.card import model_card
        from tui_hf.core.errors import ModelLoadError
        from tui_hf.core.hub import parse_ref, resolve

        try:
            text = render_card(model_card(resolve(parse_ref(reference), offline=self.offline)))
        except ModelLoadError as exc:
            text = f"[yellow]{escape(str(exc))}[/yellow]"
        except Exception as exc:
            text = f"[yellow]no card: {escape(str(exc))}[/yellow]"
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.query_one("#picker-card", Static).update, text)


class SaveScreen(ModalScreen[tuple[str, bool] | None]):
    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close")]

    def __init__(self, suggestion: str) -> None:
        super().__init__()
        self.suggestion = suggestion

    def compose(self) -> ComposeResult:
        with Vertical(id="save"):
            yield Label("Save the loaded model, tokenizer and config (save_pretrained, safetensors) to:")
            yield Input(self.suggestion, id="save-path")
            yield Checkbox("overwrite a directory that is not empty", False, id="save-overwrite")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save-ok", variant="primary")
                yield Button("Cancel", id="save-cancel")

    @on(Button.Pressed, "#save-ok")
    @on(Input.Submitted, "#save-path")
    def _ok(self) -> None:
        path = self.query_one("#save-path", Input).value.strip()
        if path:
            self.dismiss((path, self.query_one("#save-overwrite", Checkbox).value))

    @on(Button.Pressed, "#save-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape,q", "dismiss(False)", "No"), Binding("y", "dismiss(True)", "Yes")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(self.question)
            with Horizontal(classes="buttons"):
                yield Button("Yes  y", id="confirm-yes", variant="error")
                yield Button("No  esc", id="confirm-no", variant="primary")

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")


def help_markdown() -> str:
    tasks = "\n".join(
        f"| {spec.name} | {', '.join(spec.aliases) or ''} | {spec.text_label}"
        f"{'; ' + ', '.join(f.label for f in spec.fields) if spec.fields else ''} | {spec.summary} |"
        for spec in TASKS.values()
    )
    return f"""# tui-hf help

esc, q, ? or F1 closes this help · / filters it · ↑ ↓ page up / down scroll

## Keys
| key | action |
|---|---|
| ctrl+r | run the task on the input |
| ctrl+g | cancel the running task |
| ctrl+o | model picker: embedded, finetuned runs, cache, recent, Hub |
| ctrl+s | save the loaded model and tokenizer to a directory |
| ctrl+t | task list (opens the sidebar on small screens) |
| ctrl+b | hide or show the sidebar |
| F1, ? | this help (? where no text field has the cursor) |
| F2 … F7 | tabs: Tokens, Output, Under the hood, Compare, Training, Log (each tab shows its key) |
| j k | down / up in lists and tables (as ↓ ↑) |
| / | filter the list in focus: tasks, runs, this help (enter keeps the filter, esc clears it) |
| q, esc | close a dialog or this help (q where no text field has the cursor) |
| F8 | insert the model's mask token (fill-mask) |
| F9 | light / dark theme |
| alt+a | select all the input |
| ctrl+l | clear the input (ctrl+z brings it back) |
| ctrl+p | command palette: every action by name |
| ctrl+q | quit (training jobs keep running) |

Mouse: click tasks, tabs, buttons and token rows; scroll any pane.

## Generation you can see into (Output, F3)
Generated text is coloured by each token's probability (the scale is above the text). F3 puts the cursor in it.

| key | action |
|---|---|
| ← → ↑ ↓ home end | move the token cursor (or click a token): below, its probability, log p, rank, the top alternatives |
| 1 … 9 | choose that alternative (or click it): a new branch, continued from there with the run's settings |
| `[` `]` | previous / next branch (choosing an alternative already taken switches to its branch) |

Text generation and chat take two more settings: **Score** reads the input (or the chat so far) teacher-forced
and shows every token's log-probability and the perplexity instead of generating; **Beside** names a second
model (hub id or directory) that runs the same prompt with the same settings, shown side by side.

## Tokenizers and chat templates
| key | where | action |
|---|---|---|
| v | Tokens | split → stages → chat template (chat only): the conversation rendered through the model's template, supervised tokens underlined, warnings (doubled BOS, no generation prompt, no template) |
| r | Tokens | vocabulary strings or readable pieces |
| space | Compare table | pin the highlighted tokenizer's split (up to four side by side) |
| delete | Compare table | remove the highlighted tokenizer |

## Panes
- **Tasks / Model** (left; a drawer under 100 columns): the task decides the model head that is loaded; the
  card shows the model that is in memory and the task it serves.
- **Input**: one input per line for batch tasks; the task's settings below it. Empty number fields use the
  model's own value, shown in grey.
- **Tokens**: the input split into tokens, the token table (id, attention mask, span, special, word id),
  the decoded round trip; move in the table and the input selects the token's characters, and back.
- **Output**: the result for the task; Raw JSON; Code (the run as Python: the pipeline call and the
  explicit path), Copy and Save. **Under the hood**: the explicit PyTorch path of the last run.
- **Compare**: any number of tokenizers on the same text (hub ids or directories, comma-separated): tokens,
  characters per token, unknown tokens, vocabulary, round trip, and their splits side by side.
- **Training**: the runs list (newest first; enter shows a run) over the live view of one run; `n` opens
  the New job dialog (ctrl+s starts it), `x` the batch X-ray (the latest alert's step, or any step), `d`
  compares the run under the cursor with the one shown. Stop, Save, Eval and Early stop steer a running
  job at its next step. Jobs run in their own process and outlive the app.
  **Log**: library logs.

## Safety
Weights load from safetensors; a pickle-only checkpoint loads only after you confirm. A model's own code runs
only when the app was started with `--trust-remote-code`.

## Tasks
| task | alias | inputs | what it does |
|---|---|---|---|
{tasks}
"""


def filter_markdown(text: str, query: str) -> str:
    """The help cut to what mentions every word of `query`: matching table rows (under their table's head),
    list items and paragraphs, under their section headings; the title and the line on how to close stay."""
    if not query.strip():
        return text
    sections: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.startswith("## "):
            sections.append([])
        sections[-1].append(line)
    out = list(sections[0])  # the title and how to close
    for section in sections[1:]:
        kept: list[str] = []
        for block in _blocks(section[1:]):
            if block[0].startswith("|"):  # a table: its head, then the rows that match
                rows = [row for row in block[2:] if mentions(query, row)]
                kept += [*block[:2], *rows, ""] if rows else []
            elif block[0].startswith("- "):  # a list: the items that match, each with its continuation lines
                items: list[list[str]] = []
                for line in block:
                    if line.startswith("- ") or not items:
                        items.append([])
                    items[-1].append(line)
                found = [line for item in items if mentions(query, *item) for line in item]
                kept += [*found, ""] if found else []
            elif mentions(query, *block):
                kept += [*block, ""]
        if kept:
            out += ["", section[0], *kept]
    if len(out) == len(sections[0]):
        out += ["", f"Nothing in the help mentions {query.strip()!r}: esc clears the filter."]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


def _blocks(lines: list[str]) -> list[list[str]]:
    """Blank-line separated blocks; a table and the text around it are separate blocks."""
    blocks: list[list[str]] = []
    for line in lines:
        if not line.strip():
            blocks.append([])
        elif not blocks or not blocks[-1] or line.startswith("|") != blocks[-1][-1].startswith("|"):
            blocks.append([line])
        else:
            blocks[-1].append(line)
    return [b for b in blocks if b]


@functools.lru_cache(maxsize=8)
def _markdown_lines(source: str, width: int, console: Any) -> list[list[Segment]]:
    """The help drawn at one width, kept: F1 again (the help is measured with and without its scroll bar)
    draws nothing anew. Drawing it takes Rich tens of milliseconds per width."""
    from rich.markdown import Markdown

    return console.render_lines(Markdown(source), console.options.update_width(width))


class HelpText(Widget):
    """The help's Markdown drawn by Rich into one widget, once per width. Textual's Markdown widget builds a
    widget for every block and table cell (~150 here), and styling them took most of a second each time F1
    opened the help; a Static would draw the Markdown again for each measure and paint."""

    DEFAULT_CSS = "HelpText { height: auto; }"

    def __init__(self, source: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source

    def show(self, source: str) -> None:
        self.source = source
        self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(_markdown_lines(self.source, max(width, 1), self.app.console))

    def render_line(self, y: int) -> Strip:
        width = self.content_region.width
        lines = _markdown_lines(self.source, max(width, 1), self.app.console)
        if y >= len(lines):
            return Strip.blank(width, self.rich_style)
        return Strip(lines[y]).apply_style(self.rich_style)  # only the rows on screen: a few dozen


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q,question_mark", "dismiss(None)", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield FilterInput("help-scroll", "filter the help", id="help-filter")
            with VerticalScroll(id="help-scroll"):
                yield HelpText(help_markdown(), id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def on_key(self, event: events.Key) -> None:
        self.query_one("#help-filter", FilterInput).take(event)  # / filters

    _timer: Timer | None = None

    @on(Input.Changed, "#help-filter")
    def _filtered(self, event: Input.Changed) -> None:
        """Filtered once typing pauses: laying the help out again takes a quarter to a whole second here."""
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.2, lambda: self._show_filtered(event.value))

    async def _show_filtered(self, query: str) -> None:
        self.query_one("#help-text", HelpText).show(filter_markdown(help_markdown(), query))
