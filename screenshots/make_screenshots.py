"""Drive the real app through its main views and save an SVG screenshot of each (Textual's save_screenshot).

    python screenshots/make_screenshots.py [OUT_DIR]

Runs offline: the embedded MiniLM for tokens, embeddings and a finetuning job; small random models built
here for the other task families (their outputs are random, the views are real).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIZE = (140, 42)
SMALL = (80, 24)  # over SSH, common: every view must work at this size
HERE = Path(__file__).resolve().parent


def build_models(root: Path) -> dict[str, Path]:
    import torch
    from transformers import (
        AutoTokenizer,
        BertConfig,
        BertForQuestionAnswering,
        BertForTokenClassification,
        GPT2Config,
        GPT2LMHeadModel,
    )

    from tui_hf.core.hub import embedded_model_dir

    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    torch.manual_seed(0)
    small = dict(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
    paths = {}
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    for name, model in (
        (
            "ner",
            BertForTokenClassification(
                BertConfig(**small, id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
            ),
        ),
        ("qa", BertForQuestionAnswering(BertConfig(**small))),
        (
            "gpt",
            GPT2LMHeadModel(
                GPT2Config(
                    vocab_size=len(tok),
                    n_embd=64,
                    n_layer=2,
                    n_head=2,
                    bos_token_id=tok.cls_token_id,
                    eos_token_id=tok.sep_token_id,
                )
            ),
        ),
    ):
        paths[name] = root / name
        model.save_pretrained(paths[name])
        tok.save_pretrained(paths[name])
    return paths


async def until(pilot: Any, check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the view did not reach its state")
        await pilot.pause(0.1)


def wait_for_exit(pid: int, timeout: float = 60) -> None:
    """Reap the job we started (it is our child), killing it if it outlives `timeout`: its directory is about
    to be deleted, and a job still writing there would leave files behind."""
    import os
    import signal

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


async def capture(out: Path) -> dict[str, Path]:
    """Screenshots into `out`. The models, runs and state it needs live in a temporary directory that is
    removed afterwards (a finetuning run's checkpoints are hundreds of MB)."""
    import os

    saved_state = os.environ.get("XDG_STATE_HOME")
    with tempfile.TemporaryDirectory(prefix="tui-hf-shots-") as work:
        os.environ["XDG_STATE_HOME"] = str(Path(work) / "state")  # the picker's "recent" list starts empty
        try:
            return await _capture(out, Path(work))
        finally:
            if saved_state is None:
                os.environ.pop("XDG_STATE_HOME", None)
            else:
                os.environ["XDG_STATE_HOME"] = saved_state


async def _capture(out: Path, work: Path) -> dict[str, Path]:
    from textual.widgets import TextArea

    from tui_hf.core.training.job import create_run, launch, stop
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.data import SENTIMENT_CSV
    from tui_hf.ui.app import AppSettings, make_app
    from tui_hf.ui.inference.output import OutputPane
    from tui_hf.ui.screens import ModelPicker
    from tui_hf.ui.training.job_form import NewJobScreen
    from tui_hf.ui.training.run_view import TrainingView

    out.mkdir(parents=True, exist_ok=True)
    models = build_models(work)
    runs = work / "runs"
    shots: dict[str, Path] = {}

    def save(app: Any, name: str) -> None:
        shots[name] = Path(app.save_screenshot(filename=f"{name}.svg", path=str(out)))

    async def run_task(
        task: str, model: str | None, text: str, fields: dict[str, str], name: str, tab: str = "f3"
    ) -> None:
        app = make_app(AppSettings(task=task, model=model, text=text, runs_dir=runs, log_path=work / "log"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.loaded is not None)
            for key, value in fields.items():
                widget = app.query_one(f"#field-{key}")
                if isinstance(widget, TextArea):
                    widget.text = value
                else:
                    widget.value = value
            await pilot.press("ctrl+r")
            out_pane = app.query_one(OutputPane)
            await until(pilot, lambda: out_pane.result is not None and getattr(out_pane.result, "done", True))
            await app.workers.wait_for_complete()
            await pilot.press(tab)
            await pilot.pause(0.3)
            save(app, name)

    # The tokenizer breakdown, a padded batch with a token selected.
    app = make_app(
        AppSettings(
            text="Hugging Face transformers, tokenized live!\nShort line.", log_path=work / "log", runs_dir=runs
        )
    )
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.breakdown is not None and app.loaded is not None)
        app.query_one("#tok-table").focus()
        await pilot.press("down", "down", "down")
        await pilot.pause(0.2)
        save(app, "tokens")
        await pilot.press("v")  # the tokenizer's stages for the input line under the cursor
        await pilot.pause(0.5)
        save(app, "tokens-stages")
    app = make_app(
        AppSettings(
            text="Hugging Face transformers, tokenized live!\nShort line.", log_path=work / "log", runs_dir=runs
        )
    )
    async with app.run_test(size=SMALL) as pilot:
        await until(pilot, lambda: app.breakdown is not None and app.loaded is not None)
        await pilot.pause(0.2)
        save(app, "tokens-80x24")
    await run_task(
        "feature-extraction",
        None,
        "A man is eating food.\nA man eats a meal.\nThe stock market fell.",
        {},
        "embeddings",
    )
    await run_task("sentiment-analysis", None, "I love this course!\nThis is terrible.", {}, "under-the-hood", "f4")
    await run_task(
        "ner",
        str(models["ner"]),
        "My name is Sylvain and I work at Hugging Face in Brooklyn.",
        {"aggregation_strategy": "none"},
        "ner",
    )
    await run_task(
        "question-answering",
        str(models["qa"]),
        "Where do I work?",
        {"context": "My name is Sylvain and I work at Hugging Face in Brooklyn.", "top_k": "3"},
        "question-answering",
    )
    await run_task(
        "text-generation",
        str(models["gpt"]),
        "In this course, we will teach you how to",
        {"max_new_tokens": "20", "num_return_sequences": "2"},
        "generation",
    )

    # A finetuning job of the embedded model, mid-run.
    spec = TrainSpec(
        data=DataSpec(train=str(SENTIMENT_CSV), max_length=48), engine="native", epochs=3, logging_steps=1, device="cpu"
    )
    run_dir = create_run(spec, runs, name="embedded-sentiment")
    pid = launch(run_dir)
    try:
        app = make_app(AppSettings(runs_dir=runs, log_path=work / "log"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f6")
            view = app.query_one("#train-view", TrainingView)
            view.follow(run_dir)
            await until(
                pilot,
                lambda: (
                    view.follower is not None and view.follower.state.step >= 20 and len(view.follower.state.evals) >= 2
                ),
                timeout=240,
            )
            await pilot.pause(0.6)
            save(app, "training")
            await pilot.press("ctrl+o")
            await until(pilot, lambda: isinstance(app.screen, ModelPicker))
            picker = app.screen
            await until(
                pilot, lambda: "Hub" in "".join(str(o.prompt) for o in picker.query_one("#picker-list").options)
            )
            await pilot.pause(1.5)  # the highlighted model's card
            save(app, "model-picker")
        app = make_app(AppSettings(runs_dir=runs, log_path=work / "log"))
        async with app.run_test(size=SMALL) as pilot:
            await pilot.press("f6")
            view = app.query_one("#train-view", TrainingView)
            await until(pilot, lambda: view.follower is not None and view.follower.state.step >= 20)
            await pilot.pause(0.6)
            save(app, "training-80x24")
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, NewJobScreen))
            await until(pilot, lambda: "rows" in str(app.screen.query_one("#job-data").render()))
            save(app, "new-job")
    finally:
        stop(run_dir)
        wait_for_exit(pid)
    return shots


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for name, path in asyncio.run(capture(out)).items():
        print(f"{name:<20} {path}")


if __name__ == "__main__":
    main()
