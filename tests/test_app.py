"""The real app, driven with the Pilot, on the embedded MiniLM and tiny random models."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, TextArea

from tests.conftest import wait_until
from tests.helpers import text_of
from tui_hf.core import hub
from tui_hf.ui.app import make_app
from tui_hf.ui.inference.compare import ComparePane
from tui_hf.ui.inference.output import OutputPane
from tui_hf.ui.inference.tokens import TokenTable, TokenTextView

SIZE = (140, 44)


async def test_typing_updates_the_breakdown(app_settings: Any) -> None:
    app = make_app(app_settings(text=""))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.tokenizer is not None)
        area = app.query_one("#input-text", TextArea)
        area.focus()
        await pilot.press(*"hello world")
        table = app.query_one(TokenTable)
        # The breakdown of the whole text, not of a prefix typed so far (on a busy machine the debounce can
        # fire between keys).
        await wait_until(pilot, lambda: app.breakdown is not None and app.breakdown.sequences[0].text == "hello world")
        assert [table.row_text(i).split()[2] for i in range(len(table.rows))] == ["[CLS]", "hello", "world", "[SEP]"]
        assert "4 tokens" in text_of(app.query_one("#tok-summary"))
        await pilot.press("s")
        await wait_until(pilot, lambda: app.breakdown.sequences[0].text == "hello worlds")
        view = app.query_one(TokenTextView)
        shown = "".join(p.text for line in view.lines for p in line)
        assert shown.startswith("[CLS]hello worlds") and shown.endswith("[SEP]")


async def test_typing_in_a_fresh_app_continues_the_sample_text(app_settings: Any) -> None:
    """The app opens with a text to tokenize; what a person types goes after it, not before its first word
    (a prompt is continued), and after Try model's text too."""
    app = make_app(app_settings(text="Hugging Face transformers\nsecond line"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.tokenizer is not None)
        area = app.query_one("#input-text", TextArea)
        area.focus()
        await pilot.press(*" rocks")
        await wait_until(pilot, lambda: app.breakdown is not None and "rocks" in app.breakdown.sequences[-1].text)
        assert area.text == "Hugging Face transformers\nsecond line rocks"
        assert [s.text for s in app.breakdown.sequences] == ["Hugging Face transformers", "second line rocks"]


async def test_batch_view_pads_and_masks(app_settings: Any) -> None:
    app = make_app(app_settings(text="short\na much longer second input line"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        bd = app.breakdown
        assert len(bd.sequences) == 2 and len(bd.sequences[0].ids) == len(bd.sequences[1].ids)
        table = app.query_one(TokenTable)
        pad_rows = [
            table.row_text(i) for i, (s, k) in enumerate(table.rows) if s == 0 and not bd.sequences[0].attention_mask[k]
        ]
        assert pad_rows and all("[PAD]" in r and " 0 " in r for r in pad_rows)
        shown = "".join(p.text for line in app.query_one(TokenTextView).lines for p in line)
        assert "[PAD]×" in shown
        assert "batch of 2" in text_of(app.query_one("#tok-summary"))
        # padding off: rows are no longer the same length
        await pilot.click("#tok-padding")
        await pilot.pause()
        app.query_one("#tok-padding").value = "do_not_pad"
        await wait_until(pilot, lambda: len(app.breakdown.sequences[0].ids) != len(app.breakdown.sequences[1].ids))


async def test_selecting_a_token_selects_its_characters_and_back(app_settings: Any) -> None:
    app = make_app(app_settings(text="Hello tokenization"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        table = app.query_one(TokenTable)
        table.focus()
        await pilot.press("down", "down")  # [CLS] -> hello -> token
        area = app.query_one("#input-text", TextArea)
        assert area.selected_text == "token"
        assert app.query_one(TokenTextView).selected == (0, 2)
        area.focus()
        await pilot.pause()
        area.move_cursor((0, 15))  # inside "ization"
        await wait_until(pilot, lambda: table.selected() == (0, 3))
        assert app.query_one(TokenTextView).selected == (0, 3)


async def test_status_bar_shows_device_model_and_params(app_settings: Any) -> None:
    app = make_app(app_settings())
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        status = text_of(app.query_one("#status-model"))
        assert status.startswith("cpu") and "all-MiniLM-L6-v2" in status
        assert "22.7M params" in status and "float32" in status


async def test_offline_hub_model_fails_fast_with_advice(app_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "_probe_result", None)
    app = make_app(app_settings())
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        model_input = app.query_one("#model", Input)
        model_input.value = "someone/not-in-cache"
        model_input.focus()
        started = time.monotonic()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.last_load_error is not None, timeout=5)
        assert time.monotonic() - started < 2.0
        shown = text_of(app.query_one("#output-view"))
        assert "not in the local Hugging Face cache" in shown and "Model box" in shown  # what to do, in app terms
        assert "load failed" in text_of(app.query_one("#status-state"))
        # The model in memory is still the embedded one, and the screen says so.
        assert "all-MiniLM-L6-v2" in text_of(app.query_one("#status-model"))
        assert "not loaded" in text_of(app.query_one("#model-card"))


async def test_sentiment_run_shows_every_label_and_the_pytorch_path(app_settings: Any, tiny_bert_cls_dir: Path) -> None:
    app = make_app(app_settings(task="sentiment-analysis", model=str(tiny_bert_cls_dir), text="I love it\nI hate it"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        await pilot.press("ctrl+r")
        out = app.query_one(OutputPane)
        await wait_until(pilot, lambda: out.result is not None)
        items = out.result.items
        assert len(items) == 2
        for item in items:
            assert {s.label for s in item.labels} == {"POSITIVE", "NEGATIVE"}
            assert sum(s.score for s in item.labels) == pytest.approx(1.0, abs=1e-5)
        shown = text_of(app.query_one("#output-view"))
        assert "POSITIVE" in shown and "NEGATIVE" in shown and "█" in shown
        await pilot.press("f4")
        await wait_until(pilot, lambda: "softmax" in text_of(app.query_one("#hood-view")))
        hood = text_of(app.query_one("#hood-view"))
        assert "attention_mask" in hood and "argmax" in hood


async def test_feature_extraction_on_the_embedded_model(app_settings: Any) -> None:
    app = make_app(app_settings(text="A man is eating food.\nA man eats a meal.\nThe stock market fell."))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        await pilot.press("ctrl+r")
        out = app.query_one(OutputPane)
        await wait_until(pilot, lambda: out.result is not None)
        assert out.result.shape == (3, 384)
        sim = out.result.similarity
        assert sim[0][1] > sim[0][2]
        shown = text_of(app.query_one("#output-view"))
        assert "(3, 384)" in shown and "cosine similarity" in shown


async def test_switching_task_loads_the_right_head_and_warns(app_settings: Any) -> None:
    app = make_app(app_settings())
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        # The input's head and fields are the first task's from the first frame on.
        assert text_of(app.query_one("#input-title")).startswith("Feature extraction feature-extraction")
        assert [w.id for w in app.query("#input-fields Select, #input-fields Checkbox")] == [
            "field-pooling",
            "field-normalize",
        ]
        app.query_one("#tasks").focus()
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: app.loaded is not None and app.loaded.info.task == "text-classification")
        assert "text-classification" in text_of(app.query_one("#input-title"))
        assert not app.query("#field-pooling")
        assert app.loaded.info.architecture == "BertForSequenceClassification"
        assert any("randomly initialised" in str(n.message) for n in app._notifications)
        assert "head not trained" in text_of(app.query_one("#model-card"))


async def test_compare_two_tokenizers(app_settings: Any, tiny_gpt2_dir: Path) -> None:
    app = make_app(app_settings(text="The quick brown fox"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.tokenizer is not None)
        await pilot.press("f5")
        app.query_one("#compare-ref", Input).value = str(tiny_gpt2_dir)
        app.query_one("#compare-ref", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: " vs " in text_of(app.query_one("#compare-summary")))
        summary = text_of(app.query_one("#compare-summary"))
        assert summary.startswith("6 vs")  # [CLS] the quick brown fox [SEP]
        b = app.query_one("#compare-b", TokenTextView)
        assert "".join(p.text for line in b.lines for p in line) == "The quick brown fox"
        assert isinstance(app.query_one(ComparePane), ComparePane)


async def test_a_very_long_line_stays_editable_and_tokenized(app_settings: Any) -> None:
    text = "tokenization " * 2000  # one 26,000-character line
    app = make_app(app_settings(text=text))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        area = app.query_one("#input-text", TextArea)
        assert area.soft_wrap is False  # soft-wrapping it would cost a frame per key
        area.focus()
        area.move_cursor((0, 0))
        await pilot.press("x")
        await wait_until(pilot, lambda: app.breakdown.sequences[0].text.startswith("xtokenization"))
        assert app.breakdown.total_tokens > 4000


async def test_a_short_input_is_tokenized_without_waiting_for_the_debounce(app_settings: Any) -> None:
    app = make_app(app_settings(text="", debounce=600.0))  # a pause in the typing that never comes in the test
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.tokenizer is not None)
        app.query_one("#input-text", TextArea).focus()
        await pilot.press(*"hi there")
        await wait_until(pilot, lambda: app.breakdown is not None and app.breakdown.sequences[0].text == "hi there")
        app.query_one("#input-text", TextArea).text = "long " * 500  # 2,500 characters: waits for the pause
        await pilot.pause(1.0)
        assert app.breakdown.sequences[0].text == "hi there"


async def test_a_typed_key_repaints_the_tokens_without_laying_out_the_screen(app_settings: Any) -> None:
    """A full layout of the main screen (about 70 widgets) was most of a key's wait: the summary and the
    round-trip notes asked for one on every key. A key now repaints them in place."""
    app = make_app(app_settings(text=""))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.tokenizer is not None)
        area = app.query_one("#input-text", TextArea)
        area.focus()
        await pilot.press(*"hello")
        await wait_until(pilot, lambda: app.breakdown is not None and app.breakdown.sequences[0].text == "hello")
        await pilot.pause(0.5)  # the model's load and the first rows settle the layout
        screen = app.screen
        layouts = 0
        relayout = screen._refresh_layout

        def counted(*args: Any, **kwargs: Any) -> None:
            nonlocal layouts
            layouts += 1
            relayout(*args, **kwargs)

        screen._refresh_layout = counted  # type: ignore[method-assign]
        # Spaces too: a trailing space makes the round trip inexact, and its notes take three rows then one.
        for key in ("space", "w", "space", "o", "space", "x"):
            await pilot.press(key)
            await pilot.pause(0.05)
        await wait_until(pilot, lambda: app.breakdown.sequences[0].text == "hello w o x")
        await pilot.pause(0.3)
        assert "6 tokens" in text_of(app.query_one("#tok-summary"))
        assert len(app.query_one(TokenTable).rows) == 6
        assert "decode(ids) → hello w o x" in text_of(app.query_one("#tok-roundtrip"))
        assert layouts <= 1, f"{layouts} layouts of the screen for 6 keys"


async def test_a_short_text_is_tokenized_before_the_key_handler_returns(app_settings: Any) -> None:
    """No thread and no message in between: the frame that follows the key already has its tokens."""
    app = make_app(app_settings(text=""))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.tokenizer is not None)
        pane = app.main.query_one("#tokens-pane")
        pane.tokenize(["hello world"])
        assert app.breakdown is not None and app.breakdown.sequences[0].text == "hello world"
        assert app.breakdown.total_tokens == 4  # [CLS] hello world [SEP]
        pane.tokenize(["long " * 500])  # 2,500 characters: a worker's job, shown when it is done
        assert app.breakdown.sequences[0].text == "hello world"
        await wait_until(pilot, lambda: app.breakdown.sequences[0].text.startswith("long long"))


def _watch_the_first_frame(app: Any) -> dict[str, Any]:
    """What the app's first full frame shows and how the screen was styled up to it, read as it is painted.

    At that moment the screen is also restyled as a whole, as Textual's first ScreenResume would have done:
    `changed` names the widgets whose rules that would change (it must change nothing)."""
    import gc

    from textual._compositor import LayoutUpdate

    seen: dict[str, Any] = {"restyled": []}
    update_styles, display = app.update_styles, app._display

    def counted(node: Any, animate: bool = True) -> None:
        if "text" not in seen:
            seen["restyled"].append((type(node).__name__, len(list(node.walk_children(with_self=True)))))
        update_styles(node, animate)

    def rules(widgets: list[Any]) -> list[str]:
        return [str(sorted(w.styles.get_rules().items())) for w in widgets]

    def first(screen: Any, renderable: Any) -> None:
        if "text" not in seen and isinstance(renderable, LayoutUpdate):
            seen["collector"] = gc.isenabled()
            seen["text"] = "\n".join("".join(s.text for strip in line for s in strip) for line in renderable.strips)
            widgets = list(screen.walk_children(with_self=True))
            seen["widgets"] = {type(w).__name__ for w in widgets}
            before = rules(widgets)
            app.stylesheet.update_nodes(widgets, animate=False)
            seen["changed"] = [repr(w) for w, a, b in zip(widgets, before, rules(widgets)) if a != b]
        display(screen, renderable)

    app.update_styles, app._display = counted, first
    return seen


@pytest.mark.parametrize("size", [(160, 48), (80, 24)])
async def test_the_first_frame_is_the_whole_first_screen_styled_once(
    app_settings: Any, tmp_path: Path, size: tuple[int, int]
) -> None:
    """bench/startup.py times the first frame: it holds the input's text and the tab bar, every widget styled
    as a full restyle would style it, and no restyle of the whole screen went before it (~15 ms)."""
    app = make_app(app_settings(model=str(tmp_path / "no-model")))
    seen = _watch_the_first_frame(app)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: "text" in seen)
    assert "tokenized live as you type" in seen["text"] and "F7 Log" in seen["text"]
    assert seen["changed"] == []
    screen_restyles = [n for name, n in seen["restyled"] if name == "MainScreen" and n > 1]
    assert screen_restyles == [], f"the screen and its {screen_restyles} widgets were restyled before the first frame"


async def test_the_output_pane_mounts_after_the_first_frame_and_shows_a_failed_load(
    app_settings: Any, tmp_path: Path
) -> None:
    """The Output tab's pane (hidden at start) costs the first frame nothing; it is there for the first message."""
    missing = tmp_path / "no-model"
    app = make_app(app_settings(model=str(missing)))
    seen = _watch_the_first_frame(app)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.last_load_error is not None)
        await pilot.pause()
        assert "OutputPane" not in seen["widgets"] and "InputPane" in seen["widgets"]
        assert "Could not load" in text_of(app.query_one("#output-view")) and "no-model" in text_of(
            app.query_one("#output-view")
        )
        await pilot.press("f3")
        assert app.query_one("#tabs").active == "output"


async def test_the_cycle_collector_stays_off_until_the_first_frame_and_is_on_after_it(
    app_settings: Any, tmp_path: Path
) -> None:
    """tui-hf starts with Python's garbage collector off (cli's launch_app, test_cli); the app turns it back on
    once its first frame is painted, before the model's load fills memory."""
    import gc

    app = make_app(app_settings(model=str(tmp_path / "no-model")))
    seen = _watch_the_first_frame(app)
    gc.disable()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "text" in seen)
            await pilot.pause()
            after = gc.isenabled()
    finally:
        gc.enable()
    assert (seen["collector"], after) == (False, True)
