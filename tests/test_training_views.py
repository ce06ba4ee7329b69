"""What `tui-hf attach` shows for runs in each state, from the events alone (no job needed): a failure with its
traceback, a died run without an ETA, a finished run at 100 %, and text from the file shown as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import ProgressBar

from tests.conftest import wait_until
from tests.helpers import text_of
from tui_hf.core.training.events import EventWriter
from tui_hf.core.training.follow import Follower, duration, smooth, thin
from tui_hf.ui.training.attach import AttachApp

SIZE = (150, 48)


def make_run(
    path: Path, *, engine: str = "native", model: str = "tiny", labels: list[str] | None = None
) -> EventWriter:
    path.mkdir(parents=True)
    (path / "spec.json").write_text("{}")
    writer = EventWriter(path)
    writer.status("preparing")
    writer.start(engine=engine, model=model, total_steps=48, epochs=3, labels=labels or ["neg", "pos"], batch_size=16)
    writer.status("running", step=0, total_steps=48)
    for step in range(1, 46):
        writer.train(step=step, epoch=step / 16, loss=1.0 / step, learning_rate=1e-3)
    return writer


async def test_attach_on_a_failed_run_shows_the_failure_and_its_traceback(tmp_path: Path) -> None:
    run = tmp_path / "failed-run"
    writer = make_run(run)
    writer.status(
        "failed",
        message="RuntimeError: CUDA out of memory",
        traceback='Traceback (most recent call last):\n  File "x.py", line 1\nRuntimeError: boom',
    )
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


async def test_resume_in_the_app_asks_before_going_on_with_changed_data(
    tmp_path: Path, tiny_bert_cls_dir: Path, monkeypatch: Any
) -> None:
    """A stopped run whose data file gained a row: Resume shows what changed and asks; No starts nothing, Yes
    starts the job told to go on (it keeps the original split, see test_training_faults)."""
    import collections
    import csv
    import hashlib
    import json

    import torch
    from safetensors.torch import save_file

    from tests.training_fixtures import spec_for
    from tui_hf.core.training import job
    from tui_hf.core.training.preflight import DataPlan
    from tui_hf.data import SENTIMENT_CSV
    from tui_hf.ui.screens import ConfirmScreen

    data = tmp_path / "reviews.csv"
    data.write_bytes(SENTIMENT_CSV.read_bytes())
    spec = spec_for(tiny_bert_cls_dir, "native", max_steps=8)
    spec.data.train = str(data)
    run = job.create_run(spec, tmp_path / "runs", name="drift")
    # What the job records at its first start, and a checkpoint it saved at step 3 before it was stopped.
    plan = DataPlan.load(run / "data.json")
    assert plan is not None
    with open(data, newline="", encoding="utf-8") as fh:
        counts = collections.Counter(row["label"] for row in csv.DictReader(fh))
    plan.fingerprint = {
        "files": [
            {
                "role": "train",
                "path": str(data),
                "rows": 320,
                "labels": dict(counts),
                "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
            }
        ],
        "validation_rows": [],
        "kept": False,
    }
    (run / "data.json").write_text(plan.to_json())
    saved = run / "checkpoints" / "checkpoint-3"
    saved.mkdir(parents=True)
    (saved / "config.json").write_text(json.dumps({"model_type": "bert"}))
    save_file({"w": torch.zeros(2)}, str(saved / "model.safetensors"))
    torch.save({"step": 3}, saved / "training_state.pt")
    writer = EventWriter(run)
    writer.start(engine="native", model="tiny", total_steps=8, epochs=1, labels=["negative", "positive"], batch_size=16)
    writer.train(step=3, epoch=0.2, loss=0.7)
    writer.status("stopped", step=3, total_steps=8)
    with open(data, "a", encoding="utf-8") as fh:
        fh.write("A review added after the run started.,positive\n")
    launched: list[tuple[Any, ...]] = []
    monkeypatch.setattr(job, "launch", lambda *args: launched.append(args) or 4242)

    app = AttachApp(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "stopped" in text_of(app.query_one("#run-header")))
        await pilot.click("#run-resume")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = text_of(app.screen.query_one("Static"), width=400)
        assert "The data of drift changed since the run started" in question
        assert (
            f"{data}: 1 more row (320 then, 321 now); label counts positive {counts['positive']} → "
            f"{counts['positive'] + 1}"
        ) in question
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert launched == []  # No: nothing started
        await pilot.click("#run-resume")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: bool(launched))
        assert launched == [(run, 1, True)]  # the job is told the user chose to go on
