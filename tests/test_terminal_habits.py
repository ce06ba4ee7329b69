"""Terminal habits and small terminals (issue 18, items 3-5): the first key lands on the content; q, Esc, ?, j/k
and / do what they do in lazygit, k9s and htop; every action is in the palette; 80x24 shows text whole."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.helpers import text_of
from tui_hf.cli import main
from tui_hf.ui.app import make_app
from tui_hf.ui.inference.output import OutputPane
from tui_hf.ui.inference.tokens import TokenTable


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


async def test_f2_lands_on_the_token_table_and_f3_on_the_result_whose_last_line_end_shows(
        app_settings: Any) -> None:
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
        for tab, selector in (("f3", "#output-raw"), ("f2", "#run"), ("f2", "#tok-special"),
                              ("f2", "#tok-max-length"), ("f2", "#tok-padding"), ("f2", "#field-pooling")):
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
