"""`tui-hf export` never replaces a user's file unasked, and never a run's own files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_terminal_habits import make_run
from tui_hf.cli import main


def _export(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["export", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_refuses_to_replace_a_file_unasked_and_a_runs_own_files_ever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    make_run(tmp_path / "runs" / "good")
    events = (tmp_path / "runs" / "good" / "events.jsonl").read_bytes()
    spec = (tmp_path / "runs" / "good" / "spec.json").read_bytes()
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")

    code, _, err = _export(capsys, "good", "notes.txt")
    assert code == 2 and "notes.txt already exists" in err and "--overwrite" in err
    assert notes.read_text() == "my notes"

    for own in ("runs/good/events.jsonl", "runs/good/spec.json", "runs/good/checkpoints/x.csv"):
        code, _, err = _export(capsys, "good", own, "--overwrite")
        assert code == 2 and "inside the run directory" in err, own
    assert (tmp_path / "runs" / "good" / "events.jsonl").read_bytes() == events
    assert (tmp_path / "runs" / "good" / "spec.json").read_bytes() == spec

    code, _, err = _export(capsys, "good", "runs")
    assert code == 2 and "is a folder" in err
    code, _, err = _export(capsys, "good", "missing/out.csv")
    assert code == 2 and "no folder" in err

    code, out, _ = _export(capsys, "good", "notes.txt", "--overwrite")
    assert code == 0 and "wrote 4 rows" in out and notes.read_text().startswith("event,time,step,epoch")
    code, out, _ = _export(capsys, "good")  # the run's own export, RUN/metrics.csv, is replaced each time
    code, out, _ = _export(capsys, "good")
    assert code == 0 and (tmp_path / "runs" / "good" / "metrics.csv").read_text().count("\n") == 5


@pytest.mark.parametrize(
    "spec, says",
    [
        # masked-lm and sentence pairs export now (tests/test_training_script_families.py): a task with no script
        ({"task": "image-classification", "data": {"train": "t.csv"}}, "trained image-classification: the script"),
        ({"data": {"train": "t.csv"}, "grad_accum": 4}, "trained with gradient accumulation (4 micro-batches"),
        ({"data": {"train": "t.csv"}, "precision": "bf16"}, "trained with bf16 precision: the script export"),
        ({"data": {"train": "t.csv"}, "grad_checkpointing": True}, "trained with gradient checkpointing"),
        ({"task": "seq2seq", "data": {"train": "t.csv"}}, "trained seq2seq: the script export covers"),
        ({"task": "question-answering", "data": {"train": "t.csv"}}, "trained question-answering: the script"),
        ({"data": {"train": "t.csv"}, "lora": {"r": 8}}, "trained LoRA adapters: the script export does not"),
    ],
)
def test_a_run_the_script_export_cannot_reproduce_is_refused_not_approximated(
    spec: dict[str, object],
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    monkeypatch.chdir(tmp_path)
    make_run(tmp_path / "runs" / "r")
    (tmp_path / "runs" / "r" / "spec.json").write_text(json.dumps(spec))
    code, _, err = _export(capsys, "r", "--script", "train.py")
    assert code == 2 and says in err and not (tmp_path / "train.py").exists(), err


def test_merge_refuses_a_run_without_lora_adapters_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    monkeypatch.chdir(tmp_path)
    make_run(tmp_path / "runs" / "r")
    (tmp_path / "runs" / "r" / "spec.json").write_text(json.dumps({"data": {"train": "t.csv"}}))
    code, _, err = _export(capsys, "r", "--merge", "merged")
    assert code == 2 and "r has no final model yet" in err and not (tmp_path / "merged").exists(), err
    (tmp_path / "runs" / "r" / "final").mkdir()
    (tmp_path / "runs" / "r" / "final" / "config.json").write_text("{}")  # a full finetune's plain model
    code, _, err = _export(capsys, "r", "--merge", "merged")
    assert code == 2 and "r was not trained with LoRA" in err and not (tmp_path / "merged").exists(), err
    assert len(err.strip().splitlines()) == 1, err
