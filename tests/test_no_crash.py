"""No crash to a traceback: a run that goes away under a view is said so and dropped from the list; any other
unexpected exception goes to the log file with its traceback, shows one line, and the app carries on."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from tests.conftest import wait_until
from tests.helpers import text_of
from tests.test_training_app import make_run
from tui_hf.core.training.events import EventWriter
from tui_hf.ui.app import make_app
from tui_hf.ui.main import MainScreen
from tui_hf.ui.training.run_view import TrainingView

SIZE = (150, 48)
OLDER, NEWER = "20260101-000000-tiny-native", "20260102-000000-tiny-native"
SPEC = '{"task": "text-classification", "model": "tiny", "data": {"train": "train.csv"}}'


def finished_runs(runs: Path) -> tuple[Path, Path]:
    """Two finished runs whose final model is recorded (the newer one is shown first)."""
    import os

    for k, name in enumerate((OLDER, NEWER)):
        make_run(runs / name, "native", "finished", 10)
        (runs / name / "spec.json").write_text(SPEC)
        (runs / name / "final").mkdir()
        EventWriter(runs / name).final(step=10, path=str(runs / name / "final"))
        os.utime(runs / name / "spec.json", (1e9 + k, 1e9 + k))
    return runs / OLDER, runs / NEWER


def notices(app: Any) -> list[str]:
    return [str(n.message) for n in app._notifications]


def run_names(app: Any) -> list[str]:
    table = app.query_one("#train-runs", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def shown_with_try(pilot: Any, app: Any, name: str) -> TrainingView:
    await pilot.press("f6")
    view = app.query_one("#train-view", TrainingView)
    await wait_until(
        pilot,
        lambda: (
            view.follower is not None and view.follower.run_dir.name == name and not app.query_one("#run-try").disabled
        ),
    )
    return view


@pytest.mark.parametrize("button", ["run-try", "run-resume", "run-xray", "run-export", "run-save", "run-script"])
async def test_a_run_deleted_under_the_view_is_said_so_and_dropped_from_the_list(
    app_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, button: str
) -> None:
    """The reported crash: finish a run, `tui-hf runs rm RUN` elsewhere, press Try model (or any button)."""
    older, newer = finished_runs(tmp_path / "runs")
    polling = [True]  # turned off below: only the button may notice the deletion (no race with the poll)
    poll = TrainingView.poll
    monkeypatch.setattr(TrainingView, "poll", lambda self: poll(self) if polling[0] else None)
    monkeypatch.setattr("tui_hf.ui.training.training.REFRESH_SECONDS", 600)  # the list's own tick cannot drop it
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        view = await shown_with_try(pilot, app, NEWER)
        await wait_until(pilot, lambda: run_names(app) == [NEWER, OLDER] and not view._reading)
        polling[0] = False
        shutil.rmtree(newer)
        target = app.query_one(f"#{button}")
        target.disabled = False  # pressed before the next poll could notice: the button itself must check
        target.press()
        await wait_until(pilot, lambda: any(f"{NEWER} is gone (deleted or moved)" in n for n in notices(app)))
        assert [n for n in notices(app) if NEWER in n] == [
            f"{NEWER} is gone (deleted or moved): nothing to do with it."
        ]
        # The list drops it at once (not at its next 2 s tick) and the view shows the run that is left.
        await wait_until(pilot, lambda: run_names(app) == [OLDER], timeout=5)
        await wait_until(pilot, lambda: view.follower is not None and view.follower.run_dir == older)
        assert app.is_running and isinstance(app.screen, MainScreen)
        assert app.task_spec.name == "feature-extraction"  # nothing was loaded from the gone run


async def test_a_run_deleted_while_shown_is_noticed_without_pressing_anything(
    app_settings: Any, tmp_path: Path
) -> None:
    _, newer = finished_runs(tmp_path / "runs")
    (tmp_path / "runs" / OLDER).rename(tmp_path / "elsewhere")  # one run only: nothing to follow after it
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        view = await shown_with_try(pilot, app, NEWER)
        await wait_until(pilot, lambda: view._plot is not None and view._plot._datasets)  # its curves drawn
        shutil.rmtree(newer)
        await wait_until(pilot, lambda: "gone: deleted or moved" in text_of(app.query_one("#run-header")), timeout=3)
        assert all(b.disabled for b in app.query("#run-controls Button"))
        assert view._plot is not None and not view._plot._datasets  # no curve of the gone run left behind
        await wait_until(pilot, lambda: "no runs yet" in " ".join(run_names(app)), timeout=3)


async def test_a_run_changed_under_the_view_gets_a_message_not_a_crash(app_settings: Any, tmp_path: Path) -> None:
    _, newer = finished_runs(tmp_path / "runs")
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await shown_with_try(pilot, app, NEWER)
        (newer / "spec.json").write_text("{not json")  # edited by hand since it finished
        app.query_one("#run-try").press()
        await wait_until(pilot, lambda: any("spec.json" in n for n in notices(app)))
        (newer / "spec.json").write_text(SPEC)
        shutil.rmtree(newer / "final")  # its model deleted, the run kept
        app.query_one("#run-try").press()
        await wait_until(pilot, lambda: any("is no longer there" in n for n in notices(app)))
        assert app.task_spec.name == "feature-extraction" and isinstance(app.screen, MainScreen)


async def test_compare_and_xray_say_a_run_went_away_while_they_were_open(app_settings: Any, tmp_path: Path) -> None:
    from textual.widgets import Input

    from tui_hf.ui.training.cockpit import CompareRunsScreen, XrayScreen

    older, newer = finished_runs(tmp_path / "runs")
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await shown_with_try(pilot, app, NEWER)
        app.push_screen(CompareRunsScreen([newer, older]))
        await wait_until(
            pilot,
            lambda: (
                isinstance(app.screen, CompareRunsScreen)
                and app.screen.query("#compare-runs-text")
                and OLDER in text_of(app.screen.query_one("#compare-runs-text"))
            ),
        )  # both runs compared
        shutil.rmtree(older)
        app.screen._load("epoch")  # the x axis changed after the run was deleted
        await wait_until(pilot, lambda: f"{OLDER} is gone" in text_of(app.screen.query_one("#compare-runs-text")))
        app.screen.dismiss(None)
        app.push_screen(XrayScreen(newer, 3, []))
        await wait_until(pilot, lambda: isinstance(app.screen, XrayScreen) and app.screen.query("#xray-step"))
        shutil.rmtree(newer)
        app.screen.query_one("#xray-step", Input).value = "4"
        app.screen.query_one("#xray-show").press()
        await wait_until(pilot, lambda: f"{NEWER} is gone" in text_of(app.screen.query_one("#xray-view")))


# -- the safety net ---------------------------------------------------------------------------------------


def log_text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


async def test_an_unexpected_exception_is_logged_shown_in_one_line_and_the_app_carries_on(
    app_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = app_settings(runs_dir=tmp_path / "runs", keep_running_on_error=True)
    make_run(tmp_path / "runs" / NEWER, "native", "finished", 10)

    def broken(self: Any) -> None:
        raise RuntimeError("boom in clear input")

    monkeypatch.setattr(MainScreen, "action_clear_input", broken)
    app = make_app(settings)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+l")  # a key binding on the main screen: its message loop must survive
        await wait_until(pilot, lambda: any("boom in clear input" in n for n in notices(app)))
        note = next(n for n in notices(app) if "boom in clear input" in n)
        assert "\n" not in note and "RuntimeError" in note and str(settings.log_path) in note
        log = log_text(settings.log_path)
        assert "Traceback (most recent call last)" in log and "RuntimeError: boom in clear input" in log
        assert "def broken" in log or "in broken" in log  # the frame that raised, not only the message
        await pilot.press("ctrl+l")  # the same bug again: one notice and one traceback were enough
        await pilot.pause(0.2)
        assert sum("boom in clear input" in n for n in notices(app)) == 1
        assert log_text(settings.log_path).count("RuntimeError: boom in clear input") == 1
        # Still up and answering keys: the main screen's loop still runs.
        await pilot.press("f6")
        view = app.query_one("#train-view", TrainingView)
        await wait_until(pilot, lambda: view.follower is not None and view.follower.run_dir.name == NEWER)

        # A widget's handler that raises: the widget stays (Textual removes one whose loop ended) and polls on.
        def broken_export(*args: Any) -> int:
            raise ValueError("export exploded")

        monkeypatch.setattr("tui_hf.core.training.events.to_csv", broken_export)
        app.query_one("#run-export").press()
        await wait_until(pilot, lambda: any("export exploded" in n for n in notices(app)))
        assert app.query_one("#train-view", TrainingView) is view and view.is_mounted
        EventWriter(tmp_path / "runs" / NEWER).status("finished", message="rewritten after the bug")
        await wait_until(pilot, lambda: "rewritten after the bug" in text_of(app.query_one("#run-header")), timeout=5)

        # A thread worker started with exit_on_error=False fails silently in Textual: here it is reported too.
        from tui_hf.core.training.follow import Follower

        def broken_poll(self: Any) -> bool:
            raise OSError("events unreadable")

        monkeypatch.setattr(Follower, "poll", broken_poll)
        await wait_until(pilot, lambda: any("events unreadable" in n for n in notices(app)), timeout=5)
        assert "OSError: events unreadable" in log_text(settings.log_path)

        # A coroutine worker (exit_on_error=True: Textual would exit) as the palette runs its commands.
        async def broken_command() -> None:
            raise KeyError("palette command")

        app.main.run_worker(broken_command())
        await wait_until(pilot, lambda: any("palette command" in n for n in notices(app)))
        assert app.is_running and isinstance(app.screen, MainScreen)


async def test_when_the_app_does_stop_on_a_bug_its_traceback_is_in_the_log(
    app_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keep_running_on_error off (as in the other tests): Textual's exit, and still the README's promise."""
    settings = app_settings()

    def broken(self: Any) -> None:
        raise RuntimeError("boom that stops the app")

    monkeypatch.setattr(MainScreen, "action_clear_input", broken)
    app = make_app(settings)
    with pytest.raises(RuntimeError, match="boom that stops the app"):
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+l")
            await pilot.pause(0.5)
    log = log_text(settings.log_path)
    assert "Traceback (most recent call last)" in log and "RuntimeError: boom that stops the app" in log


async def test_attach_says_its_run_is_gone_and_stays_up_after_a_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_hf.ui.training.attach import AttachApp

    def broken_export(*args: Any) -> int:
        raise ValueError("export exploded")

    monkeypatch.setattr("tui_hf.core.training.events.to_csv", broken_export)
    _, newer = finished_runs(tmp_path / "runs")
    app = AttachApp(newer)
    app.log_path = tmp_path / "tui-hf.log"
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_until(pilot, lambda: "finished" in text_of(app.query_one("#run-header")))
        app.query_one("#run-export").press()
        await wait_until(pilot, lambda: any("export exploded" in n for n in notices(app)))
        assert "ValueError: export exploded" in log_text(tmp_path / "tui-hf.log")
        shutil.rmtree(newer)
        await wait_until(pilot, lambda: "gone: deleted or moved" in text_of(app.query_one("#run-header")), timeout=3)
        assert any(f"{NEWER} is gone" in n for n in notices(app)) and app.is_running


async def test_an_overlaid_run_deleted_leaves_the_chart(
    app_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tui_hf.ui.training.training.REFRESH_SECONDS", 600)  # only the view's own poll may notice
    older, _ = finished_runs(tmp_path / "runs")
    app = make_app(app_settings(runs_dir=tmp_path / "runs"))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        view = await shown_with_try(pilot, app, NEWER)
        await wait_until(pilot, lambda: view._plot is not None and view._plot._datasets)
        alone = len(view._plot._datasets)  # the run's own curves
        app.query_one("#run-overlay").value = True
        await wait_until(pilot, lambda: len(view._plot._datasets) == alone + 1)  # and the other run's
        drawn = alone + 1
        shutil.rmtree(older)
        await wait_until(pilot, lambda: older not in view.overlays, timeout=3)
        await wait_until(pilot, lambda: len(view._plot._datasets) < drawn, timeout=3)
        assert view.follower is not None and view.follower.run_dir.name == NEWER and app.is_running
