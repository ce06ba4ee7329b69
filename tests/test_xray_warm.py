"""The batch X-ray prepared in the background: a viewer on a run with recorded batches imports the libraries,
loads the tokenizer and tokenizes the data while the person reads the chart, so that x shows the batch at once.

One run is trained in this process (3 steps, the tiny classifier, the shipped reviews); each test views a copy.
How often the data is tokenized (core.training.data.prepare, counted) is the truth the warm-up is checked by.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until
from tests.helpers import text_of
from tests.test_cockpit import drive_inline, make_run
from tests.training_fixtures import datasets_cache  # noqa: F401
from tui_hf.core.training import xray as xray_module
from tui_hf.ui.training.attach import AttachApp
from tui_hf.ui.training.run_view import TrainingView

SIZE = (150, 48)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_bert_cls_dir: Path) -> Path:
    run_dir = make_run(tmp_path_factory.mktemp("warm"), tiny_bert_cls_dir, "native", "warm", max_steps=3)
    drive_inline(run_dir)
    assert (run_dir / "batches.jsonl").stat().st_size > 0
    return run_dir


@pytest.fixture
def run_dir(trained: Path, tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "runs" / "warm"
    shutil.copytree(trained, copy)
    xray_module._PREPARED.clear()  # a fresh viewer: nothing prepared yet
    yield copy
    xray_module._PREPARED.clear()


@pytest.fixture
def prepares(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per tokenization of a run's data (what costs the seconds)."""
    import tui_hf.core.training.data as data_module

    calls: list[int] = []
    real = data_module.prepare
    monkeypatch.setattr(data_module, "prepare", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def viewer(run_dir: Path, tmp_path: Path) -> AttachApp:
    app = AttachApp(run_dir)
    app.keep_running_on_error = False  # a bug fails the test at once
    app.log_path = tmp_path / "tui-hf.log"
    return app


def shown(app: Any) -> str:
    views = app.screen.query("#xray-view")
    return text_of(views.first(), width=400) if views else ""


def prepared(run_dir: Path) -> bool:
    return any(p.resolve() == run_dir.resolve() for p in xray_module._PREPARED)


async def test_an_idle_viewer_prepares_the_xray_and_x_shows_it_without_tokenizing_again(
    run_dir: Path, tmp_path: Path, prepares: list[int]
) -> None:
    app = viewer(run_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        # Nobody pressed anything: the view alone got the run ready.
        await wait_until(pilot, lambda: prepared(run_dir), timeout=60)
        assert len(prepares) == 1
        await pilot.press("x")
        await wait_until(pilot, lambda: "rebuilt batch matches the one trained" in shown(app), timeout=30)
        assert "step 3 · 16 rows" in shown(app)
        assert len(prepares) == 1  # the X-ray took what the warm-up made


async def test_a_run_without_recorded_batches_is_not_prepared(
    run_dir: Path, tmp_path: Path, prepares: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    (run_dir / "batches.jsonl").unlink()  # as with record_batches off
    warmed: list[Path] = []
    real = xray_module.warm
    monkeypatch.setattr(xray_module, "warm", lambda d, **k: warmed.append(Path(d)) or real(d, **k))
    app = viewer(run_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TrainingView)
        await wait_until(pilot, lambda: "finished" in text_of(app.query_one("#run-header")), timeout=30)
        await pilot.pause(1.5)  # a warm-up would have started right after this frame
        assert app.query_one("#run-xray").disabled and view.follower is not None
        assert warmed == [] and prepares == [] and not xray_module._PREPARED


@pytest.mark.parametrize("kept", [True, False], ids=["job's copy", "no copy"])
async def test_x_pressed_during_the_warm_up_shows_the_jobs_copy_at_once_then_the_checked_batch(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: bool
) -> None:
    """The job kept its last step's batch (runs/<id>/xray/): x shows it while the data is still being
    tokenized, then the same rows checked against the data. A run without the copy (an older version's, or
    one whose copy could not be written) waits for the rebuild as before."""
    import tui_hf.core.training.data as data_module

    if not kept:
        shutil.rmtree(run_dir / "xray")
    began, release = threading.Event(), threading.Event()
    calls: list[int] = []
    real = data_module.prepare

    def slow(*args: Any, **kwargs: Any) -> Any:  # the warm-up is still tokenizing when x is pressed
        calls.append(1)
        began.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(data_module, "prepare", slow)
    app = viewer(run_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, began.is_set, timeout=60)
        await pilot.press("x")
        if kept:
            await wait_until(pilot, lambda: "checking it against the data" in shown(app), timeout=10)
            early = shown(app)
            assert "as the job trained it" in early and "step 3 · 16 rows" in early
            assert not release.is_set() and len(calls) == 1  # shown while the data was still being read
        else:
            await wait_until(pilot, lambda: "rebuilding the batch of step 3" in shown(app), timeout=10)
        await pilot.pause(0.5)  # the X-ray's thread reaches the preparation meanwhile
        release.set()
        await wait_until(pilot, lambda: "rebuilt batch matches the one trained" in shown(app), timeout=30)
        assert len(calls) == 1
        if kept:  # the rows the job kept are the rows rebuilt from the data, token for token
            assert _rows_of(early) == _rows_of(shown(app)) and len(_rows_of(early)) > 16


def _rows_of(text: str) -> list[str]:
    """The X-ray's lines from its first row on (the header and the check line above them differ)."""
    lines = text.splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith("[0] ")) :]


async def test_a_failed_warm_up_is_quiet_and_the_xray_says_what_is_wrong(
    run_dir: Path, tmp_path: Path, prepares: list[int]
) -> None:
    spec = run_dir / "spec.json"
    spec.write_text('{"task": ', encoding="utf-8")  # damaged after training
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("tui_hf.ui")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        app = viewer(run_dir, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: any("warm-up" in r.getMessage() for r in records), timeout=60)
            assert not app._notifications  # nothing on screen about it until the X-ray is asked for
            await pilot.press("x")
            await wait_until(pilot, lambda: "not valid JSON" in shown(app), timeout=30)
            assert f"{spec}, line 1: not valid JSON" in shown(app)
            assert prepares == [] and not prepared(run_dir)
            assert not app._notifications  # the warm-up's failure never reached the screen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_the_app_prepares_only_the_run_its_training_tab_shows(
    run_dir: Path, tmp_path: Path, prepares: list[int], app_settings: Any
) -> None:
    from tui_hf.ui.app import make_app

    other = tmp_path / "elsewhere" / "other"
    shutil.copytree(run_dir, other)
    app = make_app(app_settings(runs_dir=run_dir.parent))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(1.0)
        assert prepares == []  # the inference tabs: no training pane, nothing prepared
        await pilot.press("f6")
        await wait_until(pilot, lambda: prepared(run_dir), timeout=60)
        await pilot.press("f2")  # back to the tokens; the view follows another run meanwhile
        view = app.query_one("#train-view", TrainingView)
        view.follow(other)
        header = lambda: text_of(app.query_one("#run-header"))  # noqa: E731
        await wait_until(pilot, lambda: "other" in header() and "finished" in header(), timeout=30)
        await pilot.pause(2.5)  # the list's next read (2 s) redraws the view too: while it is hidden
        assert not prepared(other) and len(prepares) == 1
        await pilot.press("f6")  # shown again: now it is prepared
        await wait_until(pilot, lambda: prepared(other), timeout=60)
        assert len(prepares) == 2
