"""The job's own copy of the batches it trains (runs/<id>/xray/), what a fresh viewer shows at once.

The truth a copy is checked against is the batch rebuilt from the data files (xray.xray, whose hash is
compared with the one the forward pass recorded): token for token, label for label, for each family the
rows differ in (classes, tags, answer spans, decoder targets, random masks, accumulated micro-batches).
Jobs run in this process (the job's own drive()), so the clock the copies are paced by can be stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.test_cockpit import AtStep, drive_inline
from tests.training_fixtures import datasets_cache  # noqa: F401
from tui_hf.core.training import snapshots
from tui_hf.core.training.events import read_state
from tui_hf.core.training.job import create_run
from tui_hf.core.training.snapshots import kept
from tui_hf.core.training.spec import DataSpec, LoraSpec, TrainSpec
from tui_hf.core.training.xray import read_batches, xray
from tui_hf.data import ENTITIES_JSONL, HEADLINES_JSONL, QA_JSONL, SENTIMENT_CSV

REVIEWS = DataSpec(train=str(SENTIMENT_CSV), max_length=32)


def run(
    tmp_path: Path,
    model: Path,
    data: DataSpec = REVIEWS,
    before: Callable[[Path], Any] | None = None,
    install: Callable[[Any], None] | None = None,
    **overrides: Any,
) -> Path:
    """A finished run trained in this process; `before(run_dir)` runs once it is made, `install(model)` once
    the model is loaded (drive_inline)."""
    base: dict[str, Any] = dict(
        model=str(model), epochs=1, batch_size=4, max_steps=3, logging_steps=1, device="cpu", seed=1, warmup=0.0
    )
    spec = TrainSpec(data=data, **{**base, **overrides})
    run_dir = create_run(spec, tmp_path / "runs", name="kept")
    if before is not None:
        before(run_dir)
    drive_inline(run_dir, install)
    assert read_state(run_dir).status == "finished"
    return run_dir


@pytest.fixture
def every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pacing: each step is kept, so the last copy is of the last step."""
    monkeypatch.setattr(snapshots, "INTERVAL", 0.0)
    monkeypatch.setattr(snapshots, "BUDGET", 0.0)


def same_batch(copy: Any, rebuilt: Any) -> None:
    assert rebuilt.matches, rebuilt.problems
    assert copy.kept_by_job and copy.rebuilt_hash is None and copy.recorded_hash == rebuilt.recorded_hash
    mine, truth = dataclasses.asdict(copy), dataclasses.asdict(rebuilt)
    for name in ("rows", "padded_length", "tokens", "supervised", "supervised_share", "micro_batches", "task"):
        assert mine[name] == truth[name], name
    assert copy.loss == pytest.approx(rebuilt.loss, nan_ok=True)


CASES = {
    # family: (model fixture, data, spec overrides)
    "classes, 2 micro-batches (trainer)": (
        "tiny_bert_cls_dir",
        DataSpec(train=str(SENTIMENT_CSV), max_length=32),
        dict(engine="trainer", grad_accum=2),
    ),
    "tags": (
        "tiny_ner_dir",
        DataSpec(train=str(ENTITIES_JSONL), text_column="tokens", label_column="ner_tags", max_length=32),
        dict(engine="native", task="token-classification", replace_head=True),
    ),
    "answer spans": (
        "tiny_qa_dir",
        DataSpec(train=str(QA_JSONL), max_length=64, doc_stride=16),
        dict(engine="native", task="question-answering"),
    ),
    "decoder targets": (
        "tiny_bart_dir",
        DataSpec(train=str(HEADLINES_JSONL), text_column="source", target_column="target", max_length=32),
        dict(engine="native", task="seq2seq"),
    ),
    "next tokens, LoRA adapters (trainer)": (
        "tiny_gpt2_dir",
        DataSpec(train=str(SENTIMENT_CSV), max_length=32),
        dict(engine="trainer", task="causal-lm", lora=LoraSpec(r=4)),
    ),
    "random masks (trainer)": (
        "tiny_mlm_dir",
        DataSpec(train=str(SENTIMENT_CSV), max_length=32),
        dict(engine="trainer", task="masked-lm"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_job_keeps_the_batch_its_step_trained_as_the_data_rebuilds_it(
    case: str, tmp_path: Path, every_step: None, request: pytest.FixtureRequest
) -> None:
    fixture, data, overrides = CASES[case]
    run_dir = run(tmp_path, request.getfixturevalue(fixture), data, **overrides)
    copy = kept(run_dir, None)
    assert copy is not None and copy.step == max(read_batches(run_dir)) == 3
    same_batch(copy, xray(run_dir, 3))
    if overrides.get("grad_accum"):
        assert copy.micro_batches == 2
    assert [p.name for p in (run_dir / "xray").iterdir()] == ["latest.json"]  # nothing flagged: no step file


def test_copies_are_paced_a_flagged_step_is_kept_and_the_last_step_when_training_ends(
    tmp_path: Path, tiny_bert_cls_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock stands still: after the first step only the flagged step (a NaN loss at step 3) is kept
    while training, and the last step (6) when it ends: x on a finished run opens it."""
    monkeypatch.setattr(snapshots, "monotonic", lambda: 1000.0)
    offered: list[int] = []
    real = snapshots.Snapshots._build
    monkeypatch.setattr(snapshots.Snapshots, "_build", lambda self, o: offered.append(o.step) or real(self, o))

    def nan_at_step_3(model: Any) -> None:
        AtStep(model).on_forward(lambda step, out: out.__setitem__("loss", out.loss * math.nan) if step == 3 else None)

    run_dir = run(tmp_path, tiny_bert_cls_dir, install=nan_at_step_3, engine="native", max_steps=6, sentinel="warn")
    assert offered == [1, 3, 6]
    assert sorted(p.name for p in (run_dir / "xray").iterdir()) == ["latest.json", "step-3.json"]
    flagged = kept(run_dir, 3)
    assert flagged is not None and flagged.loss is not None and math.isnan(flagged.loss)
    same_batch(flagged, xray(run_dir, 3))
    last = kept(run_dir, None)
    assert last is not None and last.step == 6
    same_batch(last, xray(run_dir, 6))
    assert kept(run_dir, 2) is None  # neither flagged nor the last: the viewer rebuilds it


def test_a_copy_of_a_step_trained_again_since_is_not_shown(
    tmp_path: Path, tiny_bert_cls_dir: Path, every_step: None
) -> None:
    """A resumed attempt that trains step 3 again records a new hash for it: the old copy is not that batch."""
    run_dir = run(tmp_path, tiny_bert_cls_dir, DataSpec(train=str(SENTIMENT_CSV), max_length=32), engine="native")
    assert kept(run_dir, 3) is not None
    with open(run_dir / "batches.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({**read_batches(run_dir)[3], "hash": "0123456789abcdef"}) + "\n")
    assert kept(run_dir, 3) is None and kept(run_dir, None) is None
    # A job resumed from its checkpoint at step 2 drops the last copy (it would pass for the last step) and
    # keeps a flagged step's copy while the step trains again on the same batch (the sentinel does not flag a
    # replayed step twice), not when the batch differs.
    folder = run_dir / "xray"
    copy = json.loads((folder / "latest.json").read_text())
    for step in (2, 3, 12):
        (folder / f"step-{step}.json").write_text(json.dumps({**copy, "step": step}))
    job = snapshots.Snapshots(run_dir, "text-classification", None, None, resumed_at=2)
    assert sorted(p.name for p in folder.iterdir()) == ["step-12.json", "step-2.json", "step-3.json"]
    job.offer(
        snapshots.Offered(3, "0123456789abcdef", None, [], [], []), flagged=False
    )  # step 3 trained on another batch
    job.offer(snapshots.Offered(12, copy["recorded_hash"], None, [], [], []), flagged=False)  # step 12 on the same one
    assert sorted(p.name for p in folder.iterdir()) == ["step-12.json", "step-2.json"]
    # Damaged copies are no copies either: the viewer rebuilds.
    (run_dir / "batches.jsonl").write_text("")
    (run_dir / "xray" / "latest.json").write_text('{"step": 3, "rows": [')
    assert kept(run_dir, None) is None
    (run_dir / "xray" / "latest.json").write_text('{"step": 3, "rows": [], "colour": "blue"}')
    assert kept(run_dir, None) is None


def test_a_copy_that_cannot_be_written_never_stops_training(tmp_path: Path, tiny_bert_cls_dir: Path) -> None:
    def no_room(run_dir: Path) -> None:  # as a full disk or a read-only folder would
        (run_dir / "xray").write_text("a file where the folder goes")

    records: list[logging.LogRecord] = []
    handler = logging.Handler()  # on the module's logger itself: other tests may route tui_hf's logs elsewhere
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("tui_hf.core.training.snapshots")
    logger.addHandler(handler)
    try:
        run_dir = run(tmp_path, tiny_bert_cls_dir, before=no_room, engine="native")
    finally:
        logger.removeHandler(handler)
    state = read_state(run_dir)
    assert state.status == "finished" and state.step == 3 and sorted(read_batches(run_dir)) == [1, 2, 3]
    said = [r.getMessage() for r in records if "not kept" in r.getMessage()]
    assert len(said) == 1 and "step 1" in said[0]  # said once, not at each step


async def test_x_on_a_live_run_opens_the_last_step_the_job_kept(
    tmp_path: Path, tiny_bert_cls_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a job trains, the copy lags the last step by up to a second: x shows the step of the copy (the
    step box says which) at once, then checks that step against the data. Here the job kept step 1 only
    (the clock stood still and it never ended, as far as its copies go); the view knows of step 3."""
    import threading

    from textual.widgets import Input

    import tui_hf.core.training.data as data_module
    from tests.conftest import wait_until
    from tests.helpers import text_of
    from tests.test_xray_warm import SIZE, shown, viewer

    with monkeypatch.context() as during_training:
        during_training.setattr(snapshots, "monotonic", lambda: 1000.0)
        during_training.setattr(snapshots.Snapshots, "flush", lambda self: None)
        run_dir = run(tmp_path, tiny_bert_cls_dir, DataSpec(train=str(SENTIMENT_CSV), max_length=32), engine="native")
    assert kept(run_dir, None).step == 1
    release = threading.Event()
    real = data_module.prepare
    monkeypatch.setattr(data_module, "prepare", lambda *a, **k: release.wait(30) and real(*a, **k))
    app = viewer(run_dir, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "finished" in text_of(app.query_one("#run-header")), timeout=30)
        await pilot.press("x")
        await wait_until(pilot, lambda: "checking it against the data" in shown(app), timeout=10)
        assert "step 1 · 4 rows" in shown(app) and app.screen.query_one("#xray-step", Input).value == "1"
        release.set()
        await wait_until(pilot, lambda: "rebuilt batch matches the one trained" in shown(app), timeout=60)
        assert "step 1 · 4 rows" in shown(app)


def test_a_copy_that_fails_later_leaves_no_copy_to_pass_for_the_last_step(
    tmp_path: Path, tiny_bert_cls_dir: Path, every_step: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step 1 is kept, step 2's copy fails (a full disk for a moment): from then on the job keeps nothing, and
    step 1's copy is removed, or x on the finished run would open step 1 as if it were the last."""
    real = snapshots.Snapshots._build

    def fail_at_2(self: Any, o: snapshots.Offered) -> Any:
        if o.step == 2:
            raise OSError(28, "No space left on device")
        return real(self, o)

    monkeypatch.setattr(snapshots.Snapshots, "_build", fail_at_2)
    run_dir = run(tmp_path, tiny_bert_cls_dir, DataSpec(train=str(SENTIMENT_CSV), max_length=32), engine="native")
    assert sorted(read_batches(run_dir)) == [1, 2, 3]
    assert kept(run_dir, None) is None and list((run_dir / "xray").iterdir()) == []


def test_batch_command_shows_the_copy_unchecked_when_the_step_is_not_recorded(
    tmp_path: Path, tiny_bert_cls_dir: Path, every_step: None
) -> None:
    """batches.jsonl lost its last line (a copied run cut short, a full disk): the step cannot be rebuilt, and
    `tui-hf batch` shows the job's copy, unchecked, with why (exit 1), as the dialog does."""
    from tests.training_fixtures import tui_hf

    run_dir = run(tmp_path, tiny_bert_cls_dir, DataSpec(train=str(SENTIMENT_CSV), max_length=32), engine="native")
    lines = (run_dir / "batches.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "batches.jsonl").write_text("".join(lines[:-1]))
    out = tui_hf("batch", str(run_dir), "3")
    assert out.returncode == 1, out.stdout[-300:] + out.stderr
    assert "the batch as the job trained it (its own copy), not checked against the data" in out.stdout
    assert "problem: kept has no record of step 3: steps 1-2 were recorded" in out.stdout
    assert out.stdout.count("\n[") == 4 or out.stdout.count("] line ") == 4  # its 4 rows
    assert tui_hf("batch", str(run_dir), "9").returncode == 2  # no copy, no record: refused as before
