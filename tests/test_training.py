"""Finetuning jobs: both engines learn, events are complete, stop/resume, crashes, callbacks, torchrun."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tui_hf.core.errors import SpecError
from tui_hf.core.training.events import EventReader, RunState, read_state, to_csv
from tui_hf.core.training.job import create_run, list_runs
from tui_hf.core.training.spec import DataSpec, TrainSpec
from tui_hf.data import SENTIMENT_CSV


def spec_for(model: Path, engine: str, **overrides: Any) -> TrainSpec:
    data = DataSpec(train=str(SENTIMENT_CSV), max_length=32, validation_fraction=0.2)
    base: dict[str, Any] = dict(
        model=str(model),
        engine=engine,
        epochs=8,
        batch_size=16,
        learning_rate=5e-3,
        warmup=0.0,
        logging_steps=3,
        device="cpu",
        seed=1,
    )
    base.update(overrides)
    return TrainSpec(data=data, **base)


def run_job(run_dir: Path, timeout: float = 240) -> int:
    """The job's exit code (forked from this process: see training_fixtures.run_job)."""
    from tests.training_fixtures import run_job as forked

    return forked(run_dir, timeout=timeout).returncode


@pytest.mark.parametrize("engine", ["trainer", "native"])
def test_engine_learns_and_writes_complete_ordered_events(engine: str, tiny_bert_cls_dir: Path, tmp_path: Path) -> None:
    run_dir = create_run(spec_for(tiny_bert_cls_dir, engine), tmp_path)
    assert run_job(run_dir) == 0, (run_dir / "train.log").read_text() if (run_dir / "train.log").exists() else ""
    events = EventReader(run_dir).read()
    # Vitals are sampled on a clock of their own (every few seconds, from the job's start): not in the order.
    events = [e for e in events if e["event"] != "vitals"]
    kinds = [e["event"] for e in events]
    # The job's phases before its first step are status lines (importing, checking the data...); then "start".
    assert kinds[0] == "status" and next(k for k in kinds if k != "status") == "start" and kinds[-1] == "status"
    assert events[-1]["status"] == "finished"
    state = read_state(run_dir)
    steps = [s for s, _ in state.train]
    assert steps == sorted(steps) and steps[-1] == state.total_steps == 128  # 256 rows / 16 x 8 epochs
    train = [e for e in events if e["event"] == "train"]
    for key in ("loss", "learning_rate", "grad_norm", "samples_per_second", "tokens_per_second", "memory_mb"):
        assert all(e.get(key) is not None for e in train[1:]), key
    assert len(state.evals) == 9 and all("eval_accuracy" in e and "eval_f1" in e for e in state.evals)
    assert state.evals[0]["step"] == 0  # a baseline before the first step
    losses = [loss for _, loss in state.train]
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:4]) / 4  # it learns
    assert state.evals[-1]["eval_accuracy"] > 0.9
    assert state.labels == ["negative", "positive"]
    final = Path(state.final_path or "")
    config = json.loads((final / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert (final / "model.safetensors").exists() and (final / "tokenizer.json").exists()
    assert kinds.index("checkpoint") < kinds.index("final")


def test_a_trained_head_with_other_labels_is_refused_before_the_job(tiny_bert_cls_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "three.csv"
    with open(data, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for i in range(30):
            w.writerow([f"example {i}", ["a", "b", "c"][i % 3]])
    spec = spec_for(tiny_bert_cls_dir, "trainer")
    spec.data.train = str(data)
    with pytest.raises(SpecError, match="trained SequenceClassification head for 2 labels .* replace_head"):
        create_run(spec, tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_crash_keeps_its_traceback(tiny_bert_cls_dir: Path, tmp_path: Path) -> None:
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_bert_cls_dir, model)
    run_dir = create_run(spec_for(model, "native"), tmp_path / "runs")
    (model / "model.safetensors").write_bytes(b"\0" * 64)  # the weights break after the checks
    assert run_job(run_dir) == 4
    state = read_state(run_dir)
    assert state.status == "failed" and "Traceback" in state.traceback and state.message


def test_an_interrupted_checkpoint_is_never_resumed_from(tiny_bert_cls_dir: Path, tmp_path: Path) -> None:
    from tui_hf.core.training import checkpoints

    run_dir = create_run(spec_for(tiny_bert_cls_dir, "native"), tmp_path)
    bad = run_dir / "checkpoints" / "checkpoint-3"  # an older version's half save: no weights, no state
    bad.mkdir(parents=True)
    (bad / "config.json").write_text("{not json")
    staged = checkpoints.stage(run_dir, 5)
    (staged / "config.json").write_text("{}")
    assert checkpoints.latest(run_dir) is None
    assert sorted(p.name for p in checkpoints.interrupted(run_dir)) == ["checkpoint-3", "checkpoint-5"]


@pytest.mark.parametrize(
    "problem, match",
    [
        (lambda s, p: setattr(s.data, "train", str(p / "missing.csv")), "no train data file"),
        (lambda s, p: setattr(s.data, "label_column", "sentiment"), "no column 'sentiment'"),
        (lambda s, p: setattr(s, "logging_steps", 0), "logging_steps must be at least 1"),
        (
            lambda s, p: (
                (p / "empty.csv").write_text("text,label\n") and setattr(s.data, "train", str(p / "empty.csv"))
            ),
            "empty",
        ),
        (lambda s, p: setattr(s, "epochs", 0), "epochs must be above 0"),
    ],
)
def test_bad_input_is_refused_before_anything_starts(problem: Any, match: str, tmp_path: Path) -> None:
    spec = spec_for(Path("embedded"), "trainer")
    problem(spec, tmp_path)
    with pytest.raises(SpecError, match=match):
        create_run(spec, tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_existing_run_directory_is_never_overwritten(tmp_path: Path) -> None:
    spec = spec_for(Path("embedded"), "trainer")
    create_run(spec, tmp_path, name="exp1")
    with pytest.raises(SpecError, match="already exists"):
        create_run(spec, tmp_path, name="exp1")


def test_a_plain_trainer_script_with_the_callback_is_attachable(tiny_bert_cls_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "train_script.py"
    script.write_text(f"""
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments
from tui_hf import TuiHfCallback

tok = AutoTokenizer.from_pretrained({str(tiny_bert_cls_dir)!r})
model = AutoModelForSequenceClassification.from_pretrained({str(tiny_bert_cls_dir)!r})
ds = Dataset.from_dict({{"text": ["good", "bad"] * 16, "label": [1, 0] * 16}})
ds = ds.map(lambda b: tok(b["text"]), batched=True)
args = TrainingArguments(output_dir={str(tmp_path / "out")!r}, num_train_epochs=2, per_device_train_batch_size=8,
                         logging_steps=1, report_to="none", use_cpu=True, disable_tqdm=True)
Trainer(model=model, args=args, train_dataset=ds, processing_class=tok,
        callbacks=[TuiHfCallback({str(tmp_path / "runs" / "script-run")!r})]).train()
""")
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True, timeout=240)
    [info] = list_runs(tmp_path / "runs")
    assert info.status == "finished"
    assert info.state.total_steps == 8 and [s for s, _ in info.state.train] == list(range(1, 9))
    out = tmp_path / "metrics.csv"
    assert to_csv(info.path, out) == 8
    assert "loss" in out.read_text().splitlines()[0]
    from tui_hf.core.training.job import delete_run

    delete_run(info.path, tmp_path / "runs")  # the callback made the directory: it carries tui-hf's marker
    assert not info.path.exists()


def test_torchrun_with_two_cpu_processes_writes_one_event_stream(tiny_bert_cls_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "TUI_HF_RUNS": str(tmp_path)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tui_hf",
            "train",
            "--data",
            str(SENTIMENT_CSV),
            "--model",
            str(tiny_bert_cls_dir),
            "--engine",
            "native",
            "--nproc",
            "2",
            "--max-steps",
            "6",
            "--batch-size",
            "8",
            "--max-length",
            "32",
            "--device",
            "cpu",
            "--name",
            "ddp",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = EventReader(tmp_path / "ddp").read()
    starts = [e for e in events if e["event"] == "start"]
    assert len(starts) == 1 and starts[0]["world_size"] == 2 and starts[0]["batch_size"] == 16
    assert [e["status"] for e in events if e["event"] == "status"][-1] == "finished"
    steps = [e["step"] for e in events if e["event"] == "train"]
    assert steps == sorted(set(steps)) and steps[-1] == 6  # one writer: no step twice


def test_run_state_folds_thousands_of_events_incrementally(tmp_path: Path) -> None:
    from tui_hf.core.training.events import EventWriter

    writer = EventWriter(tmp_path)
    writer.start(engine="native", model="m", total_steps=5000, epochs=1, labels=[], batch_size=8)
    reader, state = EventReader(tmp_path), RunState()
    for step in range(1, 5001):
        writer.train(step=step, epoch=step / 5000, loss=1 / step)
        if step % 1000 == 0:
            state.apply(reader.read())
    with open(tmp_path / "events.jsonl", "a") as fh:
        fh.write('{"event": "train", "step": 50')  # a line still being written is left for the next read
    state.apply(reader.read())
    assert state.step == 5000 and len(state.train) == 5000 and state.progress == 1.0


def test_the_runs_list_summarises_each_run_as_a_full_read_does_reading_only_new_lines(tmp_path: Path) -> None:
    from tui_hf.core.training.events import EventWriter
    from tui_hf.core.training.runs import RunsWatcher, run_info

    writers = {}
    for name, status in (("a", "finished"), ("b", None), ("c", "failed")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "spec.json").write_text("{}")
        w = writers[name] = EventWriter(tmp_path / name)
        w.start(engine="native", model="m", total_steps=3000, epochs=3, labels=["x", "y"], batch_size=8)
        for step in range(1, 3001):
            w.train(step=step, epoch=step / 1000, loss=1 / step)
            if step % 1000 == 0:
                w.eval(step=step, epoch=step / 1000, metrics={"loss": 2 / step, "accuracy": step / 3000})
        if status:
            w.status(status, message=f"it {status}", step=3000, total_steps=3000)
    watcher = RunsWatcher(tmp_path)
    first = {r.name: r for r in watcher.refresh()}
    for name in "abc":
        full = run_info(tmp_path / name)
        r = first[name]
        assert (r.status, r.step, r.total_steps, r.loss, r.best, r.message) == (
            full.status,
            full.state.step,
            full.state.total_steps,
            full.state.train[-1][1],
            full.state.best(),
            full.state.message,
        )
    assert first["b"].status == "died"  # no final status and no process: not "running" forever
    tracker = watcher._trackers[tmp_path / "b"]
    offset = tracker.reader.offset
    writers["b"].train(step=3001, epoch=3.001, loss=0.25)
    again = {r.name: r for r in watcher.refresh()}
    assert again["b"].step == 3001 and again["b"].loss == 0.25
    size = (tmp_path / "b" / "events.jsonl").stat().st_size
    assert tracker.reader.offset == size and size - offset < 300  # only the new line was read


def test_token_classification_finetuning(tiny_ner_dir: Path, tmp_path: Path) -> None:
    rows = [
        {"tokens": ["Sylvain", "lives", "in", "Brooklyn"], "tags": ["B-PER", "O", "O", "B-LOC"]},
        {"tokens": ["Anna", "visited", "Paris", "today"], "tags": ["B-PER", "O", "B-LOC", "O"]},
    ] * 16
    data = tmp_path / "ner.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    spec = TrainSpec(
        data=DataSpec(train=str(data), text_column="tokens", label_column="tags", max_length=16),
        model=str(tiny_ner_dir),
        task="token-classification",
        engine="native",
        epochs=4,
        batch_size=8,
        learning_rate=5e-3,
        warmup=0.0,
        logging_steps=1,
        device="cpu",
        replace_head=True,
    )
    run_dir = create_run(spec, tmp_path / "runs")
    assert run_job(run_dir) == 0, (run_dir / "train.log").read_text()
    state = read_state(run_dir)
    assert state.status == "finished" and state.labels == ["B-LOC", "B-PER", "O"]
    assert state.evals[-1]["eval_accuracy"] > state.evals[0]["eval_accuracy"]
    # seqeval's entity-level scores, as run_ner.py reports them
    assert all({"eval_precision", "eval_recall", "eval_f1", "eval_accuracy"} <= set(e) for e in state.evals)
    config = json.loads((Path(state.final_path or "") / "config.json").read_text())
    assert set(config["id2label"].values()) == {"B-LOC", "B-PER", "O"}


def test_causal_lm_finetuning(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "text.csv"
    with open(data, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text"])
        for _ in range(40):
            w.writerow(["the quick brown fox jumps over the lazy dog"])
    spec = TrainSpec(
        data=DataSpec(train=str(data), max_length=32),
        model=str(tiny_gpt2_dir),
        task="causal-lm",
        engine="trainer",
        epochs=3,
        batch_size=8,
        learning_rate=5e-3,
        warmup=0.0,
        logging_steps=1,
        device="cpu",
    )
    run_dir = create_run(spec, tmp_path / "runs")
    assert run_job(run_dir) == 0, (run_dir / "train.log").read_text()
    state = read_state(run_dir)
    assert state.status == "finished"
    assert state.evals[-1]["eval_loss"] < state.evals[0]["eval_loss"] - 1.0  # it memorises the sentence
    assert all(e["eval_perplexity"] == pytest.approx(math.exp(e["eval_loss"])) for e in state.evals)
