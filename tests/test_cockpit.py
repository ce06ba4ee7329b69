"""The training cockpit: sentinel alerts, steering a running job, the batch X-ray, predictions, run diffs,
`attach --once`.

Most runs here are driven in this process (the job's own `drive`), so a test can reach into the model with a
hook at an exact step: a loss made NaN at step k, a batch whose labels are all -100, a request dropped into
the control directory from inside step k. The step the test acted on is the truth the alerts and
acknowledgements are checked against.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.training_fixtures import datasets_cache, jobs, spec_for, tui_hf, wait_for  # noqa: F401
from tui_hf.core.training.events import EventReader, EventWriter, read_state
from tui_hf.core.training.sentinel import (
    EVAL_WORSE,
    GRAD_EXPLOSION,
    LOSS_SPIKE,
    NO_SUPERVISED,
    NONFINITE_LOSS,
    EarlyStopping,
    Sentinel,
    SentinelConfig,
    stall,
)
from tui_hf.data import SENTIMENT_CSV

# -- driving a job in this process ------------------------------------------------------------------------


def make_run(tmp_path: Path, model: Path, engine: str, name: str, data: Path | None = None, **overrides: Any) -> Path:
    from tui_hf.core.training.job import create_run

    columns = {k: overrides.pop(k) for k in ("text_column", "label_column") if k in overrides}
    spec = spec_for(model, engine, **{"max_steps": 8, "epochs": 1, **overrides})
    if data is not None:
        spec.data.train = str(data)
    for key, value in columns.items():
        setattr(spec.data, key, value)
    return create_run(spec, tmp_path / "runs", name=name)


def model_of(engine: Any) -> Any:
    return engine.core if hasattr(engine, "core") else engine.trainer.model


def drive_inline(run_dir: Path, install: Callable[[Any], None] | None = None) -> Any:
    """The job's drive() in this process; `install(model)` runs after prepare, before the first step."""
    from tui_hf.core.training import preflight
    from tui_hf.core.training.engine import Context, StopRequest, drive
    from tui_hf.core.training.engines import ENGINES
    from tui_hf.core.training.spec import TrainSpec

    spec = TrainSpec.load(run_dir / "spec.json")
    writer = EventWriter(run_dir)
    ctx = Context(
        spec=spec,
        run_dir=run_dir,
        writer=writer,
        stop=StopRequest(),
        plan=preflight.DataPlan.load(run_dir / preflight.DATA_PLAN),
    )
    engine = ENGINES[spec.engine](ctx)
    if install is not None:
        prepare = engine.prepare

        def prepared() -> Any:
            info = prepare()
            install(model_of(engine))
            return info

        engine.prepare = prepared  # type: ignore[method-assign]
    outcome = drive(engine, ctx)
    if outcome.final_path:
        writer.final(step=outcome.step, path=outcome.final_path)
    writer.status("stopped" if outcome.stopped else "finished", step=outcome.step, total_steps=outcome.total_steps)
    writer.close()
    return outcome


class AtStep:
    """Counts training forward passes (one per optimizer step here) and acts at chosen ones."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.step = 0

    def on_forward(self, act: Callable[[int, Any], Any]) -> None:
        def hook(module: Any, args: Any, kwargs: Any, output: Any) -> None:
            if module.training:
                self.step += 1
                act(self.step, output)  # in place: a hook's return value would replace the output

        self.model.register_forward_hook(hook, with_kwargs=True)


def alerts(run_dir: Path, kind: str | None = None) -> list[dict[str, Any]]:
    return [a for a in read_state(run_dir).alerts if kind is None or a["kind"] == kind]


def events(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    return [e for e in EventReader(run_dir).read() if e.get("event") == kind and not e.get("replay")]


# -- the sentinel's rules on plain numbers ----------------------------------------------------------------


def test_sentinel_rules_on_numbers() -> None:
    s = Sentinel(SentinelConfig(spike_factor=3, grad_norm_factor=5, worse_evals=2))
    found = []
    for step in range(1, 21):
        found += s.step(step, loss=1.0 if step != 15 else 4.0, grad_norm=1.0 if step != 17 else 9.0, supervised=8)
    assert [(a.kind, a.step) for a in found] == [(LOSS_SPIKE, 15), (GRAD_EXPLOSION, 17)]
    nan = s.step(21, loss=math.nan) + s.step(22, loss=math.nan) + s.step(23, loss=1.0) + s.step(24, loss=math.inf)
    assert [(a.kind, a.step) for a in nan] == [(NONFINITE_LOSS, 21), (NONFINITE_LOSS, 24)]  # once per episode
    assert [a.step for a in s.step(25, supervised=0)] == [25]
    worse = [a for i, v in enumerate([0.5, 0.6, 0.7, 0.8]) for a in s.evaluation(i, {"eval_loss": v})]
    assert [(a.kind, a.step) for a in worse] == [(EVAL_WORSE, 2)]
    acc = [a for i, v in enumerate([0.5, 0.6, 0.7]) for a in s.evaluation(i, {"eval_accuracy": v})]
    assert acc == []  # accuracy going up is not worse
    shorter = [a for i, v in enumerate([9.0, 8.0, 7.0, 6.0]) for a in s.evaluation(i, {"eval_gen_len": v})]
    assert shorter == []  # a seq2seq model writing shorter texts is neither better nor worse


def test_early_stopping_and_stall_rules() -> None:
    early = EarlyStopping("loss", patience=2)
    assert [early.update({"eval_loss": v}) for v in (1.0, 0.9, 0.95, 0.9)] == [False, False, False, True]
    assert stall([1.0, 1.2, 0.9], last_event=100.0, now=150.0, step=7) is None  # under the 60 s floor
    alert = stall([10.0, 12.0, 9.0], last_event=100.0, now=250.0, step=7)
    assert alert is not None and alert.step == 7 and "150 s" in alert.message


# -- alerts from a real training step ---------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["trainer", "native"])
def test_nan_step_flagged_at_its_step(tmp_path: Path, tiny_bert_cls_dir: Path, engine: str) -> None:
    """A loss made NaN at step 5 is flagged at step 5, even where Trainer's logging_nan_inf_filter hides it."""
    run_dir = make_run(tmp_path, tiny_bert_cls_dir, engine, f"nan-{engine}")

    def install(model: Any) -> None:
        AtStep(model).on_forward(lambda step, out: out.__setitem__("loss", out.loss * math.nan) if step == 5 else None)

    drive_inline(run_dir, install)
    found = alerts(run_dir, NONFINITE_LOSS)
    assert [a["step"] for a in found] == [5], found
    assert found[0]["level"] == "error" and found[0]["action"] == "warn"
    if engine == "trainer":
        logged = {e["step"]: e["loss"] for e in events(run_dir, "train")}
        assert math.isfinite(logged[5]), "Trainer's filter was expected to hide the NaN from the logged loss"
    assert "nonfinite-loss at step 5" in tui_hf("runs", "--runs-dir", str(run_dir.parent)).stdout


@pytest.mark.parametrize("engine", ["trainer", "native"])
def test_batch_without_supervised_tokens_flagged(tmp_path: Path, tiny_bert_cls_dir: Path, engine: str) -> None:
    import torch

    run_dir = make_run(tmp_path, tiny_bert_cls_dir, engine, f"empty-{engine}", max_steps=6)

    def install(model: Any) -> None:
        counter = {"n": 0}

        def pre(module: Any, args: Any, kwargs: dict[str, Any]) -> Any:
            if module.training:
                counter["n"] += 1
                if counter["n"] == 3:
                    kwargs["labels"] = torch.full_like(kwargs["labels"], -100)
            return args, kwargs

        model.register_forward_pre_hook(pre, with_kwargs=True)

    drive_inline(run_dir, install)
    assert [a["step"] for a in alerts(run_dir, NO_SUPERVISED)] == [3]


# -- steering -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["trainer", "native"])
def test_save_now_makes_a_loadable_checkpoint_at_that_step(
    tmp_path: Path, tiny_bert_cls_dir: Path, engine: str
) -> None:
    from transformers import AutoModelForSequenceClassification

    from tui_hf.core.training.control import Control, send_control

    run_dir = make_run(tmp_path, tiny_bert_cls_dir, engine, f"save-{engine}", max_steps=7)

    def install(model: Any) -> None:
        # Sent from inside step 3's forward pass: the job sees it at the end of step 3.
        AtStep(model).on_forward(
            lambda step, out: send_control(run_dir, Control("save"), require_alive=False) if step == 3 else None
        )

    drive_inline(run_dir, install)
    acks = [e for e in events(run_dir, "control") if e["action"] == "save"]
    assert len(acks) == 1 and acks[0]["via"] == "control" and acks[0]["request"] and not acks[0].get("refused")
    saved = [e for e in events(run_dir, "checkpoint") if e["step"] == 3]
    assert len(saved) == 1, events(run_dir, "checkpoint")
    assert saved[0]["path"] == "checkpoints/checkpoint-3"  # inside the run: recorded relative to it
    path = run_dir / saved[0]["path"]
    model = AutoModelForSequenceClassification.from_pretrained(path)
    assert model.config.id2label == {0: "negative", 1: "positive"}  # the data's labels, trained
    assert not list((run_dir / "control").iterdir())  # the request was consumed


@pytest.mark.parametrize("engine", ["trainer", "native"])
def test_early_stopping_armed_mid_run_stops_after_patience(
    tmp_path: Path, tiny_bert_cls_dir: Path, engine: str
) -> None:
    """A learning rate too small to change a float32 weight keeps eval_loss exactly flat: armed at the end of
    step 4 with patience 2, step 4's evaluation sets the best, the next two do not improve: stop at step 8."""
    from tui_hf.core.training.control import Control, send_control

    run_dir = make_run(
        tmp_path,
        tiny_bert_cls_dir,
        engine,
        f"early-{engine}",
        max_steps=40,
        eval_steps=2,
        learning_rate=1e-12,
        warmup=0,
    )

    def install(model: Any) -> None:
        AtStep(model).on_forward(
            lambda step, out: (
                send_control(run_dir, Control("early-stop", metric="eval_loss", patience=2), require_alive=False)
                if step == 4
                else None
            )
        )

    outcome = drive_inline(run_dir, install)
    evals = [e["step"] for e in events(run_dir, "eval") if e["step"] >= 4]
    assert evals == [4, 6, 8], evals  # and no second evaluation at the step it stopped
    assert len({e["eval_loss"] for e in events(run_dir, "eval") if e["step"] >= 4}) == 1
    assert outcome.stopped and outcome.step == 8
    assert read_state(run_dir).status == "stopped"
    acks = events(run_dir, "control")
    assert any(e["action"] == "early-stop" and e["via"] == "control" and "armed" in e["message"] for e in acks)
    assert any(e["action"] == "early-stop" and e["via"] == "early-stopping" for e in acks)
    assert [e["step"] for e in events(run_dir, "checkpoint")] == [8]


def test_control_refused_when_run_is_not_running(tmp_path: Path, tiny_bert_cls_dir: Path) -> None:
    run_dir = make_run(tmp_path, tiny_bert_cls_dir, "native", "idle")
    r = tui_hf("control", str(run_dir), "save")
    assert r.returncode == 2 and "not running" in r.stderr
    assert not (run_dir / "control").exists()


def drive_within(run_dir: Path, install: Callable[[Any], None] | None, seconds: float = 180) -> Any:
    """drive_inline on a daemon thread: a job that hangs fails the test instead of hanging the suite."""
    import threading

    done: dict[str, Any] = {}

    def body() -> None:
        try:
            done["outcome"] = drive_inline(run_dir, install)
        except BaseException as exc:  # handed to the test below
            done["error"] = exc

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the job hung (still running after {seconds:.0f} s)"
    if "error" in done:
        raise done["error"]
    return done["outcome"]


@pytest.mark.parametrize("engine", ["trainer", "native"])
def test_control_entries_that_are_not_requests_are_refused_once_and_never_hang_the_job(
    tmp_path: Path, tiny_bert_cls_dir: Path, engine: str
) -> None:
    """A FIFO and a directory named *.json, a request on a metric the run never reports, a fractional patience,
    and an old spec armed on such a metric: each answered once as refused (naming what would work); the job
    trains to its end; nothing the user put there is removed."""
    import os

    from tui_hf.core.training.storage import write_atomic

    run_dir = make_run(tmp_path, tiny_bert_cls_dir, engine, f"odd-{engine}", max_steps=6)
    spec = json.loads((run_dir / "spec.json").read_text(encoding="utf-8"))
    spec["early_stopping_metric"] = "eval_bogus"  # as a spec written before the metric was checked
    (run_dir / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    folder = run_dir / "control"
    folder.mkdir()
    os.mkfifo(folder / "fifo.json")  # a plain open() of it blocks until a writer comes: never, here
    (folder / "x.json").mkdir()

    def act(step: int, out: Any) -> None:
        if step == 2:  # as a script would write them: send_control refuses both before writing anything
            write_atomic(
                folder / "2-bogus.json", json.dumps({"action": "early-stop", "metric": "eval_bogus", "patience": 1})
            )
            write_atomic(
                folder / "3-half.json", json.dumps({"action": "early-stop", "metric": "eval_loss", "patience": 1.5})
            )

    outcome = drive_within(run_dir, lambda model: AtStep(model).on_forward(act))
    assert not outcome.stopped and outcome.step == 6
    acks = events(run_dir, "control")
    refused = [e["message"] for e in acks if e.get("refused")]
    assert len(refused) == 5, refused  # one each, though the folder is listed at every one of the 6 steps
    assert sum("fifo.json is a FIFO, not a request file" in m for m in refused) == 1
    assert sum("x.json is a directory, not a request file" in m for m in refused) == 1
    bogus = [e for e in acks if e.get("request") == "2-bogus.json"]
    assert (
        len(bogus) == 1
        and bogus[0]["refused"]
        and bogus[0]["message"]
        == ("early stopping on 'eval_bogus': this run reports no such metric; it reports accuracy, f1, loss")
    )
    assert (
        sum(
            "3-half.json: not a request" in m
            and "patience must be a whole number of evaluations, 1 or more, not 1.5" in m
            for m in refused
        )
        == 1
    )
    disarmed = [e for e in acks if e["via"] == "early-stopping"]
    assert len(disarmed) == 1 and disarmed[0]["refused"] and "eval_bogus" in disarmed[0]["message"]
    assert disarmed[0]["message"].endswith("it reports accuracy, f1, loss: disarmed")
    assert sorted(p.name for p in folder.iterdir()) == ["fifo.json", "x.json"]  # left in place; requests consumed


def test_control_command_refuses_an_unreported_metric_and_a_fractional_patience(
    tmp_path: Path, tiny_bert_cls_dir: Path
) -> None:
    """`tui-hf control` and a request file share one check: both refuse patience 1.5, both accept 2."""
    from tui_hf.core.errors import SpecError
    from tui_hf.core.training.control import Control, Inbox
    from tui_hf.core.training.spec import TrainSpec

    run_dir = make_run(tmp_path, tiny_bert_cls_dir, "native", "steer")
    bogus = tui_hf("control", str(run_dir), "early-stop", "--metric", "eval_bogus")
    assert bogus.returncode == 2 and bogus.stderr.count("\n") == 1, bogus.stderr
    assert (
        "early stopping on 'eval_bogus': this run reports no such metric; it reports accuracy, f1, loss" in bogus.stderr
    )
    half = tui_hf("control", str(run_dir), "early-stop", "--patience", "1.5")
    assert half.returncode == 2 and "patience must be a whole number of evaluations, 1 or more, not 1.5" in half.stderr
    assert not (run_dir / "control").exists()  # nothing queued on a refusal
    whole = tui_hf("control", str(run_dir), "early-stop", "--metric", "f1", "--patience", "2")
    assert whole.returncode == 2 and "not running" in whole.stderr  # past both checks: only the idle run stops it
    # The same values from a request file.
    folder = run_dir / "control"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps({"action": "early-stop", "metric": "f1", "patience": 2}))
    (folder / "b.json").write_text(json.dumps({"action": "early-stop", "metric": "f1", "patience": 1.5}))
    first, second = Inbox(run_dir).poll()
    assert isinstance(first, Control) and first.patience == 2
    assert isinstance(second, str) and "patience must be a whole number of evaluations, 1 or more, not 1.5" in second
    # And in a spec: a metric its task never reports is refused before the run exists.
    lm = TrainSpec.from_dict({"data": {"train": "x.jsonl"}, "task": "causal-lm", "early_stopping_metric": "f1"})
    assert (
        "early_stopping_metric: early stopping on 'f1': this run reports no such metric; it reports loss, "
        "perplexity" in lm.problems()
    )
    assert not TrainSpec.from_dict({"data": {"train": "x.csv"}, "early_stopping_metric": "f1"}).problems()
    with pytest.raises(SpecError, match="early_stopping_patience must be a whole number"):
        TrainSpec.from_dict({"data": {"train": "x.csv"}, "early_stopping_patience": 1.5})


# -- the batch X-ray ----------------------------------------------------------------------------------------


def test_xray_rebuilds_the_trained_batch_and_reports_a_changed_file(
    tmp_path: Path, tiny_bert_cls_dir: Path, bert_tokenizer: Any
) -> None:
    import torch

    from tui_hf.core.training.xray import read_batches, xray

    data = tmp_path / "reviews.csv"
    data.write_bytes(SENTIMENT_CSV.read_bytes())
    run_dir = make_run(tmp_path, tiny_bert_cls_dir, "native", "xray", data=data, max_steps=3)
    drive_inline(run_dir)
    assert sorted(read_batches(run_dir)) == [1, 2, 3]
    x = xray(run_dir, 2)
    assert x.matches and not x.problems
    # The native loop's documented order: epoch 0 is randperm(seed + 0) of the 256 train rows (320 less the
    # validation fifth); step 2 is its second batch.
    order = torch.randperm(256, generator=torch.Generator().manual_seed(1)).tolist()
    assert [r.position for r in x.rows] == order[16:32]
    with open(data, newline="", encoding="utf-8") as fh:
        lines = {i + 2: row for i, row in enumerate(csv.DictReader(fh))}  # line 1 is the header
    for row in x.rows:
        source = lines[row.source_row]
        want = bert_tokenizer(source["text"], truncation=True, max_length=32)["input_ids"]
        assert row.input_ids[: row.length] == want and set(row.input_ids[row.length :]) <= {0}
        assert row.label == source["label"]
        assert row.attention.count(0) == len(row.input_ids) - row.length
    assert x.supervised == 16 and x.supervised_share == 1.0
    # Break the rebuild: the data file changes after training (same rows, other words).
    data.write_text(data.read_text(encoding="utf-8").replace("the", "a"), encoding="utf-8")
    broken = xray(run_dir, 2)
    assert not broken.matches and "differs from the one trained" in broken.problems[0]


def test_xray_sees_a_label_edited_after_training_and_reads_an_older_record_as_ids_only(
    tmp_path: Path, tiny_bert_cls_dir: Path, bert_tokenizer: Any
) -> None:
    """One row's label flipped in the data file, its text kept: `tui-hf batch` says the batch does not match
    and exits 1 (README), and shows the batch as trained when the job kept a copy of it (its last step, 2
    here), the rebuilt one otherwise. A record written before labels were hashed is still checked, on the
    token ids, and says so."""
    import hashlib
    import shutil

    data = tmp_path / "reviews.csv"
    data.write_bytes(SENTIMENT_CSV.read_bytes())
    run_dir = make_run(tmp_path, tiny_bert_cls_dir, "native", "labels", data=data, max_steps=2)
    drive_inline(run_dir)
    from tui_hf.core.training.xray import format_xray, xray

    before = xray(run_dir, 2)
    assert before.matches and not before.ids_only
    lines = [json.loads(line) for line in (run_dir / "batches.jsonl").read_text(encoding="utf-8").splitlines()]
    [record] = [r for r in lines if r["step"] == 2]
    with open(data, newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))  # table[i] is line i + 2 (line 1 is the header)
    # The batch as the collator pads it, from the data file and the tokenizer alone (the independent truth).
    rows = [table[r.source_row - 2] for r in before.rows]
    ids = bert_tokenizer([r["text"] for r in rows], truncation=True, max_length=32, padding=True, return_tensors="np")[
        "input_ids"
    ].astype("int64")
    target = rows[0]
    target_was = target["label"]
    flipped = {"positive": "negative", "negative": "positive"}[target_was]
    target["label"] = flipped  # the same object as in `table`
    with open(data, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(table)
    shutil.move(run_dir / "xray", tmp_path / "copies")  # as a run of an older version: no copy kept
    after = tui_hf("batch", str(run_dir), "2")
    assert after.returncode == 1, after.stdout[:500] + after.stderr
    assert "DOES NOT MATCH the trained batch" in after.stdout
    assert "problem: the rebuilt batch differs from the one trained" in after.stdout
    assert f"label {flipped}" in after.stdout.split("[0] ", 1)[1].split("\n", 1)[0]  # the row shows its new label
    assert "shown: the data as it is now, not what trained" in after.stdout  # not passed off as the trained batch
    shutil.move(tmp_path / "copies", run_dir / "xray")
    trained = tui_hf("batch", str(run_dir), "2")
    assert trained.returncode == 1 and "problem: the rebuilt batch differs" in trained.stdout
    assert "DOES NOT MATCH the trained batch; shown: the batch as the job trained it" in trained.stdout
    assert f"(trained {record['hash']}, rebuilt " in trained.stdout  # the hash beside the rows is theirs
    assert f"label {target_was}" in trained.stdout.split("[0] ", 1)[1].split("\n", 1)[0]  # as it was trained
    data.rename(tmp_path / "moved.csv")  # the data gone: the job's copy, unchecked, and why
    gone = tui_hf("batch", str(run_dir), "2")
    assert gone.returncode == 1 and "not checked against the data" in gone.stdout, gone.stdout[:300] + gone.stderr
    assert "problem: " in gone.stdout and str(data) in gone.stdout
    assert f"label {target_was}" in gone.stdout.split("[0] ", 1)[1].split("\n", 1)[0]
    data.write_bytes((tmp_path / "moved.csv").read_bytes())
    # A record in the older format: the ids' digest as it was computed before labels were hashed, no hash_v.
    digest = hashlib.blake2b(str(tuple(ids.shape)).encode(), digest_size=8)
    digest.update(ids.tobytes())
    old = {k: v for k, v in record.items() if k != "hash_v"} | {"hash": digest.hexdigest()}
    (run_dir / "batches.jsonl").write_text(json.dumps(old) + "\n", encoding="utf-8")
    older = xray(run_dir, 2)
    assert older.matches and older.ids_only  # `tui-hf batch` exits 0 on it
    assert (
        "matches the trained batch's token ids; recorded in an older format, its hash does not cover labels, "
        "so a label edited since is not detected"
    ) in format_xray(older)


def test_batch_command_prints_the_xray(tmp_path: Path, tiny_ner_dir: Path) -> None:
    rows = [
        {"tokens": ["Paris", "is", "in", "France"], "tags": ["B-LOC", "O", "O", "B-LOC"]},
        {"tokens": ["Ada", "Lovelace", "wrote", "programs"], "tags": ["B-PER", "I-PER", "O", "O"]},
    ] * 20
    data = tmp_path / "ner.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run_dir = make_run(
        tmp_path,
        tiny_ner_dir,
        "trainer",
        "ner",
        data=data,
        max_steps=2,
        batch_size=4,
        task="token-classification",
        text_column="tokens",
        label_column="tags",
    )
    drive_inline(run_dir)
    r = tui_hf("batch", str(run_dir), "2")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "ner step 2: 4 rows" in out and "matches the trained batch" in out
    assert "paris/B-LOC" in out or "ada/B-PER" in out  # tokens with the tag they are trained towards
    assert "([CLS])" in out  # special tokens are not trained on
    assert "line " in out
    bad = tui_hf("batch", str(run_dir), "99")
    assert bad.returncode == 2 and "no record of step 99" in bad.stderr


def test_causal_lm_xray_and_predictions(tmp_path: Path, tiny_gpt2_dir: Path) -> None:
    from tui_hf.core.training.xray import xray

    texts = [
        "the cat sat on the mat today",
        "a dog ran in the park at noon",
        "we read two books last week",
        "rain fell over the hills all night",
    ] * 10
    data = tmp_path / "lm.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    run_dir = make_run(
        tmp_path, tiny_gpt2_dir, "native", "lm", data=data, max_steps=2, batch_size=4, task="causal-lm", predictions=2
    )
    drive_inline(run_dir)
    x = xray(run_dir, 1)
    assert x.matches
    for row in x.rows:
        assert row.trained[0] is False  # the first token is never predicted
        assert all(row.trained[1 : row.length]) and not any(row.trained[row.length :])  # padding is not trained
    assert x.supervised == sum(r.length - 1 for r in x.rows)
    preds = events(run_dir, "predictions")
    assert [p["step"] for p in preds] == [0, 2]  # the baseline and the epoch-end evaluation
    for item in preds[-1]["items"]:
        text = item["text"] + " " + item["gold"]
        assert text in texts and 0.0 <= item["confidence"] <= 1.0 and isinstance(item["prediction"], str)


# -- attach --once, diff --------------------------------------------------------------------------------------


def test_attach_once_and_runs_diff(tmp_path: Path, tiny_bert_cls_dir: Path) -> None:
    a = make_run(tmp_path, tiny_bert_cls_dir, "native", "lr-a", max_steps=16, learning_rate=5e-3)
    b = make_run(tmp_path, tiny_bert_cls_dir, "native", "lr-b", max_steps=16, learning_rate=1e-3)
    drive_inline(a)
    drive_inline(b)
    r = tui_hf("attach", str(a), "--once")
    assert r.returncode == 0, r.stderr
    state = read_state(a)
    assert "lr-a: finished, step 16/16 (100%)" in r.stdout
    assert f"loss {state.train[-1][1]:.4f}" in r.stdout
    assert any(ch in r.stdout for ch in "▁▂▃▄▅▆▇█")
    assert "alerts: none" in r.stdout
    assert "predictions at step 16:" in r.stdout
    assert "\x1b" not in r.stdout and "\r" not in r.stdout

    from tui_hf.core.training.compare import compare_runs

    c = compare_runs([a, b])
    assert list(c.spec_diff) == ["learning_rate"] and c.spec_diff["learning_rate"] == [5e-3, 1e-3]
    d = tui_hf("runs", "--diff", "lr-a", "lr-b", "--runs-dir", str(a.parent))
    assert d.returncode == 0, d.stderr
    assert "learning_rate: 0.005  vs  0.001" in d.stdout
    assert "seed" not in d.stdout.split("status:")[0]


# -- a real detached job, steered from the command line -------------------------------------------------------


def test_control_command_steers_a_detached_job(tmp_path: Path, tiny_bert_cls_dir: Path, jobs: Any) -> None:  # noqa: F811  (the fixture)
    import re

    from tui_hf.core.training.job import launch

    run_dir = jobs.watch(make_run(tmp_path, tiny_bert_cls_dir, "trainer", "live", max_steps=3000, epochs=100))
    launch(run_dir)
    wait_for(lambda: events(run_dir, "train"), 120, "the first step")
    saved = tui_hf("control", str(run_dir), "save", "--wait", "60")
    assert saved.returncode == 0, saved.stderr
    m = re.search(r"live: done: saving checkpoint-(\d+)", saved.stdout)
    assert m, saved.stdout
    step = int(m.group(1))
    wait_for(lambda: [e for e in events(run_dir, "checkpoint") if e["step"] == step], 60, f"checkpoint-{step}")
    evaluated = tui_hf("control", str(run_dir), "eval", "--wait", "60")
    assert evaluated.returncode == 0 and "done: evaluating at step" in evaluated.stdout, evaluated.stderr
    at = int(evaluated.stdout.rsplit("step ", 1)[1])
    wait_for(lambda: [e for e in events(run_dir, "eval") if e["step"] == at], 60, f"the evaluation at step {at}")
    stopped = tui_hf("control", str(run_dir), "stop", "--wait", "60")
    assert stopped.returncode == 0 and "done: stopping at step" in stopped.stdout, stopped.stderr
    wait_for(lambda: read_state(run_dir).status == "stopped", 60, "the stop")
    log = (run_dir / "train.log").read_bytes()
    assert b"step 1 " in log and b"\r" not in log  # plain lines: no progress bars redrawn in place
    snapshot = tui_hf("attach", "live", "--once", "--runs-dir", str(run_dir.parent))
    assert snapshot.returncode == 0 and "live: stopped" in snapshot.stdout
    assert "last request: stop (control)" in snapshot.stdout


def test_control_stop_stops_a_detached_native_job_with_a_checkpoint(
    tmp_path: Path,
    tiny_bert_cls_dir: Path,
    jobs: Any,  # noqa: F811
) -> None:
    import re

    from tui_hf.core.training.job import is_alive, launch

    run_dir = jobs.watch(make_run(tmp_path, tiny_bert_cls_dir, "native", "native-live", max_steps=3000, epochs=100))
    launch(run_dir)
    wait_for(lambda: events(run_dir, "train"), 120, "the first step")
    stopped = tui_hf("control", "native-live", "stop", "--wait", "60", "--runs-dir", str(run_dir.parent))
    assert stopped.returncode == 0, stopped.stderr
    m = re.search(r"native-live: done: stopping at step (\d+)", stopped.stdout)
    assert m, stopped.stdout
    step = int(m.group(1))
    wait_for(lambda: not is_alive(run_dir), 120, "the job to exit")
    state = read_state(run_dir)
    assert state.status == "stopped" and state.step == step < 3000
    assert (run_dir / "checkpoints" / f"checkpoint-{step}").is_dir()  # it saved where it stopped
    acks = [c for c in state.controls if c["action"] == "stop"]
    assert acks and acks[0]["via"] == "control"


# -- viewers: stall, smoothing, old specs -----------------------------------------------------------------------


def test_runs_and_snapshot_flag_a_stalled_job(tmp_path: Path) -> None:
    """A job alive (its lock held) that logged a step every second, then nothing for 10 minutes: stalled."""
    import os
    import time

    from tui_hf.core.training.follow import snapshot
    from tui_hf.core.training.runlock import RunLock
    from tui_hf.core.training.runs import RunsWatcher

    run_dir = tmp_path / "runs" / "stuck"
    run_dir.mkdir(parents=True)
    t0 = time.time() - 700
    lines = [
        {"event": "start", "time": t0, "total_steps": 100, "engine": "native", "model": "m", "labels": []},
        {"event": "status", "time": t0, "status": "running"},
    ]
    lines += [{"event": "train", "time": t0 + s, "step": s, "epoch": s / 100, "loss": 1.0} for s in range(1, 41)]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    with RunLock.acquire(run_dir) as lock:
        lock.record(os.getpid())
        [summary] = RunsWatcher(tmp_path / "runs").refresh()
        assert summary.status == "running" and summary.alert is not None
        assert summary.alert["kind"] == "stall" and summary.alert["step"] == 40
        assert "stall at step 40" in tui_hf("runs", "--runs-dir", str(tmp_path / "runs")).stdout
        assert "no progress for 66" in snapshot(run_dir)  # 700 - 40 s since step 40
    [ended] = RunsWatcher(tmp_path / "runs").refresh()
    assert ended.status == "died" and ended.alert is None  # a dead job is not "stalled"


def test_smoothing_helpers() -> None:
    from tui_hf.core.training.follow import moving_average, smoothed, sparkline

    assert moving_average([1.0, 2.0, 3.0, 4.0], 2) == [1.0, 1.5, 2.5, 3.5]
    pts = [(1, 1.0), (2, math.nan), (3, 3.0)]
    assert smoothed(pts, "none") == [(1, 1.0), (3, 3.0)]
    assert smoothed(pts, "window", 2) == [(1, 1.0), (3, 2.0)]
    assert smoothed([(1, 2.0), (2, 2.0)], "ema", 0.9) == [(1, pytest.approx(2.0)), (2, pytest.approx(2.0))]
    assert sparkline([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]) == "▁▂▃▄▅▆▇█"
    assert len(sparkline([float(i) for i in range(1000)], width=40)) == 40


def test_a_spec_written_before_the_cockpit_still_loads(tmp_path: Path) -> None:
    from tui_hf.core.training.spec import TrainSpec

    old = {
        "model": "embedded",
        "task": "text-classification",
        "engine": "trainer",
        "data": {"train": "x.csv"},
        "epochs": 3,
        "batch_size": 16,
        "learning_rate": 5e-5,
        "logging_steps": 5,
        "max_steps": -1,
    }
    (tmp_path / "spec.json").write_text(json.dumps(old), encoding="utf-8")
    spec = TrainSpec.load(tmp_path / "spec.json")
    assert (spec.sentinel, spec.record_batches, spec.eval_steps, spec.early_stopping_metric) == ("warn", True, 0, None)
    bad = TrainSpec.from_dict({**old, "sentinel": "explode"})
    assert "sentinel must be one of warn, save, stop, off" in bad.problems()


def test_the_unused_extra_key_is_tolerated_empty_and_refused_with_content(tmp_path: Path) -> None:
    """Every run made before `extra` was removed has "extra": {} in its spec.json: it still loads. A spec that
    puts settings there is told they are not read, instead of having them silently ignored."""
    from tui_hf.core.errors import SpecError
    from tui_hf.core.training.spec import TrainSpec

    base = {"data": {"train": "x.csv"}, "epochs": 3}
    (tmp_path / "old.json").write_text(json.dumps({**base, "extra": {}}), encoding="utf-8")
    spec = TrainSpec.load(tmp_path / "old.json")
    assert spec.epochs == 3 and "extra" not in json.loads(spec.to_json())
    (tmp_path / "new.json").write_text(json.dumps({**base, "extra": {"lora_rank": 8}}), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        TrainSpec.load(tmp_path / "new.json")
    assert str(info.value) == f"{tmp_path / 'new.json'}: extra is not read by tui-hf (it never was): remove it"


def test_xray_reopened_reuses_the_tokenized_data_until_a_file_changes(
    tmp_path: Path, tiny_bert_cls_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening the X-ray again (another step, the same one) takes milliseconds, not a tokenizer load and a
    pass over the data; an edited data file is read again."""
    import tui_hf.core.training.data as data_module
    from tui_hf.core.training.xray import xray

    data = tmp_path / "reviews.csv"
    data.write_bytes(SENTIMENT_CSV.read_bytes())
    run_dir = make_run(tmp_path, tiny_bert_cls_dir, "native", "xray-again", data=data, max_steps=3)
    drive_inline(run_dir)
    calls: list[int] = []
    real = data_module.prepare
    monkeypatch.setattr(data_module, "prepare", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = xray(run_dir, 1)
    started = time.perf_counter()
    again, other = xray(run_dir, 1), xray(run_dir, 3)
    assert time.perf_counter() - started < 1.0 and len(calls) == 1
    assert [r.input_ids for r in again.rows] == [r.input_ids for r in first.rows] and other.matches
    data.write_text(data.read_text(encoding="utf-8").replace("the", "a"), encoding="utf-8")
    assert not xray(run_dir, 1).matches and len(calls) == 2


def test_tokenizing_the_data_never_pickles_the_tokenizer_and_a_changed_setting_tokenizes_again(
    tmp_path: Path, tiny_bert_cls_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`datasets` names a map's result by pickling the function, the tokenizer in it: 1-2 s a split at each
    job start and X-ray. The job names it from the tokenizer's serialisation instead; a setting that changes
    the tokens (max length) must still give a new result, never the cached one."""
    import datasets.arrow_dataset as arrow_dataset

    from tui_hf.core.training.data import prepare, run_plan
    from tui_hf.core.training.engine import load_tokenizer_for
    from tui_hf.core.training.spec import TrainSpec

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))
    run_dir = make_run(tmp_path, tiny_bert_cls_dir, "native", "named", max_steps=1)
    spec = TrainSpec.load(run_dir / "spec.json")
    pickled: list[str] = []
    real = arrow_dataset.update_fingerprint

    def spy(fp: str, transform: Any, args: dict[str, Any]) -> str:
        if "function" in args:
            pickled.append(str(transform))
        return real(fp, transform, args)

    monkeypatch.setattr(arrow_dataset, "update_fingerprint", spy)  # map's own name for it
    _, tok = load_tokenizer_for(spec)
    long = prepare(spec, tok, run_plan(spec, run_dir))
    assert pickled == []
    spec.data.max_length = 8
    short = prepare(spec, tok, run_plan(spec, run_dir))
    assert max(len(ids) for ids in long.train["input_ids"]) > 8
    assert max(len(ids) for ids in short.train["input_ids"]) == 8
