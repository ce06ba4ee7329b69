"""Terminal habits and small terminals (issue 18, items 3-5): the first key lands on the content; q, Esc, ?, j/k
and / do what they do in lazygit, k9s and htop; every action is in the palette; 80x24 shows text whole."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.command import CommandPalette
from textual.widgets import DataTable, Input, TextArea

from tests.conftest import wait_until
from tests.helpers import text_of
from tui_hf.cli import main
from tui_hf.core.tasks.registry import TASKS, get_task
from tui_hf.ui.app import make_app
from tui_hf.ui.inference.output import OutputPane
from tui_hf.ui.inference.tasks import TaskList
from tui_hf.ui.inference.tokens import TokenTable
from tui_hf.ui.screens import HelpScreen, HelpText, ModelPicker, SaveScreen, filter_markdown
from tui_hf.ui.training.attach import AttachApp
from tui_hf.ui.training.cockpit import XrayScreen
from tui_hf.ui.training.job_form import NewJobScreen
from tui_hf.ui.training.run_view import TrainingView
from tui_hf.ui.widgets.cells import elide_middle
from tui_hf.ui.widgets.status import StatusBar


def make_run(path: Path, status: str = "finished", steps: int = 4) -> None:
    from tui_hf.core.training.events import EventWriter

    path.mkdir(parents=True)
    (path / "spec.json").write_text("{}")
    writer = EventWriter(path)
    writer.start(engine="native", model="tiny", total_steps=steps, epochs=1, labels=["neg", "pos"], batch_size=8)
    for step in range(1, steps + 1):
        writer.train(step=step, epoch=step / steps, loss=1.0 / step, learning_rate=1e-3)
    writer.status(status, message="")


def test_runs_lists_the_newest_first_as_the_app_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    made = ["20251201-000000-a", "20260101-000000-b", "20260102-000000-c"]
    for k, name in enumerate(made):
        make_run(runs / name)
        os.utime(runs / name / "spec.json", (1e9 + k, 1e9 + k))  # made in this order
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    lines = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert lines == list(reversed(made))


# -- the first key lands on the content --------------------------------------------------------------------

WIDE, SMALL = (200, 50), (80, 24)


def screen_lines(app: Any) -> list[str]:
    """The text of every row of the screen as the terminal gets it."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def test_f2_lands_on_the_token_table_and_f3_on_the_result_whose_last_line_end_shows(app_settings: Any) -> None:
    texts = [f"Sentence number {k} about tokenizers." for k in range(1, 9)]
    app = make_app(app_settings(text="\n".join(texts)))
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None and app.breakdown is not None)
        await pilot.press("f2")
        assert app.focused is app.query_one(TokenTable)
        await pilot.press("down", "down")  # the arrows move in the table at once: [CLS] -> sentence -> number
        assert app.query_one(TokenTable).selected() == (0, 2)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.query_one(OutputPane).result is not None)
        await pilot.press("f3")
        scroll = app.query_one("#output-scroll")
        assert app.focused is scroll
        # 8 inputs and an 8x8 similarity table: more lines than the pane has rows at 80x24.
        view = app.query_one("#output-view")
        shown = [line.rstrip() for line in text_of(view, width=view.size.width).splitlines() if line.strip()]
        last = shown[-1].strip()
        assert last.split()[0] == "8" and last.split()[-1] == "1.000"  # the similarity row of input 8 with itself
        assert not any(last in line for line in screen_lines(app))
        await pilot.press("end")
        await pilot.pause()
        rows = screen_lines(app)
        status_row = app.query_one("#status").region.y
        assert any(last in line for line in rows[:status_row])


def luminance(colour: Any) -> float:
    """WCAG relative luminance of a Rich colour."""

    def channel(c: int) -> float:
        c_ = c / 255
        return c_ / 12.92 if c_ <= 0.03928 else ((c_ + 0.055) / 1.055) ** 2.4

    r, g, b = colour.get_truecolor()
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def shown_background(style: Any) -> Any:
    """The colour a cell's background shows (reverse video swaps it with the text's)."""
    return style.color if style.reverse else style.bgcolor


def contrast(a: Any, b: Any) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


async def test_a_focused_button_or_field_is_plainly_visible(app_settings: Any) -> None:
    """Textual's own focus is one shade lighter (#1e1e1e to #272727, a contrast of 1.1): plainly visible is
    at least 1.8 between the focused and the unfocused look of the same cell."""
    app = make_app(app_settings(text="hello"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None and app.breakdown is not None)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.query_one(OutputPane).result is not None)
        for tab, selector in (
            ("f3", "#output-raw"),
            ("f2", "#run"),
            ("f2", "#tok-special"),
            ("f2", "#tok-max-length"),
            ("f2", "#tok-padding"),
            ("f2", "#field-pooling"),
        ):
            await pilot.press(tab)
            widget = app.query_one(selector)
            app.query_one("#input-text").focus()
            await pilot.pause()
            region = widget.region
            x, y = region.x + region.width // 2, region.y + region.height // 2
            before = app.screen.get_style_at(x, y)
            widget.focus()
            await pilot.pause()
            after = app.screen.get_style_at(x, y)
            assert contrast(shown_background(before), shown_background(after)) >= 1.8, (selector, before, after)


# -- terminal habits: q, Esc, ?, j/k, / and the palette ----------------------------------------------------


async def test_q_esc_and_question_mark_open_and_close_help_and_dialogs(app_settings: Any) -> None:
    app = make_app(app_settings(text="hello"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None and app.breakdown is not None)
        area = app.query_one("#input-text", TextArea)
        area.focus()
        await pilot.press("end", "question_mark")  # typed: the input has the cursor
        assert area.text == "hello?" and not isinstance(app.screen, HelpScreen)
        await pilot.press("f2", "question_mark")  # on the token table: help
        assert isinstance(app.screen, HelpScreen)
        first = app.screen.query_one("#help-text", HelpText).source.splitlines()[2]
        assert "esc, q, ? or F1 closes" in first  # help says how to close it
        await pilot.press("q")
        assert not isinstance(app.screen, HelpScreen)
        for opener, closer in (("f1", "escape"), ("question_mark", "question_mark"), ("f1", "f1")):
            await pilot.press(opener)
            assert isinstance(app.screen, HelpScreen), opener
            await pilot.press(closer)
            assert not isinstance(app.screen, HelpScreen), closer
        # A dialog: q in its text field is a q; elsewhere q closes it, as Esc does.
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveScreen))
        path = app.screen.query_one("#save-path", Input)
        path.focus()
        before = path.value
        await pilot.press("end", "q")
        assert isinstance(app.screen, SaveScreen) and path.value == before + "q"
        app.screen.query_one("#save-cancel").focus()
        await pilot.press("q")
        assert not isinstance(app.screen, SaveScreen)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelPicker))
        await pilot.press("escape")
        assert not isinstance(app.screen, ModelPicker)


async def test_j_k_move_and_slash_filters_the_task_list(app_settings: Any) -> None:
    app = make_app(app_settings(text="hello"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        await pilot.press("f2", "j", "j")  # the token table: [CLS] -> hello -> [SEP]
        assert app.query_one(TokenTable).selected() == (0, 2)
        await pilot.press("k")
        assert app.query_one(TokenTable).selected() == (0, 1)
        await pilot.press("ctrl+t")
        tasks = app.query_one("#tasks", TaskList)
        assert app.focused is tasks and tasks.highlighted_option.id == "feature-extraction"
        await pilot.press("j", "j")
        assert tasks.highlighted_option.id == list(TASKS)[2]
        await pilot.press("k")
        assert tasks.highlighted_option.id == list(TASKS)[1]
        await pilot.press("slash")
        box = app.query_one("#tasks-filter", Input)
        assert app.focused is box and box.display
        await pilot.press(*"mask")
        await pilot.pause()
        assert [o.id for o in tasks.options] == ["fill-mask"]
        await pilot.press("enter")  # back to the list, the filter kept in sight
        assert app.focused is tasks and tasks.highlighted_option.id == "fill-mask" and box.display
        await pilot.press("slash", "escape")  # esc clears it
        await pilot.pause()
        assert len(tasks.options) == len(TASKS) and app.focused is tasks and not box.display
        await pilot.press("slash", *"sentiment-analysis")
        await pilot.pause()
        assert [o.id for o in tasks.options] == ["text-classification"]  # by alias too
        tasks.show_task("feature-extraction")  # a task chosen elsewhere (palette, Try model) clears a filter
        await pilot.pause()
        assert tasks.highlighted_option.id == "feature-extraction" and len(tasks.options) == len(TASKS)


async def test_slash_filters_the_help(app_settings: Any) -> None:
    app = make_app(app_settings(text="hello"))
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        help_text = app.screen.query_one("#help-text", HelpText)
        await pilot.press("slash", *"branch")
        await wait_until(pilot, lambda: "ctrl+r" not in help_text.source)
        shown = help_text.source
        assert "| `[` `]` | previous / next branch" in shown and "| key | action |" in shown
        await pilot.pause()
        drawn = "\n".join(help_text.render_line(y).text for y in range(help_text.size.height))
        assert "previous / next branch" in drawn and "ctrl+r" not in drawn  # on screen, as a table row
        assert len(app.screen.query("*")) < 12  # one widget for the whole help: F1 opens in a frame or two
        assert "## Generation you can see into" in shown and "## Safety" not in shown
        await pilot.press("escape")  # clears the filter; a second esc closes the help
        await wait_until(pilot, lambda: "ctrl+r" in help_text.source)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


def test_the_help_filter_keeps_matching_rows_items_and_paragraphs_under_their_headings() -> None:
    text = (
        "# title\n\nhow to close\n\n## Keys\n| key | action |\n|---|---|\n| a | apple pie |\n| b | banana |\n\n"
        "Mouse: click apples.\n\n## Panes\n- **One**: first\n  apple continued\n- **Two**: pear\n\n"
        "## Other\nnothing here"
    )
    assert filter_markdown(text, "apple").splitlines() == [
        "# title",
        "",
        "how to close",
        "",
        "## Keys",
        "| key | action |",
        "|---|---|",
        "| a | apple pie |",
        "",
        "Mouse: click apples.",
        "",
        "## Panes",
        "- **One**: first",
        "  apple continued",
    ]
    assert filter_markdown(text, "") == text
    assert "Nothing in the help mentions 'kiwi'" in filter_markdown(text, "kiwi")


def three_runs(runs: Path) -> list[str]:
    made = [
        ("20251201-000000-tiny-native", "finished"),
        ("20260101-000000-tiny-trainer", "stopped"),
        ("20260102-000000-tiny-native", "finished"),
    ]
    for k, (name, status) in enumerate(made):
        make_run(runs / name, status)
        os.utime(runs / name / "spec.json", (1e9 + k, 1e9 + k))  # made in this order
    return [name for name, _ in made]


async def test_j_k_move_and_slash_filters_the_runs_list(app_settings: Any, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    made = three_runs(runs)
    app = make_app(app_settings(runs_dir=runs))
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("f6")
        table = app.query_one("#train-runs", DataTable)
        await wait_until(pilot, lambda: table.row_count == 3)
        assert app.focused is table and table.cursor_row == 0
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("slash", *"stopped")
        await wait_until(pilot, lambda: table.row_count == 1)
        assert str(table.get_row_at(0)[0]) == made[1]
        await pilot.press("enter")  # back to the list: enter there shows the run
        assert app.focused is table
        await pilot.press("slash", *"native")  # / again starts a new filter
        await wait_until(pilot, lambda: table.row_count == 2)
        assert [str(table.get_row_at(i)[0]) for i in range(2)] == [made[2], made[0]]
        await pilot.press("slash", *"kiwi")
        await wait_until(pilot, lambda: "no run matches" in str(table.get_row_at(0)[0]))
        await pilot.press("escape")
        await wait_until(pilot, lambda: table.row_count == 3)
        assert [str(table.get_row_at(i)[0]) for i in range(3)] == list(reversed(made))


async def test_the_palette_lists_the_training_actions(app_settings: Any, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    made = three_runs(runs)
    app = make_app(app_settings(runs_dir=runs))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("f6")
        view = app.query_one("#train-view")
        await wait_until(
            pilot, lambda: view.follower is not None and "finished" in text_of(app.query_one("#run-header"))
        )
        for query, wanted in (
            ("job", "Training: New job"),
            ("x-ray", "Training: X-ray a step"),
            ("compare", "Training: Compare runs"),
            ("stop", "Training: Stop run"),
            ("save", "Training: Save checkpoint now"),
            ("evaluate", "Training: Evaluate now"),
            ("early", "Training: Early stop"),
            ("export", "Training: Export metrics CSV"),
        ):
            await pilot.press("ctrl+p")
            await pilot.press(*query)
            await wait_until(
                pilot, lambda w=wanted: any(w in str(o.prompt) for o in app.screen.query_one("CommandList").options)
            )
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, CommandPalette))
        # Chosen, a command does what its key does: CSV export writes the run's metrics.
        await pilot.press("ctrl+p", *"export metrics")
        await wait_until(
            pilot,
            lambda: any("Export metrics CSV" in str(o.prompt) for o in app.screen.query_one("CommandList").options),
        )
        await pilot.press("enter")
        await wait_until(pilot, lambda: (runs / made[-1] / "metrics.csv").is_file())
        await pilot.press("ctrl+p", *"new job")
        await wait_until(
            pilot, lambda: any("New job" in str(o.prompt) for o in app.screen.query_one("CommandList").options)
        )
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, NewJobScreen))
        await pilot.press("escape")
        # Stop on a finished run: one line says why nothing happened.
        await pilot.press("ctrl+p", *"stop run")
        await wait_until(
            pilot, lambda: any("Stop run" in str(o.prompt) for o in app.screen.query_one("CommandList").options)
        )
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: any("Stop: not available, the run shown is finished" in n.message for n in app._notifications),
        )


@pytest.mark.parametrize("key", ["q", "escape"])
async def test_q_and_esc_quit_attach_and_its_footer_says_so(tmp_path: Path, key: str) -> None:
    run = tmp_path / "runs" / "20260102-000000-tiny-native"
    make_run(run)
    app = AttachApp(run)
    async with app.run_test(size=SMALL) as pilot:
        view = app.query_one(TrainingView)
        await wait_until(pilot, lambda: view.follower is not None and view.follower.state.step == 4)
        await wait_until(pilot, lambda: any(k.description == "Quit" for k in app.screen.query("FooterKey")))
        quit_key = next(k for k in app.screen.query("FooterKey") if k.description == "Quit")
        assert app.screen.region.contains_region(quit_key.region)  # shown at 80 columns
        assert app.return_code is None
        await pilot.press(key)
        await pilot.pause()
        assert app.return_code == 0


# -- 80x24 without cut text --------------------------------------------------------------------------------


def on_screen(app: Any, text: str) -> bool:
    """`text` whole on one row of the screen."""
    return any(text in line for line in screen_lines(app))


async def test_the_status_bar_drops_whole_fields_rather_than_cutting_one(app_settings: Any) -> None:
    for size in (SMALL, WIDE):
        app = make_app(app_settings(text="hello"))
        async with app.run_test(size=size) as pilot:
            await wait_until(pilot, lambda a=app: a.loaded is not None)
            await pilot.pause()
            info = app.loaded.info
            fields = [
                info.device,
                info.title,
                info.task,
                info.architecture,
                f"{info.parameters_text} params",
                info.dtype,
            ]
            row = screen_lines(app)[app.query_one("#status").region.y]
            assert row.rstrip().endswith("ready"), row
            shown = row.rsplit("ready", 1)[0].strip().split(" · ")
            assert shown[:2] == fields[:2] and all(f in fields for f in shown), (size, row)
            if size == WIDE:
                assert shown == fields


async def test_a_long_state_is_cut_and_the_model_stays_named(app_settings: Any) -> None:
    # A load reports "resolving <reference>", and a local path can be longer than the terminal is wide.
    app = make_app(app_settings(text="hello"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        app.query_one(StatusBar).progress("resolving /home/someone/models/" + "a-very-long-folder-name/" * 4, 0.5)
        await pilot.pause()
        model = app.query_one("#status-model")
        assert model.region.height == 1 and model.region.width >= 12
        row = screen_lines(app)[app.query_one("#status").region.y]
        assert app.loaded.info.device in row and "resolving /home" in row, row


async def test_under_the_hood_wraps_code_whole_at_80_columns(app_settings: Any) -> None:
    app = make_app(app_settings(text="Hugging Face transformers, tokenized live as you type!"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.query_one(OutputPane).result is not None)
        await pilot.press("f4")
        view = app.query_one("#hood-view")
        await wait_until(pilot, lambda: "by hand" in text_of(view))
        shown = " ".join(text_of(view, width=view.content_region.width).split())
        steps = app.query_one(OutputPane).result.explanation.steps
        assert any(len(step.code) > view.content_region.width for step in steps)  # a line longer than the pane
        for step in steps:
            assert " ".join(step.code.split()) in shown, step.code


async def test_the_compare_round_trip_column_names_the_reason_whole(app_settings: Any) -> None:
    app = make_app(app_settings(text="Hugging Face"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.tokenizer is not None)
        await pilot.press("f5")
        table = app.query_one("#compare-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1)
        # The embedded MiniLM lower-cases: decoding cannot give "Hugging Face" back.
        assert str(table.get_row_at(0)[-1]) == "≈ normalization"
        # The table lays its columns out on a later refresh: a busy machine needs more than one pause.
        await wait_until(pilot, lambda: on_screen(app, "≈ normalization"))


async def test_the_untrained_head_notice_shows_the_model_to_try_whole(app_settings: Any) -> None:
    app = make_app(app_settings(text="hello"))
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        await app.main.switch_task(get_task("text-classification"))
        await wait_until(pilot, lambda: len(app.screen.query("Toast")) > 0, timeout=60)
        await pilot.pause(0.3)
        suggested = get_task("text-classification").default_model
        assert "randomly initialised" in " ".join(screen_lines(app))
        assert on_screen(app, suggested)


async def test_the_training_view_is_whole_at_80_columns(app_settings: Any, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    name = "20260102-101010-distilbert-base-uncased-finetuned-native"
    run = runs / name
    from tui_hf.core.training.events import EventWriter

    run.mkdir(parents=True)
    (run / "spec.json").write_text("{}")
    writer = EventWriter(run)
    writer.start(
        engine="native",
        model="distilbert/distilbert-base-uncased-finetuned-sst-2-english",
        total_steps=5000,
        epochs=3,
        labels=["negative", "positive"],
        batch_size=8,
    )
    writer.status("running", step=0, total_steps=5000)
    for step in range(1, 1235):
        writer.train(step=step, epoch=step / 1700, loss=1.0 / step, learning_rate=1e-3)
    writer.eval(step=1234, epoch=0.73, metrics={"eval_loss": 0.5, "eval_accuracy": 0.75})
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    events[0]["time"] -= 4000  # started an hour ago: "elapsed 1:06:40" makes the ETA line longer than its room
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    # "running" with no process behind it: the view says the run died
    app = make_app(app_settings(runs_dir=runs))
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("f6")
        header = app.query_one("#run-header")
        await wait_until(pilot, lambda: "died" in text_of(header))
        await pilot.pause(0.6)  # a poll after the first layout: the ETA line fits the width
        for whole in (
            name,
            "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
            "Resume continues from its last checkpoint",
            "step 1234/5000",
            "ETA -",
            "enter watches a run",
            "accuracy 0.750",
            "best",
        ):
            assert on_screen(app, whole), whole
        table = app.query_one("#train-runs", DataTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width
        shown = str(table.get_row_at(0)[0])
        assert "…" in shown and shown.startswith("20260102-101010-") and shown.endswith("-native")


# -- the same in a real terminal ---------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def app_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TUI_HF_RUNS", "PYTEST_CURRENT_TEST", "TMUX")}
    env.update(
        HF_HUB_OFFLINE="1",
        TERM="xterm-256color",
        XDG_STATE_HOME=str(tmp_path / "state"),
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    return env


def run_in_pty(
    argv: list[str], env: dict[str, str], expect: str, keys: bytes, size: tuple[int, int] = SMALL, timeout: float = 120
) -> tuple[int, str]:
    """Run a full-screen command in a pseudo-terminal of `size`; once `expect` shows, type `keys`; its exit
    status and what it drew (as tests/test_readme.py runs README's full-screen commands)."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, on the terminal
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    screen, sent, status = b"", False, None
    deadline = time.monotonic() + timeout
    try:
        while status is None:
            assert time.monotonic() < deadline, f"{argv}: no exit within {timeout:.0f} s:\n{screen[-3000:]!r}"
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    screen += os.read(fd, 65536)
                except OSError:  # the terminal closed: the command is exiting
                    pass
            text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]", b"", screen)
            if not sent and expect.encode() in text:
                os.write(fd, keys)
                sent = True
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert sent, f"{argv} exited ({status}) before showing {expect!r}"
    return status, screen.decode(errors="replace")


@pytest.mark.parametrize("key", [b"q", b"\x1b"])
def test_q_and_esc_quit_attach_in_a_real_terminal(tmp_path: Path, key: bytes) -> None:
    run = tmp_path / "runs" / "20260102-000000-tiny-native"
    make_run(run)
    started = time.monotonic()
    code, _screen = run_in_pty(
        [sys.executable, "-m", "tui_hf", "attach", str(run)], app_env(tmp_path), expect="Quit", keys=key, timeout=60
    )
    assert code == 0 and time.monotonic() - started < 60


class Tmux:
    """A terminal of a given size in tmux (its own server): keys in, the screen as text out."""

    def __init__(self, tmp_path: Path, size: tuple[int, int], argv: list[str], env: dict[str, str]) -> None:
        self.base = ["tmux", "-S", str(tmp_path / "tmux.sock")]
        command = "env " + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()) + " " + shlex.join(argv)
        subprocess.run(
            [*self.base, "new-session", "-d", "-x", str(size[0]), "-y", str(size[1]), command], check=True, env=env
        )

    def screen(self) -> list[str]:
        out = subprocess.run([*self.base, "capture-pane", "-p"], capture_output=True, text=True, check=True)
        return out.stdout.splitlines()

    def type(self, text: str) -> None:
        subprocess.run([*self.base, "send-keys", "-l", text], check=True)

    def press(self, *keys: str) -> None:
        for key in keys:
            subprocess.run([*self.base, "send-keys", key], check=True)
            time.sleep(0.15)

    def wait_for(self, text: str, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.screen()
            if any(text in row for row in rows):
                return rows
            assert time.monotonic() < deadline, f"{text!r} not on screen:\n" + "\n".join(rows)
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_every_pane_at_80x24_in_a_real_terminal(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    name = "20260102-101010-distilbert-base-uncased-finetuned-native"
    make_run(runs / name, status="running")  # no process behind it: the view says it died
    env = app_env(tmp_path) | {"TUI_HF_RUNS": str(runs)}
    term = Tmux(tmp_path, SMALL, [sys.executable, "-m", "tui_hf"], env)
    try:
        rows = term.wait_for("ready", timeout=120)
        # Whole fields only: the architecture, parameters and dtype make way, none is cut to "feature-extr…" or
        # left with a dangling separator.
        assert re.fullmatch(r" \S+ · all-MiniLM-L6-v2 \(embedded\) · feature-extraction +ready *", rows[-2]), rows[-2]
        term.press("F2", "?")  # the token table has the keys, not the input: ? opens the help
        term.wait_for("esc, q, ? or F1 closes this help")
        term.type("/branch")  # at once, as a typist's keys arrive: none is lost to the filter opening
        rows = term.wait_for("previous / next branch")
        assert any(re.search(r"█ branch +█", row) for row in rows), rows[:5]  # the filter as typed
        assert not any("run the task on the input" in row for row in rows)
        term.press("Escape", "q")
        rows = term.wait_for("F2 Tokens")
        assert not any("esc, q, ? or F1 closes" in row for row in rows)
        term.press("C-r")
        term.wait_for("done in")
        term.press("F4")
        rows = term.wait_for("by hand")
        hood = " ".join(" ".join(rows).split())
        assert 'return_tensors="pt") # one text at a' in hood  # wrapped, not cut at the edge
        term.press("F5")
        term.wait_for("≈ normalization")
        term.press("F6")
        rows = term.wait_for("Resume continues from its last checkpoint")
        assert any(name in row for row in rows) and any("died" in row for row in rows)
    finally:
        term.close()


async def test_the_xray_opens_on_the_batch_so_q_closes_it(app_settings: Any, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "20260102-000000-tiny-native"
    make_run(run)
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=SMALL) as pilot:
        app.push_screen(XrayScreen(run, 3, []))
        await wait_until(pilot, lambda: isinstance(app.screen, XrayScreen) and app.screen.query("#xray-scroll"))
        await pilot.pause()
        assert app.focused is app.screen.query_one("#xray-scroll")
        await pilot.press("q")
        assert not isinstance(app.screen, XrayScreen)


def test_a_long_run_name_keeps_its_date_stamp_and_engine_when_shortened() -> None:
    name = "20261205-091416-distilbert-base-uncased-finetuned-native"
    short = elide_middle(name, 28)
    assert len(short) == 28 and short.startswith("20261205-091416-") and short.endswith("-native") and "…" in short
    assert elide_middle("20261205-091416-tiny-native", 28) == "20261205-091416-tiny-native"


async def test_keys_typed_right_after_slash_go_to_the_filter(app_settings: Any) -> None:
    """Keys read together (a fast typist, a busy machine, a paste) reach the list before `/` has moved the
    focus: the filter gets them all the same."""
    app = make_app(app_settings(text="hello"))
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        for key, char in (("slash", "/"), ("b", "b"), ("r", "r"), ("q", "q")):  # q too: it would close the help
            app.post_message(events.Key(key, char))
        await wait_until(pilot, lambda: app.screen.query_one("#help-filter", Input).value == "brq")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "escape", "ctrl+t")
        for key, char in (("slash", "/"), ("m", "m"), ("a", "a")):
            app.post_message(events.Key(key, char))
        await wait_until(pilot, lambda: app.query_one("#tasks-filter", Input).value == "ma")


async def test_the_round_trip_of_every_input_shows_at_80x24(app_settings: Any) -> None:
    app = make_app(
        app_settings(
            text="Hugging Face transformers, tokenized live as you type!\nI've been waiting for a course like this."
        )
    )
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        await pilot.pause()
        # Two rows at 80x24: a line per input, the reason's head first (MiniLM lower-cases), the text clipped.
        for k in (1, 2):
            assert on_screen(app, f"≈ {k}: normalization · decode(ids) → "), k
        assert on_screen(app, "i ' ve been waiting for a")


async def test_the_picker_says_how_to_close_and_the_runs_hint_stays_whole_beside_the_drawer(
    app_settings: Any, tmp_path: Path
) -> None:
    three_runs(tmp_path / "runs")
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelPicker))
        await pilot.pause()
        assert on_screen(app, "esc closes")
        await pilot.press("escape", "f6")
        await wait_until(pilot, lambda: on_screen(app, "jobs keep running when the app closes"))
        await pilot.press("ctrl+t")  # the drawer takes 24 columns from the pane
        await wait_until(pilot, lambda: not on_screen(app, "jobs keep running when the app closes"))
        await pilot.pause(0.3)
        rows = screen_lines(app)
        assert on_screen(app, "enter watches a run") and not any("jobs keep" in row for row in rows)
