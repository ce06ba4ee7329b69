"""The training pane and `tui-hf attach`, driven with the Pilot, on a tiny model and the shipped data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from textual.widgets import Input, Select

from tests.conftest import wait_until
from tests.helpers import text_of
from tui_hf.core.training.events import pid_alive, read_state
from tui_hf.core.training.job import job_pid, list_runs
from tui_hf.ui.app import make_app
from tui_hf.ui.attach import AttachApp
from tui_hf.ui.panes.training import TrainingView

SIZE = (150, 48)


async def test_a_job_started_in_the_app_outlives_it_and_attach_shows_it(app_settings: Any, tiny_bert_cls_dir: Path,
                                                                         tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    app = make_app(app_settings(runs_dir=runs))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        app.query_one("#train-model", Input).value = str(tiny_bert_cls_dir)
        app.query_one("#train-epochs", Input).value = "30"
        app.query_one("#train-lr", Input).value = "5e-3"
        app.query_one("#train-maxlen", Input).value = "32"
        app.query_one("#train-engine", Select).value = "native"
        await pilot.click("#train-start")
        await wait_until(pilot, lambda: len(list_runs(runs)) == 1)
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
        await pilot.press("s")  # stop from the attached view
        await wait_until(pilot, lambda: view.follower.state.status == "stopped", timeout=90)
        await wait_until(pilot, lambda: "stopped" in text_of(attach.query_one("#run-header")), timeout=10)
        assert not attach.query_one("#run-resume").disabled
        await pilot.press("e")
        await pilot.pause()
        assert (run_dir / "metrics.csv").exists()
    assert read_state(run_dir).checkpoints


async def test_a_finished_run_loads_into_the_inference_panes(app_settings: Any, tiny_bert_cls_dir: Path,
                                                             tmp_path: Path) -> None:
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
        await wait_until(pilot, lambda: app.last_load_error is not None or app.loaded is not None and
                         app.loaded.info.source == str(run_dir / "final"))
        assert app.last_load_error is None, app.last_load_error
        assert app.task_spec.name == "text-classification"
        assert set(app.loaded.info.labels.values()) == {"negative", "positive"}
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.query_one("#output-view") is not None and
                         "positive" in text_of(app.query_one("#output-view")))


async def test_bad_training_input_is_refused_in_the_app(app_settings: Any, tmp_path: Path) -> None:
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await wait_until(pilot, lambda: "320 rows" in text_of(app.query_one("#train-preview")))
        preview = text_of(app.query_one("#train-preview"))
        assert "columns text, label" in preview and "negative (160), positive (160)" in preview
        app.query_one("#train-label", Input).value = "stars"
        await wait_until(pilot, lambda: "no column 'stars'" in text_of(app.query_one("#train-preview")))
        await pilot.click("#train-start")
        await pilot.pause()
        assert any("no column 'stars'" in str(n.message) for n in app._notifications)
        assert not (tmp_path / "runs").exists()
