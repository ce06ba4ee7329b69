"""Text classification of a sentence pair (issue 19): the second text reaches the model as transformers'
pipeline reads {"text": ..., "text_pair": ...}, from the core, the command line and Try model on a pairs run."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.helpers import text_of
from tests.test_tasks_core import load, run

FIRST, SECOND = "The bicycle was fixed by David on Friday.", "David fixed the bicycle on Friday."


@pytest.fixture(scope="module")
def sharp_cls_dir(tmp_path_factory: pytest.TempPathFactory, tiny_bert_cls_dir: Path) -> Path:
    """The tiny random classifier with its head scaled up: its scores move visibly with the input, so a
    dropped second text shows (the plain one answers about 0.5 to everything)."""
    import torch
    from transformers import BertForSequenceClassification

    path = tmp_path_factory.mktemp("sharp-cls")
    shutil.copytree(tiny_bert_cls_dir, path, dirs_exist_ok=True)
    model = BertForSequenceClassification.from_pretrained(tiny_bert_cls_dir)
    with torch.no_grad():
        model.classifier.weight.mul_(300.0)
    model.save_pretrained(path)
    return path


def pipeline_scores(model_dir: Path, text: str, pair: str | None) -> dict[str, float]:
    """The independent truth: transformers' own text-classification pipeline on the saved model."""
    from transformers import pipeline

    inputs: Any = {"text": text, "text_pair": pair} if pair is not None else text
    rows = pipeline("text-classification", model=str(model_dir), device="cpu")(inputs, top_k=None)
    return {r["label"]: round(float(r["score"]), 5) for r in rows}


def scores(item: Any) -> dict[str, float]:
    return {s.label: round(s.score, 5) for s in item.labels}


def test_a_second_text_is_classified_with_each_input_as_the_pipeline_reads_the_pair(sharp_cls_dir: Path) -> None:
    loaded = load(sharp_cls_dir, "text-classification")
    result = run(loaded, "text-classification", [FIRST, "Another first text"], {"text_pair": SECOND}, explain=True)
    truth = pipeline_scores(sharp_cls_dir, FIRST, SECOND)
    assert scores(result.items[0]) == truth
    assert scores(result.items[1]) == pipeline_scores(sharp_cls_dir, "Another first text", SECOND)
    assert result.items[0].text_pair == SECOND
    # the pair changes the answer (otherwise the test could not tell a dropped second text)
    assert truth != pipeline_scores(sharp_cls_dir, FIRST, None)
    # under the hood: the tokens of both texts, the second with segment id 1
    first_step = result.explanation.steps[0]
    lines = first_step.value.splitlines()
    types = next(lines[n + 1] for n, x in enumerate(lines) if x.startswith("token_type_ids"))  # under its header
    assert "text_pair" in first_step.code and re.search(r"\b1\b", types) and re.search(r"\b0\b", types), types
    # no second text: each input alone, as before
    alone = run(loaded, "text-classification", [FIRST], {"text_pair": ""})
    assert scores(alone.items[0]) == pipeline_scores(sharp_cls_dir, FIRST, None)
    assert alone.items[0].text_pair is None


def test_the_command_line_takes_the_second_text_as_a_setting(
    sharp_cls_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui_hf.cli import main

    code = main(["run", "text-classification", FIRST, "--model", str(sharp_cls_dir), "-s", f"text_pair={SECOND}"])
    out = capsys.readouterr()
    assert code == 0, out.err
    item = json.loads(out.out)["result"]["items"][0]
    assert item["text"] == FIRST and item["text_pair"] == SECOND
    got = {r["label"]: r["score"] for r in item["labels"]}
    assert got == pytest.approx(pipeline_scores(sharp_cls_dir, FIRST, SECOND), abs=2e-5)
    assert got != pytest.approx(pipeline_scores(sharp_cls_dir, FIRST, None), abs=2e-5)
    # the setting is listed in the task's help
    assert main(["run", "text-classification", "--help"]) == 0
    assert "text_pair=TEXT" in capsys.readouterr().out


def _pairs_run(tmp_path: Path, model_dir: Path, train: str) -> Path:
    from tests.test_no_crash import NEWER, finished_runs
    from tui_hf.core.training.events import EventWriter

    _, newer = finished_runs(tmp_path / "runs")
    spec = {
        "task": "text-classification",
        "model": "tiny",
        "data": {"train": train, "text_column": "sentence1", "text_pair_column": "sentence2"},
    }
    (newer / "spec.json").write_text(json.dumps(spec))
    shutil.rmtree(newer / "final")
    shutil.copytree(model_dir, newer / "final")
    EventWriter(newer).final(step=10, path=str(newer / "final"))
    assert newer.name == NEWER
    return newer


async def _try(app: Any, pilot: Any, run_dir: Path) -> None:
    from tests.test_no_crash import shown_with_try

    await shown_with_try(pilot, app, run_dir.name)
    app.query_one("#run-try").press()
    await wait_until(
        pilot,
        lambda: (
            app.last_load_error is not None
            or app.loaded is not None
            and app.loaded.info.source == str(run_dir / "final")
        ),
    )
    assert app.last_load_error is None, app.last_load_error


async def test_try_model_on_a_pairs_run_shows_its_first_pair_and_classifies_the_pair(
    app_settings: Any, sharp_cls_dir: Path, tmp_path: Path
) -> None:
    from textual.widgets import Input

    from tui_hf.data import PARAPHRASE_CSV
    from tui_hf.ui.app import make_app
    from tui_hf.ui.inference.output import OutputPane

    with PARAPHRASE_CSV.open(newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))  # the data's first row, read here independently of the app
    run_dir = _pairs_run(tmp_path, sharp_cls_dir, str(PARAPHRASE_CSV))
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=(150, 48)) as pilot:
        await _try(app, pilot, run_dir)
        assert app.task_spec.name == "text-classification"
        assert app.query_one("#field-text_pair", Input).value == row["sentence2"]
        assert app.query_one("#input-text").text == row["sentence1"]
        await pilot.press("ctrl+r")
        out = app.query_one(OutputPane)
        await wait_until(pilot, lambda: out.result is not None and getattr(out.result, "done", True))
        assert scores(out.result.items[0]) == pipeline_scores(run_dir / "final", row["sentence1"], row["sentence2"])
        await wait_until(pilot, lambda: row["sentence2"] in text_of(app.query_one("#output-view")))


async def test_try_model_on_a_pairs_run_whose_data_is_not_here_leaves_the_second_text_empty_with_a_hint(
    app_settings: Any, sharp_cls_dir: Path, tmp_path: Path
) -> None:
    from textual.widgets import Input

    from tests.test_no_crash import notices
    from tui_hf.ui.app import make_app

    run_dir = _pairs_run(tmp_path, sharp_cls_dir, "glue")  # a hub dataset: no row to read offline
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=(150, 48)) as pilot:
        await _try(app, pilot, run_dir)
        assert app.query_one("#field-text_pair", Input).value == ""
        assert any("finetuned on sentence pairs" in n and "Second text" in n for n in notices(app))


def test_the_code_view_of_a_pair_run_reads_the_pair_and_answers_as_the_app(sharp_cls_dir: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tui_hf.core.tasks.code import code_for
    from tui_hf.core.tasks.registry import get_task

    texts = [FIRST, "Another first text"]
    loaded = load(sharp_cls_dir, "text-classification")
    app = run(loaded, "text-classification", texts, {"text_pair": SECOND})
    view = code_for(get_task("text-classification"), loaded, texts, {"text_pair": SECOND})
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for name, script in (("pipeline", view.pipeline), ("explicit", view.explicit)):
        path = tmp_path / f"{name}.py"
        path.write_text(script, encoding="utf-8")
        proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        got = json.loads(proc.stdout)
        for item, row in zip(app.items, got, strict=True):
            assert {r["label"]: r["score"] for r in row["labels"]} == pytest.approx(
                {s.label: s.score for s in item.labels}, abs=1e-5
            ), name
