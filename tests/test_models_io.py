"""Models in and out: save/load round trip, overwrite refusal, pickle confirmation, the picker, help, palette."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.widgets import Input, OptionList

from tests.conftest import wait_until
from tests.helpers import text_of
from tests.test_models import assert_neutral
from tui_hf.core.errors import TargetNotEmptyError
from tui_hf.core.hub import parse_ref, resolve
from tui_hf.core.models import load, save
from tui_hf.core.tasks import get_task
from tui_hf.ui.app import make_app
from tui_hf.ui.screens import ConfirmScreen, HelpScreen, ModelPicker

SIZE = (140, 44)


def test_save_then_load_gives_identical_outputs(tiny_bert_cls_dir: Path, tmp_path: Path) -> None:
    task = get_task("sentiment-analysis")
    texts = ["I love it", "I hate it"]
    first = load(resolve(parse_ref(str(tiny_bert_cls_dir))), task, "cpu")
    before = task.load_runner()(first, texts)
    out = save(first, tmp_path / "saved")
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()
    again = load(resolve(parse_ref(str(out))), task, "cpu")
    after = task.load_runner()(again, texts)
    assert [[(s.label, s.score) for s in i.labels] for i in before.items] == [
        [(s.label, s.score) for s in i.labels] for i in after.items
    ]


def test_saving_into_a_non_empty_directory_is_refused(tiny_bert_cls_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    loaded = load(resolve(parse_ref(str(tiny_bert_cls_dir))), get_task("sentiment-analysis"), "cpu")
    with pytest.raises(TargetNotEmptyError, match="not empty") as info:
        save(loaded, tmp_path)
    assert_neutral(str(info.value))  # "--overwrite" is the CLI's hint (test_cli), the UI has its own
    assert not (tmp_path / "config.json").exists()
    save(loaded, tmp_path, overwrite=True)
    assert (tmp_path / "keep.txt").read_text() == "precious" and (tmp_path / "config.json").exists()


@pytest.fixture
def pickle_model_dir(tmp_path: Path, tiny_bert_cls_dir: Path) -> Path:
    import torch
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "weights"
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_cls_dir)
    model.config.save_pretrained(out)
    torch.save(model.state_dict(), out / "pytorch_model.bin")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_bert_cls_dir / name, out / name)
    return out


async def test_a_pickle_checkpoint_loads_only_after_confirmation(app_settings: Any, pickle_model_dir: Path) -> None:
    app = make_app(app_settings(task="sentiment-analysis", model=str(pickle_model_dir)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and bool(app.screen.query("Static")))
        assert "pickle" in text_of(app.screen.query_one("Static"))
        assert app.loaded is None
        await pilot.press("escape")  # no
        await wait_until(pilot, lambda: app.last_load_error is not None)
        assert app.loaded is None and "pickle" in app.last_load_error
        app.query_one("#model", Input).value = str(pickle_model_dir)
        app.query_one("#model", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and bool(app.screen.query("Button")))
        await pilot.press("y")  # yes
        await wait_until(pilot, lambda: app.loaded is not None)
        assert app.loaded.info.architecture == "BertForSequenceClassification"


@pytest.fixture
def fake_hf_cache(tmp_path: Path, tiny_bert_cls_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hugging Face cache holding acme/tiny-sentiment, laid out as the hub client lays it out."""
    import huggingface_hub.constants as constants

    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny-sentiment"
    snapshot = repo / "snapshots" / "0123456789abcdef"
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for i, f in enumerate(sorted(p for p in tiny_bert_cls_dir.iterdir() if p.is_file())):
        blob = repo / "blobs" / f"blob{i}"
        shutil.copy(f, blob)
        (snapshot / f.name).symlink_to(Path("../../blobs") / blob.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123456789abcdef")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


async def test_picker_lists_runs_and_cache_says_hub_is_offline_and_loads(
    app_settings: Any, tiny_bert_cls_dir: Path, tmp_path: Path, fake_hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    runs = tmp_path / "runs"
    shutil.copytree(tiny_bert_cls_dir, runs / "exp-1" / "final")
    app = make_app(app_settings(task="sentiment-analysis", runs_dir=runs))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelPicker))
        picker = app.screen
        options = picker.query_one("#picker-list", OptionList)
        prompts = lambda: [str(o.prompt) for o in options.options]  # noqa: E731
        await wait_until(
            pilot, lambda: any("offline" in p for p in prompts()) and any("acme/tiny-sentiment" in p for p in prompts())
        )
        listed = "\n".join(prompts())
        assert "exp-1/final" in listed and "Finetuned runs" in listed and "Hugging Face cache" in listed
        await pilot.press(*"exp-1")
        await wait_until(pilot, lambda: "exp-1/final" in str(options.highlighted_option.prompt))
        await wait_until(pilot, lambda: "trained head" in text_of(picker.query_one("#picker-card")))
        card = text_of(picker.query_one("#picker-card"))
        assert "safetensors" in card and "NEGATIVE, POSITIVE" in card and "BertForSequenceClassification" in card
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.loaded is not None and "exp-1" in app.loaded.info.source)


async def test_help_and_command_palette_open(app_settings: Any) -> None:
    app = make_app(app_settings())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Show Training")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.query_one("#tabs").active == "training")
        await pilot.press("f9")
        assert not app.current_theme.dark


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
async def test_layout_fits_small_and_wide_terminals(app_settings: Any, size: tuple[int, int]) -> None:
    app = make_app(app_settings())
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        for wid in ("#input-text", "#tabs", "#status-model"):
            region = app.query_one(wid).region
            assert region.width > 0 and region.height > 0 and region.right <= size[0], wid
        assert app.query_one("#tok-table").region.height >= 1
        if size[0] < 100:  # the sidebar is a drawer on small screens: ctrl+t opens it on the task list
            assert not app.query_one("#sidebar").display
            await pilot.press("ctrl+t")
            await pilot.pause()
        assert app.query_one("#tasks").region.width > 0 and app.query_one("#tasks").has_focus == (size[0] < 100)


def test_each_task_gets_its_default_model_when_it_can_be_had(fake_hf_cache: Path) -> None:
    import dataclasses

    from tui_hf.core.hub import default_reference

    sentiment = get_task("sentiment-analysis")
    assert default_reference(get_task("feature-extraction")) == "embedded"  # the shipped model does that task
    assert default_reference(sentiment) == "embedded"  # offline, its default is not cached
    cached = dataclasses.replace(sentiment, default_model="acme/tiny-sentiment")
    assert default_reference(cached) == "acme/tiny-sentiment"
    loaded = load(resolve(parse_ref(default_reference(cached))), cached, "cpu")
    assert loaded.info.labels == {0: "NEGATIVE", 1: "POSITIVE"} and not loaded.info.warnings


def test_registry_defaults_match_the_installed_transformers() -> None:
    from transformers.pipelines import SUPPORTED_TASKS

    for spec in (
        get_task(name)
        for name in (
            "feature-extraction",
            "text-classification",
            "token-classification",
            "fill-mask",
            "zero-shot-classification",
            "text-generation",
        )
    ):
        default = SUPPORTED_TASKS[spec.pipeline]["default"]["model"]
        assert spec.default_model == (default[0] if isinstance(default, tuple) else next(iter(default.values()))[0])
