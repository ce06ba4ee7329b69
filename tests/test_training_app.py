"""The training pane and `tui-hf attach`, driven with the Pilot, on a tiny model and the shipped data."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Select

from tests.conftest import wait_until
from tests.helpers import text_of
from tui_hf.core.training.events import pid_alive, read_state
from tui_hf.core.training.job import job_pid, list_runs
from tui_hf.ui.app import make_app
from tui_hf.ui.training.attach import AttachApp
from tui_hf.ui.training.job_form import NewJobScreen
from tui_hf.ui.training.run_view import TrainingView

SIZE = (150, 48)
WIDE, SMALL = (200, 50), (80, 24)


@pytest.fixture
def jobs(tmp_path: Path) -> Iterator[Path]:
    """A runs directory whose jobs are killed at the end, even when the test fails."""
    runs = tmp_path / "runs"
    yield runs
    for info in list_runs(runs) if runs.exists() else []:
        pid = job_pid(info.path)
        if pid is not None and pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


async def open_new_job(pilot: Any) -> NewJobScreen:
    await pilot.press("f6")
    await pilot.press("n")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, NewJobScreen))
    return pilot.app.screen


def fill(screen: NewJobScreen, **values: str) -> None:
    for wid, value in values.items():
        screen.query_one(f"#job-{wid.replace('_', '-')}", Input).value = value


async def test_a_job_started_in_the_app_outlives_it_and_attach_shows_it(
    app_settings: Any, tiny_bert_cls_dir: Path, jobs: Path
) -> None:
    runs = jobs
    app = make_app(app_settings(runs_dir=runs))
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_new_job(pilot)
        # Epochs enough to outlast the test on any machine (the tiny model trains ~75 steps a second on a free
        # core); the test stops it, and the fixture kills it if the test fails first.
        fill(dialog, model=str(tiny_bert_cls_dir), epochs="1000", lr="5e-3", max_length="32")
        dialog.query_one("#job-engine", Select).value = "native"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: len(list_runs(runs)) == 1 and not isinstance(app.screen, NewJobScreen))
        run_dir = list_runs(runs)[0].path
        view = app.query_one("#train-view", TrainingView)
        await wait_until(pilot, lambda: view.follower is not None and view.follower.state.step >= 2, timeout=90)
        assert "running" in text_of(app.query_one("#run-header"))
        assert "samples/s" in text_of(app.query_one("#run-stats"))
        assert view._plot is not None  # the loss curve is drawn
        pid = job_pid(run_dir)
    # The app is gone; the job is not: it runs in its own session.
    assert pid is not None and pid_alive(pid) and os.getsid(pid) != os.getsid(0)
    attach = AttachApp(run_dir)
    async with attach.run_test(size=SIZE) as pilot:
        view = attach.query_one(TrainingView)
        await wait_until(pilot, lambda: view.follower is not None and view.follower.state.step > 5, timeout=90)
        assert "step" in text_of(attach.query_one("#run-eta"))
        await pilot.press("v")  # save a checkpoint now, from the attached view
        await wait_until(pilot, lambda: any(c["action"] == "save" for c in view.follower.state.controls), timeout=60)
        ack = next(c for c in view.follower.state.controls if c["action"] == "save")
        assert not ack["refused"]
        await wait_until(pilot, lambda: "control save done" in text_of(attach.query_one("#run-evals"), width=300))
        # The checkpoint the save named is listed (the epoch checkpoints' rotation may have removed it since)
        named = ack["message"].removeprefix("saved ")
        assert named.startswith("checkpoint-") and named in [Path(p).name for p in view.follower.state.checkpoints]
        await pilot.press("s")  # stop from the attached view
        await wait_until(pilot, lambda: view.follower.state.status == "stopped", timeout=90)
        await wait_until(pilot, lambda: "stopped" in text_of(attach.query_one("#run-header")), timeout=10)
        assert not attach.query_one("#run-resume").disabled
        await pilot.press("e")
        await pilot.pause()
        assert (run_dir / "metrics.csv").exists()
    newest = read_state(run_dir).checkpoints[-1]  # written by the stop
    assert (run_dir / newest / "config.json").exists()  # a loadable checkpoint


async def test_a_finished_run_loads_into_the_inference_panes(
    app_settings: Any, tiny_bert_cls_dir: Path, tmp_path: Path
) -> None:
    from tests.test_training import run_job, spec_for
    from tui_hf.core.training.job import create_run

    runs = tmp_path / "runs"
    run_dir = create_run(spec_for(tiny_bert_cls_dir, "native", epochs=1), runs)
    assert run_job(run_dir) == 0
    app = make_app(app_settings(runs_dir=runs, text="The film was a joy.\nThe film was a disaster."))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        view = app.query_one("#train-view", TrainingView)
        view.follow(run_dir)
        await wait_until(pilot, lambda: not app.query_one("#run-try").disabled)
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
        assert app.task_spec.name == "text-classification"
        assert set(app.loaded.info.labels.values()) == {"negative", "positive"}
        await pilot.press("ctrl+r")
        await wait_until(
            pilot,
            lambda: app.query_one("#output-view") is not None and "positive" in text_of(app.query_one("#output-view")),
        )


async def test_bad_training_input_is_refused_in_the_dialog_and_nothing_typed_is_lost(
    app_settings: Any, tmp_path: Path
) -> None:
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_new_job(pilot)
        await wait_until(pilot, lambda: "320 rows" in text_of(dialog.query_one("#job-data")))
        preview = text_of(dialog.query_one("#job-data"))
        assert "columns text, label" in preview and "negative (160), positive (160)" in preview
        fill(dialog, label="stars", name="keep-me")
        await wait_until(pilot, lambda: "no column 'stars'" in text_of(dialog.query_one("#job-data")))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "stars" in text_of(dialog.query_one("#job-error")), timeout=30)
        # The dialog stays open with what was typed; no run was made.
        assert app.screen is dialog and dialog.query_one("#job-name", Input).value == "keep-me"
        assert not (tmp_path / "runs").exists() or not list_runs(tmp_path / "runs")
        fill(dialog, label="label", lr="")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "learning rate" in text_of(dialog.query_one("#job-error")))
        assert app.screen is dialog


async def test_the_dialog_offers_every_training_task_and_previews_the_spec_the_run_gets(
    app_settings: Any, tiny_bert_cls_dir: Path, jobs: Path, tmp_path: Path
) -> None:
    from tui_hf.data import SENTIMENT_CSV

    validation = tmp_path / "held-out.csv"
    validation.write_text("\n".join(SENTIMENT_CSV.read_text().splitlines()[:41]) + "\n")
    app = make_app(app_settings(runs_dir=jobs))
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_new_job(pilot)
        task = dialog.query_one("#job-task", Select)
        assert [v for _, v in task._options] == [
            "text-classification",
            "token-classification",
            "masked-lm",
            "causal-lm",
            "seq2seq",
            "question-answering",
        ]
        task.value = "seq2seq"  # a source and the target the decoder writes, in the label's place
        await wait_until(pilot, lambda: dialog.query_one("#job-text", Input).value == "source")
        assert dialog.query_one("#job-label", Input).value == "target"
        assert not dialog.query_one("#job-label", Input).disabled
        task.value = "question-answering"  # its question, context and answers columns in the three column rows
        await wait_until(pilot, lambda: dialog.query_one("#job-text", Input).value == "question")
        label, pair = dialog.query_one("#job-label", Input), dialog.query_one("#job-pair", Input)
        assert (label.value, label.disabled, pair.value, pair.disabled) == ("answers", False, "context", False)
        await wait_until(
            pilot, lambda: '"task": "question-answering"' in text_of(dialog.query_one("#job-spec"), width=200)
        )
        qa = json.loads(text_of(dialog.query_one("#job-spec"), width=200))["data"]
        assert (qa["question_column"], qa["context_column"], qa["answers_column"]) == ("question", "context", "answers")
        task.value = "token-classification"
        await wait_until(pilot, lambda: dialog.query_one("#job-text", Input).value == "tokens")
        assert dialog.query_one("#job-label", Input).value == "ner_tags"
        task.value = "causal-lm"
        await wait_until(pilot, lambda: dialog.query_one("#job-label", Input).disabled)
        task.value = "text-classification"
        await wait_until(pilot, lambda: dialog.query_one("#job-label", Input).value == "label")
        assert dialog.query_one("#job-pair", Input).value == ""  # QA's context column is not a second text here
        fill(
            dialog,
            model=str(tiny_bert_cls_dir),
            validation=str(validation),
            max_steps="3",
            batch="4",
            max_length="32",
            name="from-the-dialog",
            nproc="1",
        )
        # Every field is on screen at 80x24, whole (scrolled to when focused).
        for wid in (
            "task",
            "model",
            "train",
            "validation",
            "text",
            "label",
            "engine",
            "epochs",
            "max-steps",
            "batch",
            "lr",
            "max-length",
            "name",
            "nproc",
            "start",
            "cancel",
        ):
            widget = dialog.query_one(f"#job-{wid}")
            widget.focus()
            await pilot.pause()
            region = widget.region
            assert region.height >= 1 and dialog.region.contains_region(region), wid
        await wait_until(pilot, lambda: '"max_steps": 3' in text_of(dialog.query_one("#job-spec"), width=200))
        shown = json.loads(text_of(dialog.query_one("#job-spec"), width=200))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not isinstance(app.screen, NewJobScreen), timeout=60)
        run_dir = jobs / "from-the-dialog"
        assert json.loads((run_dir / "spec.json").read_text()) == shown
        assert shown["data"]["validation"] == str(validation) and shown["task"] == "text-classification"
        view = app.query_one("#train-view", TrainingView)
        await wait_until(pilot, lambda: view.follower is not None and view.follower.run_dir == run_dir)
        await wait_until(pilot, lambda: view.follower.status == "finished", timeout=120)


def make_run(path: Path, engine: str, status: str, steps: int) -> None:
    from tui_hf.core.training.events import EventWriter

    path.mkdir(parents=True)
    (path / "spec.json").write_text("{}")
    writer = EventWriter(path)
    writer.start(engine=engine, model="tiny", total_steps=40, epochs=2, labels=["neg", "pos"], batch_size=8)
    writer.status("running", step=0, total_steps=40)
    for step in range(1, steps + 1):
        writer.train(step=step, epoch=step / 20, loss=1.0 / step, learning_rate=1e-3)
    writer.eval(step=steps, epoch=steps / 20, metrics={"eval_loss": 0.5, "eval_accuracy": 0.75})
    writer.status(status, message="")


@pytest.mark.parametrize("size", [SMALL, WIDE])
async def test_the_runs_list_is_newest_first_one_line_per_run_with_the_chart_usable(
    app_settings: Any, tmp_path: Path, size: tuple[int, int]
) -> None:
    runs = tmp_path / "runs"
    older = [(f"20251201-00000{k}-tiny-native", "native", "finished", 40) for k in range(6)]
    made = older + [
        ("20260101-000000-tiny-trainer", "trainer", "finished", 40),
        ("20260102-000000-tiny-native", "native", "stopped", 25),
        ("20260103-000000-tiny-trainer", "trainer", "failed", 7),
    ]
    for k, (name, engine, status, steps) in enumerate(made):
        make_run(runs / name, engine, status, steps)
        os.utime(runs / name / "spec.json", (1e9 + k, 1e9 + k))  # made in this order
    app = make_app(app_settings(runs_dir=runs))
    async with app.run_test(size=size) as pilot:
        await pilot.press("f6")
        table = app.query_one("#train-runs", DataTable)
        await wait_until(pilot, lambda: table.row_count == len(made))
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(len(made))]
        assert [r[0] for r in rows] == [name for name, *_ in reversed(made)]
        assert [r[1] for r in rows][:3] == ["failed", "stopped", "finished"]
        assert rows[2][2] == "40/40" and rows[2][4] == "accuracy 0.750"
        # Readable without scrolling sideways, and more than one run in view.
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert table.scrollable_content_region.height >= (3 if size == SMALL else 4)
        # The newest run is shown; its chart has rows and every button is on screen.
        view = app.query_one("#train-view", TrainingView)
        await wait_until(pilot, lambda: view._plot is not None)
        assert view.follower.run_dir.name == made[-1][0]
        plot = app.query_one("#run-plot").region
        assert plot.height >= 8 and plot.bottom <= app.query_one("#status").region.y, plot
        for button in app.query("#run-controls Button, #run-controls Checkbox"):
            if button.display:
                assert app.screen.region.contains_region(button.region) and button.region.width >= 6, button.id
        # Enter on another row shows that run.
        table.focus()
        table.move_cursor(row=2)
        await pilot.press("enter")
        await wait_until(pilot, lambda: view.follower.run_dir.name == made[-3][0])
        await wait_until(pilot, lambda: "finished" in text_of(app.query_one("#run-header")))


async def test_the_runs_list_and_run_view_are_redrawn_only_when_a_run_changed(
    app_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over SSH every redraw is sent: a list read every 2 s, and a run polled twice a second, that did not change
    must not be drawn again."""
    from tui_hf.core.training.events import EventWriter

    run = tmp_path / "runs" / "20260102-000000-tiny-native"
    make_run(run, "native", "stopped", 25)
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        pane = app.query_one("#training-pane")
        table = app.query_one("#train-runs", DataTable)
        await wait_until(pilot, lambda: table.row_count == 1 and not pane._reading)
        rebuilt: list[int] = []
        clear = table.clear
        monkeypatch.setattr(table, "clear", lambda *a, **k: (rebuilt.append(1), clear(*a, **k))[1])
        view = app.query_one("#train-view", TrainingView)
        await wait_until(pilot, lambda: view.follower is not None and view._plot is not None and not view._reading)
        eta = app.query_one("#run-eta")
        shown: list[int] = []
        update = eta.update
        monkeypatch.setattr(eta, "update", lambda *a, **k: (shown.append(1), update(*a, **k))[1])
        for _ in range(3):  # three refreshes of an unchanged directory and run
            pane.refresh_runs()
            view.poll()
            await wait_until(pilot, lambda: not pane._reading and not view._reading)
        assert rebuilt == [] and shown == []
        EventWriter(run).train(step=26, epoch=1.3, loss=0.03, learning_rate=1e-3)  # the run moved on
        pane.refresh_runs()
        await wait_until(pilot, lambda: str(table.get_row_at(0)[2]) == "26/40")
        assert rebuilt == [1]
        view.poll()
        await wait_until(pilot, lambda: "step 26/40" in text_of(eta))
