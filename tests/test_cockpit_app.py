"""The training cockpit as a user meets it in the Training tab and `tui-hf attach`: an alert that leads to
its step's batch, the batch X-ray, steering a live job, runs compared, the chart's options.

The runs are real (a tiny BERT trained in this process with the job's own drive(); a NaN made at an exact
step through a forward hook), so the step the test broke is the truth the view is checked against.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Checkbox, DataTable, Input, Select

from tests.conftest import wait_until
from tests.helpers import text_of
from tests.test_cockpit import AtStep, drive_inline, make_run
from tui_hf.core.training.chart import ChartOptions, build_chart
from tui_hf.core.training.events import RunState, read_state
from tui_hf.ui.app import make_app
from tui_hf.ui.training.cockpit import CompareRunsScreen, XrayScreen
from tui_hf.ui.training.run_view import TrainingView

WIDE, SMALL = (200, 50), (80, 24)
NAN_STEP = 3
BROKEN = "20261125-213018-tiny-native-nan-at-step-3"  # as long as a real run name: the dialogs must fit it


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, tiny_bert_cls_dir: Path) -> tuple[Path, Path]:
    """Two finished native runs that differ only in learning rate; the second had a NaN loss at NAN_STEP."""
    root = tmp_path_factory.mktemp("cockpit-app")
    calm = make_run(root, tiny_bert_cls_dir, "native", "calm", max_steps=6, batch_size=4, learning_rate=1e-3)
    drive_inline(calm)

    def nan_at_step(model: Any) -> None:
        AtStep(model).on_forward(
            lambda step, out: out.__setitem__("loss", out.loss * math.nan) if step == NAN_STEP else None
        )

    broken = make_run(root, tiny_bert_cls_dir, "native", BROKEN, max_steps=6, batch_size=4, learning_rate=5e-3)
    drive_inline(broken, nan_at_step)
    return calm, broken


def cursor_on(table: DataTable[Any], name: str) -> None:
    """Put the runs list's cursor on the run called `name` (by its row's key, the run's path: at 80 columns a
    long name is shown elided)."""
    table.focus()
    table.move_cursor(row=[Path(str(row.key.value)).name for row in table.ordered_rows].index(name))


def batch_record(run_dir: Path, step: int) -> dict[str, Any]:
    for line in (run_dir / "batches.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("step") == step:
            return rec
    raise AssertionError(f"step {step} not recorded")


@pytest.mark.parametrize("size", [SMALL, WIDE])
async def test_an_alert_leads_to_the_batch_of_its_step(
    app_settings: Any, two_runs: tuple[Path, Path], size: tuple[int, int]
) -> None:
    calm, broken = two_runs
    app = make_app(app_settings(runs_dir=broken.parent))
    async with app.run_test(size=size) as pilot:
        await pilot.press("f6")
        view = app.query_one("#train-view", TrainingView)
        table = app.query_one("#train-runs", DataTable)
        await wait_until(pilot, lambda: table.row_count == 2)
        cursor_on(table, BROKEN)
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: (
                view.follower is not None
                and view.follower.run_dir == broken
                and "alerts" in text_of(app.query_one("#run-evals"), width=300)
            ),
        )
        assert f"step {NAN_STEP}:" in text_of(app.query_one("#run-evals"), width=300)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, XrayScreen))
        xray = app.screen
        assert xray.query_one("#xray-step", Input).value == str(NAN_STEP)  # the alert's step, not the last one
        for selector in ("#xray-step", "#xray-show", "#xray-close"):  # whole, even at 80 columns
            region = xray.query_one(selector).region
            assert region.width >= 4 and xray.query_one("#xray-dialog").content_region.contains_region(region), selector
        await wait_until(
            pilot, lambda: "matches the one trained" in text_of(xray.query_one("#xray-view"), 300), timeout=60
        )
        shown = text_of(xray.query_one("#xray-view"), width=300)
        rows = batch_record(broken, NAN_STEP)["rows"]
        assert f"step {NAN_STEP} · {len(rows)} rows" in shown
        assert len(re.findall(r"^\[\d+\] line \d+ · ", shown, flags=re.M)) == len(rows)  # a block per row
        # Another step, typed in.
        xray.query_one("#xray-step", Input).value = "5"
        xray.query_one("#xray-step", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: "step 5 · " in text_of(xray.query_one("#xray-view"), width=300), timeout=60)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, XrayScreen))


async def test_a_changed_data_file_shows_in_the_xray(
    app_settings: Any, tiny_bert_cls_dir: Path, tmp_path: Path
) -> None:
    from tui_hf.data import SENTIMENT_CSV

    data = tmp_path / "reviews.csv"
    data.write_text(SENTIMENT_CSV.read_text())
    run_dir = make_run(tmp_path, tiny_bert_cls_dir, "native", "edited", data=data, max_steps=2, batch_size=4)
    drive_inline(run_dir)
    with open(data, newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(data, "w", newline="") as fh:  # the same rows and labels, each text edited after training
        writer = csv.DictWriter(fh, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows({"text": "really " + r["text"], "label": r["label"]} for r in rows)
    app = make_app(app_settings(runs_dir=run_dir.parent))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("f6")
        view = app.query_one("#train-view", TrainingView)
        await wait_until(pilot, lambda: view.follower is not None and view.follower.status == "finished")
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, XrayScreen))
        view_text = lambda: text_of(app.screen.query_one("#xray-view"), 300)  # noqa: E731
        checked = lambda: not any(w in view_text() for w in ("rebuilding", "checking it against"))  # noqa: E731
        await wait_until(pilot, checked, timeout=60)
        assert "DIFFERS" in view_text(), view_text()
        # What is shown is the batch the job trained (its own copy), not the edited data's.
        assert "shown: the batch as the job trained it" in view_text() and "really" not in view_text()
        # Step 1 has no copy (the job keeps its last and flagged steps): today's rows, said to be so.
        app.screen.query_one("#xray-step", Input).value = "1"
        app.screen.query_one("#xray-step", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: "step 1 · " in view_text() and checked(), timeout=60)
        assert "DIFFERS from the one trained; shown: the data as it is now, not what trained" in view_text()
        assert "really" in view_text()
        # The data gone: the job's copy stays on screen, unchecked, and says why.
        data.unlink()
        app.screen.query_one("#xray-step", Input).value = "2"  # the step with a copy
        await pilot.press("enter")
        await wait_until(pilot, lambda: "step 2 · " in view_text() and checked(), timeout=60)
        assert "as the job trained it (its own copy) · not checked against the data (hash " in view_text()
        assert str(data) in view_text() and "[0] line " in view_text()


async def test_compare_names_the_setting_that_differs(app_settings: Any, two_runs: tuple[Path, Path]) -> None:
    calm, broken = two_runs
    app = make_app(app_settings(runs_dir=calm.parent))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("f6")
        view = app.query_one("#train-view", TrainingView)
        table = app.query_one("#train-runs", DataTable)
        await wait_until(pilot, lambda: table.row_count == 2 and view.follower is not None)
        cursor_on(table, "calm" if view.follower.run_dir == broken else BROKEN)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareRunsScreen))
        screen = app.screen
        await wait_until(pilot, lambda: "learning_rate" in text_of(screen.query_one("#compare-runs-text"), 200))
        text = text_of(screen.query_one("#compare-runs-text"), width=200)
        spec_part = text.split("learning_rate")[0] + text.split("learning_rate")[1].split("\n")[0]
        for same in ("seed", "batch_size", "max_steps", "engine"):
            assert same not in spec_part, same
        await wait_until(pilot, lambda: screen._plot is not None)
        screen.query_one("#compare-runs-axis", Select).value = "samples"
        await wait_until(pilot, lambda: "samples" in str(screen._plot._x_label))


def test_the_chart_options_draw_what_they_say() -> None:
    state = RunState()
    losses = [2.0, 1.0, math.nan, 0.5, 0.25, 0.125]
    state.train = [(i + 1, v) for i, v in enumerate(losses)]
    state.lr = [(i + 1, 1e-3 * (i + 1)) for i in range(len(losses))]
    state.total_steps = 10
    state.evals = [{"step": 4, "eval_loss": 0.8}]
    finite = [(s, v) for s, v in state.train if math.isfinite(v)]

    raw = build_chart(state, ChartOptions(smoothing="raw", show_eval=False))
    assert [s.role for s in raw.series] == ["raw"] and raw.series[0].ys == [v for _, v in finite]
    assert raw.notes == ["1 non-finite loss values not drawn"] and raw.x_limits == (0.0, 10.0)

    logged = build_chart(state, ChartOptions(smoothing="raw", log_y=True, show_eval=True))
    assert logged.series[0].ys == pytest.approx([math.log10(v) for _, v in finite])
    assert logged.series[1].role == "eval" and logged.series[1].ys == pytest.approx([math.log10(0.8)])
    assert logged.y_label == "log10 loss"

    window = build_chart(state, ChartOptions(smoothing="window 10", show_eval=False))
    values = [v for _, v in finite]
    assert window.series[0].ys == pytest.approx([sum(values[: i + 1]) / (i + 1) for i in range(len(values))])

    ema = build_chart(state, ChartOptions(smoothing="EMA 0.8", show_eval=False)).series[0].ys
    avg, expected = 0.0, []
    for i, v in enumerate(values, 1):  # TensorBoard's bias-corrected EMA, written out
        avg = 0.8 * avg + 0.2 * v
        expected.append(avg / (1 - 0.8**i))
    assert ema == pytest.approx(expected)

    with_lr = build_chart(state, ChartOptions(smoothing="raw", show_lr=True, show_eval=False))
    lr = with_lr.series[-1]
    bottom, top = with_lr.y_limits
    assert lr.role == "lr" and "6.0e-03" in lr.label
    assert lr.ys[-1] == pytest.approx(bottom + 0.95 * (top - bottom)) and lr.ys[0] < lr.ys[-1]


async def test_chart_options_change_the_plot(app_settings: Any, two_runs: tuple[Path, Path]) -> None:
    calm, _ = two_runs
    from tui_hf.ui.training.attach import AttachApp

    app = AttachApp(calm)
    async with app.run_test(size=SMALL) as pilot:
        view = app.query_one(TrainingView)
        await wait_until(pilot, lambda: view._plot is not None)
        state = read_state(calm)
        # Smoothing is on by default: the EMA curve drawn is TensorBoard's bias-corrected EMA of the losses.
        await wait_until(pilot, lambda: "train loss, EMA" in view._plot._labels)
        losses, avg, ema = [v for _, v in state.train], 0.0, []
        for i, v in enumerate(losses, 1):
            avg = 0.8 * avg + 0.2 * v
            ema.append(avg / (1 - 0.8**i))
        drawn = view._plot._datasets[view._plot._labels.index("train loss, EMA")]
        assert list(drawn.y) == pytest.approx(ema)
        app.query_one("#run-smoothing", Select).value = "raw"
        await wait_until(
            pilot, lambda: view._plot is not None and "train loss, EMA" not in view._plot._labels, timeout=5
        )
        assert view._plot._labels[0] == "train loss", view._plot._labels
        app.query_one("#run-smoothing", Select).value = "raw + EMA"
        await pilot.press("l")  # log y
        await wait_until(pilot, lambda: "log10" in str(view._plot._y_label))
        app.query_one("#run-show-lr", Checkbox).value = True
        await wait_until(pilot, lambda: any("lr (top" in str(label) for label in view._plot._labels))
        peak = max(v for _, v in state.lr)
        assert any(f"{peak:.1e}" in str(label) for label in view._plot._labels)


def test_the_best_metric_is_a_result_of_training_not_the_baseline() -> None:
    state = RunState()
    state.evals = [
        {"step": 0, "eval_accuracy": 0.9},
        {"step": 5, "eval_accuracy": 0.6},
        {"step": 10, "eval_accuracy": math.nan},
        {"step": 15, "eval_accuracy": 0.7},
    ]
    assert state.best() == ("accuracy", 0.7)
    state.evals = state.evals[:1]
    assert state.best() is None  # only the evaluation before step 1: nothing trained yet
