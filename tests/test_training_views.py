"""What `tui-hf attach` shows for runs in each state, from the events alone (no job needed): a failure with its
traceback, a died run without an ETA, a finished run at 100 %, and text from the file shown as text."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import ProgressBar

from tests.conftest import wait_until
from tests.helpers import text_of
from tui_hf.core.training.events import EventWriter
from tui_hf.core.training.follow import Follower, duration, smooth, thin
from tui_hf.ui.training.attach import AttachApp

SIZE = (150, 48)


def make_run(path: Path, *, engine: str = "native", model: str = "tiny", labels: list[str] | None = None) -> EventWriter:
    path.mkdir(parents=True)
    (path / "spec.json").write_text("{}")
    writer = EventWriter(path)
    writer.status("preparing")
    writer.start(engine=engine, model=model, total_steps=48, epochs=3, labels=labels or ["neg", "pos"],
                 batch_size=16)
    writer.status("running", step=0, total_steps=48)
    for step in range(1, 46):
        writer.train(step=step, epoch=step / 16, loss=1.0 / step, learning_rate=1e-3)
    return writer


async def test_attach_on_a_failed_run_shows_the_failure_and_its_traceback(tmp_path: Path) -> None:
    run = tmp_path / "failed-run"
    writer = make_run(run)
    writer.status("failed", message="RuntimeError: CUDA out of memory",
                  traceback="Traceback (most recent call last):\n  File \"x.py\", line 1\nRuntimeError: boom")
    app = AttachApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "failed" in text_of(app.query_one("#run-header")))
        header = text_of(app.query_one("#run-header"))
        assert "RuntimeError: CUDA out of memory" in header
        assert "RuntimeError: boom" in text_of(app.query_one("#run-evals"))
        assert not app.query_one("#run-resume").disabled and app.query_one("#run-stop").disabled


async def test_text_from_the_events_is_never_markup(tmp_path: Path) -> None:
    run = tmp_path / "oops"
    writer = make_run(run, engine="[/oops]", model="[b]model[/b]", labels=["[red]", "[/]"])
    writer.alert("a label named [/red] and [link=x]", step=3)
    writer.status("stopped", message="[/i] stopped [bold]")
    app = AttachApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "stopped" in text_of(app.query_one("#run-header")))
        header = text_of(app.query_one("#run-header"))
        assert "[/oops]" in header and "[b]model[/b]" in header and "[/i] stopped [bold]" in header
        assert "[red], [/]" in header
        assert "a label named [/red] and [link=x]" in text_of(app.query_one("#run-evals"))


async def test_a_died_run_says_so_and_has_no_eta(tmp_path: Path) -> None:
    run = tmp_path / "died"
    make_run(run)  # "running", steps logged, then nothing: no process holds the run
    follower = Follower(run)
    follower.poll()
    assert follower.status == "died" and follower.eta_seconds is None
    assert follower.state.eta_seconds is not None  # the events alone would suggest one
    app = AttachApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "died" in text_of(app.query_one("#run-header")))
        assert "ETA -" in text_of(app.query_one("#run-eta"))


async def test_a_finished_run_shows_all_its_steps(tmp_path: Path) -> None:
    run = tmp_path / "done"
    writer = make_run(run)  # logged up to step 45 of 48, as Trainer's logging cadence leaves it
    writer.status("finished", step=48, total_steps=48)
    app = AttachApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "finished" in text_of(app.query_one("#run-header")))
        assert app.query_one("#run-progress", ProgressBar).percentage == 1.0
        assert "step 48/48" in text_of(app.query_one("#run-eta"))
    older = tmp_path / "older"
    writer = make_run(older)
    writer._event("status", {"status": "finished"})  # as a run of an older version ends: no step in it
    follower = Follower(older)
    follower.poll()
    assert follower.state.step == 45 and follower.state.progress == 1.0


def test_the_view_helpers_live_in_the_core() -> None:
    import pytest

    assert smooth([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])  # bias-corrected: no drag towards 0
    assert smooth([0.0, 0.0, 0.0, 10.0])[-1] < 5.0  # a spike is damped
    points = [(i, float(i)) for i in range(10_000)]
    thinned = thin(points, 100)
    assert len(thinned) == 101 and thinned[0] == points[0] and thinned[-1] == points[-1]
    assert duration(3725) == "1:02:05" and duration(65) == "1:05" and duration(None) == "-"
