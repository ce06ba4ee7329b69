"""Words that mean what they say: the norm says which vector it measures, labels show only where a head has
them, a directory reads as one, a lone byte-level space is drawn as a space, a text longer than the model reads
says truncation is off, and a task chosen from the palette does what the sidebar does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Checkbox, Static, TextArea

from tests.conftest import wait_until
from tests.helpers import text_of
from tui_hf.core.tasks.registry import TASKS, get_task
from tui_hf.core.tokens import breakdown
from tui_hf.ui.app import make_app

SIZE, SMALL = (160, 48), (80, 24)


# -- feature extraction: which norm ----------------------------------------------------------------------


def test_the_norm_shown_beside_normalised_vectors_is_the_one_before_normalising() -> None:
    from rich.console import Console

    from tui_hf.core.tasks.embedding import Embedded, EmbeddingResult
    from tui_hf.ui.inference.render import render_embedding

    def plain(renderable: Any) -> str:
        console = Console(width=120, record=True, color_system=None, file=open("/dev/null", "w"))
        console.print(renderable)
        return console.export_text()

    item = Embedded("a text", 4, 8, 5.0532, [0.6, 0.8])
    shown = plain(render_embedding(EmbeddingResult([item], "mean", True, [[1.0]], [])))
    assert "L2-normalised" in shown and "norm 5.053 before normalising" in shown
    raw = plain(render_embedding(EmbeddingResult([item], "mean", False, [[1.0]], [])))
    assert "norm 5.053\n" in raw and "before normalising" not in raw and "L2-normalised" not in raw


async def test_feature_extraction_in_the_app_says_which_norm(app_settings: Any) -> None:
    import math

    app = make_app(app_settings(text="Hugging Face"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None, timeout=120)
        await pilot.press("ctrl+r")
        await wait_until(
            pilot,
            lambda: app.query("#output-view") and "pooled shape" in text_of(app.query_one("#output-view"), width=150),
        )
        shown = text_of(app.query_one("#output-view"), width=150)
        norm = float(shown.split("norm ")[1].split(" before normalising")[0])
        # The independent truth: the pooled vector (mean of the token vectors) before it is scaled to length 1.
        from tui_hf.core.tasks.embedding import pool

        tok, model = app.loaded.tokenizer, app.loaded.model
        import torch

        with torch.no_grad():
            hidden = model(**tok("Hugging Face", return_tensors="pt")).last_hidden_state[0]
        assert math.isclose(norm, float(pool(hidden, "mean").norm()), rel_tol=1e-3) and norm != pytest.approx(1.0)


# -- labels only where the head has them -----------------------------------------------------------------


def test_model_cards_show_labels_only_for_a_head_with_labels(
    minilm_dir: Path, tiny_bert_cls_dir: Path, tiny_gpt2_dir: Path, tmp_path: Path
) -> None:
    import json
    import shutil

    from tui_hf.core.card import model_card
    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load

    def at(path: Path) -> Any:
        return resolve(parse_ref(str(path)))

    assert model_card(at(tiny_bert_cls_dir)).labels == ["NEGATIVE", "POSITIVE"]
    assert model_card(at(minilm_dir)).labels == []
    # A language model saved by transformers 4 wrote the default id2label into its config: not a head's labels.
    lm_dir = tmp_path / "gpt2-v4-config"
    shutil.copytree(tiny_gpt2_dir, lm_dir)
    config = json.loads((lm_dir / "config.json").read_text())
    config.update(id2label={"0": "LABEL_0", "1": "LABEL_1"}, label2id={"LABEL_0": 0, "LABEL_1": 1})
    (lm_dir / "config.json").write_text(json.dumps(config))
    assert model_card(at(lm_dir)).labels == []
    # Loaded: every config has id2label (LABEL_0, LABEL_1 by default); only a classifier's head uses it.
    base = load(at(tiny_bert_cls_dir), get_task("feature-extraction"), device="cpu")
    assert type(base.model).__name__ == "BertModel" and base.info.labels == {}
    classifier = load(at(tiny_bert_cls_dir), get_task("text-classification"), device="cpu")
    assert classifier.info.labels == {0: "NEGATIVE", 1: "POSITIVE"}
    lm = load(at(tiny_gpt2_dir), get_task("text-generation"), device="cpu")
    assert lm.model.config.id2label and lm.info.labels == {}


async def test_the_sidebar_card_has_no_labels_for_a_model_without_a_classification_head(
    app_settings: Any, tiny_bert_cls_dir: Path
) -> None:
    app = make_app(app_settings(model=str(tiny_bert_cls_dir)))  # feature extraction: the bare encoder
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None, timeout=120)
        card = text_of(app.query_one("#model-card", Static))
        assert "BertModel" in card and "labels" not in card and "LABEL_0" not in card
        await app.main.switch_task(get_task("text-classification"))
        await wait_until(pilot, lambda: app.loaded.info.task == "text-classification", timeout=120)
        assert "labels NEGATIVE, POSITIVE" in text_of(app.query_one("#model-card", Static))


# -- a directory reads as one ----------------------------------------------------------------------------


async def test_the_runs_directory_reads_as_a_directory(
    app_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui_hf.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TUI_HF_RUNS", raising=False)
    assert main(["runs"]) == 0
    assert capsys.readouterr().out.strip() == "no runs in ./runs/"  # not "no runs in runs"
    app = make_app(app_settings())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        hint = app.query_one("#train-hint")
        await wait_until(pilot, lambda: "runs in" in text_of(hint, width=150))
        assert "runs in ./runs/ ·" in text_of(hint, width=150)


# -- a lone byte-level space ------------------------------------------------------------------------------


def test_a_lone_byte_level_space_is_drawn_as_the_space_it_stands_for(bpe_tokenizer: Any) -> None:
    for text in ["Hello  world", "a \n b", "end "]:
        seq = breakdown(bpe_tokenizer, [text]).sequences[0]
        pieces = seq.pieces()
        assert "Ġ" in seq.tokens  # the tokenizer has a lone space token here (its span trimmed to nothing)
        assert not [p for p in pieces if p[2] == "special"], pieces  # no marker 'Ġ' beside a gap
        assert "".join(p for p, _i, kind in pieces if kind in ("token", "gap")) == text
        lone = [i for i, t in enumerate(seq.tokens) if t == "Ġ"]
        assert all((" ", i, "token") in pieces for i in lone)


async def test_the_tokens_view_draws_no_g_for_a_space(app_settings: Any, tiny_gpt2_dir: Path) -> None:
    app = make_app(app_settings(task="text-generation", model=str(tiny_gpt2_dir), text="Hello  world"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        view = app.query_one("#tok-text")
        drawn = "".join(p.text for line in view.lines for p in line)
        assert drawn == "Hello  world" and "Ġ" not in drawn


# -- longer than the model reads ---------------------------------------------------------------------------


async def test_a_text_longer_than_the_model_reads_says_truncation_is_off(app_settings: Any) -> None:
    app = make_app(app_settings(text="word " * 600))  # the default MiniLM reads 512 tokens
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        summary = app.query_one("#tok-summary")
        assert "602 tokens" in text_of(summary, width=200)
        assert "over the 512 tokens the model reads: truncation is off" in text_of(summary, width=200)
        app.query_one("#tok-truncation", Checkbox).value = True
        await wait_until(pilot, lambda: "1 truncated" in text_of(summary, width=200))
        assert "truncation is off" not in text_of(summary, width=200)
        app.query_one("#tok-truncation", Checkbox).value = False
        app.query_one("#input-text", TextArea).text = "word " * 10  # short: nothing to say
        await wait_until(pilot, lambda: "12 tokens" in text_of(summary, width=200))
        assert "truncation is off" not in text_of(summary, width=200)


async def test_at_80x24_the_truncation_hint_is_whole_on_the_summary_row(app_settings: Any) -> None:
    app = make_app(app_settings(text="word " * 600))
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        await pilot.press("f2")
        await pilot.pause(0.2)
        summary = app.query_one("#tok-summary")
        assert summary.content_region.height == 1
        row = text_of(summary, width=summary.content_region.width).splitlines()[0]  # what the one row shows
        assert "602 tokens" in row and "over the 512 tokens the model reads: truncation is off" in row


# -- the palette does what the sidebar does ------------------------------------------------------------


async def test_a_task_from_the_palette_does_what_the_sidebar_does(app_settings: Any) -> None:
    """At 80x24 the sidebar is a drawer: choosing a task closes it and puts the cursor back in the input."""
    from textual.command import CommandPalette

    app = make_app(app_settings())
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None, timeout=120)
        await pilot.press("ctrl+t")  # the drawer opens on the task list
        assert app.query_one("#sidebar").display
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Task: Fill mask")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.task_spec.name == "fill-mask")
        await wait_until(pilot, lambda: not app.query_one("#sidebar").display)
        assert app.focused is app.query_one("#input-text")
        assert app.query_one("#tasks").highlighted == list(TASKS).index("fill-mask")
