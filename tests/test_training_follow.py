"""Nothing stale in the Training tab: the live view follows the newest run until the user picks one, and a job
that is starting says what it is doing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from tests.conftest import wait_until
from tests.helpers import text_of
from tests.test_training_app import make_run
from tui_hf.ui.app import make_app
from tui_hf.ui.training.run_view import TrainingView

SIZE = (150, 48)


def add_run(runs: Path, name: str, order: int) -> Path:
    make_run(runs / name, "native", "finished", 10)
    os.utime(runs / name / "spec.json", (1e9 + order, 1e9 + order))  # made in this order
    return runs / name


async def test_the_view_follows_a_run_started_elsewhere_until_the_user_picks_one(
    app_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tui_hf.ui.training.training.REFRESH_SECONDS", 600)  # the test reads the list itself
    runs = tmp_path / "runs"
    first = add_run(runs, "20260101-000000-a", 1)
    add_run(runs, "20260102-000000-b", 2)
    app = make_app(app_settings(runs_dir=runs))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        pane = app.query_one("#training-pane")
        view = app.query_one("#train-view", TrainingView)
        table = app.query_one("#train-runs", DataTable)

        async def listed(count: int) -> None:
            pane.refresh_runs()
            await wait_until(pilot, lambda: table.row_count == count and not pane._reading)

        def shown() -> str:
            return view.follower.run_dir.name if view.follower else ""

        await listed(2)
        assert shown() == "20260102-000000-b"
        # `tui-hf train` in another terminal: the list shows it, and so does the live view.
        add_run(runs, "20260103-000000-c", 3)
        await listed(3)
        await wait_until(pilot, lambda: shown() == "20260103-000000-c")
        await wait_until(pilot, lambda: "20260103-000000-c" in text_of(app.query_one("#run-header")))
        # The user picks an older run: a newer one appearing does not take the view away from it.
        table.focus()
        table.move_cursor(row=table.get_row_index(str(first)))
        await pilot.press("enter")
        await wait_until(pilot, lambda: shown() == first.name)
        add_run(runs, "20260104-000000-d", 4)
        await listed(4)
        await pilot.pause(0.3)
        assert shown() == first.name
        # Picking the newest row again means "the newest": the next run started is followed.
        table.move_cursor(row=0)
        await pilot.press("enter")
        await wait_until(pilot, lambda: shown() == "20260104-000000-d")
        add_run(runs, "20260105-000000-e", 5)
        await listed(5)
        await wait_until(pilot, lambda: shown() == "20260105-000000-e")


async def test_a_job_that_is_starting_says_what_it_is_doing(app_settings: Any, tmp_path: Path) -> None:
    """No "preparing · ? · ?": the job's phase, and no step counts before there are steps."""
    from tui_hf.core.training import runlock
    from tui_hf.core.training.events import EventWriter

    run = tmp_path / "runs" / "20260101-000000-tiny-native"
    run.mkdir(parents=True)
    (run / "spec.json").write_text("{}")
    writer = EventWriter(run)
    writer.status("preparing", message="importing torch and transformers (pid 1)")
    writer.status("preparing", message="checking the data")
    lock = runlock.RunLock.acquire(run)  # a live job holds its run: the status stays "preparing"
    try:
        app = make_app(app_settings(runs_dir=tmp_path / "runs"))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f6")
            header, eta = app.query_one("#run-header"), app.query_one("#run-eta")
            await wait_until(pilot, lambda: "checking the data" in text_of(header))
            assert text_of(header).split("\n")[:2] == [f"{run.name} · preparing", "checking the data"]
            assert "?" not in text_of(header) + text_of(eta) and text_of(eta).strip() == "no step yet"
            writer.start(
                engine="native", model="tiny-bert", total_steps=40, epochs=2, labels=["neg", "pos"], batch_size=8
            )
            writer.status("running", step=0, total_steps=40)
            await wait_until(pilot, lambda: "running · native · tiny-bert" in text_of(header), timeout=5)
            await wait_until(pilot, lambda: "step 0/40" in text_of(eta), timeout=5)
    finally:
        lock.release()


def test_the_job_reports_each_phase_of_its_preparation(tiny_bert_cls_dir: Path, tmp_path: Path) -> None:
    from tests.training_fixtures import run_job, spec_for
    from tui_hf.core.training.events import EventReader
    from tui_hf.core.training.job import create_run

    run = create_run(spec_for(tiny_bert_cls_dir, "native", max_steps=1), tmp_path / "runs")
    assert run_job(run).returncode == 0
    events = EventReader(run).read()
    preparing = [e["message"] for e in events if e["event"] == "status" and e["status"] == "preparing"]
    assert [m.split(" (pid")[0] for m in preparing] == [
        "importing torch and transformers",
        "checking the data",
        f"loading the model ({tiny_bert_cls_dir}) and tokenizing the data",
    ]
    kinds = [e["event"] for e in events]
    assert kinds.index("start") > max(i for i, e in enumerate(events) if e.get("status") == "preparing")
