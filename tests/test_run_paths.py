"""Which directory a RUN argument means, what `runs rm` may delete, and paths that survive a moved data file or
a copied run (issue 16, items 1 and 10).

The truths here are the file trees themselves: a folder that must be kept is compared byte for byte before and
after, and a deleted run is checked gone from the disk.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.training_fixtures import datasets_cache, spec_for  # noqa: F401
from tui_hf.cli import main
from tui_hf.core.training.events import EventReader, EventWriter, read_state
from tui_hf.core.training.job import MARKER, create_run, resume_plan
from tui_hf.data import SENTIMENT_CSV


def tree(path: Path) -> dict[str, bytes]:
    """Every file under `path` with its bytes (the independent record of what must be kept)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tui-hf: error:") and "Traceback" not in err, err
    return lines[0]


def stopped_run(run_dir: Path) -> Path:
    """A run whose job trained a step and stopped (its events, as the job writes them)."""
    writer = EventWriter(run_dir)
    writer.start(engine="native", model="m", total_steps=48, epochs=3, labels=["negative", "positive"], batch_size=16)
    writer.train(step=1, epoch=0.06, loss=0.7)
    writer.status("stopped", message="checkpoint at step 1", step=1)
    writer.close()
    return run_dir


# -- item 1: a bare NAME is RUNS_DIR/NAME; runs rm deletes only a run tui-hf made, inside the runs directory --


RUN_COMMANDS = [
    ["runs", "rm", "exp"],
    ["attach", "exp", "--once"],
    ["stop", "exp"],
    ["resume", "exp"],
    ["export", "exp"],
    ["control", "exp", "save", "--wait", "0"],
    ["batch", "exp", "1"],
    ["runs", "--diff", "exp", "exp"],
]


def test_a_bare_name_is_the_run_in_the_runs_directory_never_a_folder_here(
    tiny_bert_cls_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TUI_HF_RUNS", raising=False)
    # A project folder named like the run, holding everything a run holds (a whole run copied in, even).
    stopped_run(create_run(spec_for(tiny_bert_cls_dir, "native"), tmp_path / "elsewhere", name="exp"))
    shutil.copytree(tmp_path / "elsewhere" / "exp", tmp_path / "exp")
    (tmp_path / "exp" / "notes.txt").write_text("my own work")
    kept = tree(tmp_path / "exp")
    for argv in RUN_COMMANDS:
        assert main(argv) == 2, argv
        assert "no run named exp in runs" in one_line(capsys), argv
    assert tree(tmp_path / "exp") == kept  # nothing deleted, stopped, exported or requested in ./exp

    run_dir = create_run(spec_for(tiny_bert_cls_dir, "native"), "runs", name="exp")
    assert main(["runs", "rm", "exp"]) == 0
    assert not run_dir.exists() and (tmp_path / "runs").is_dir()
    assert tree(tmp_path / "exp") == kept


def test_runs_rm_refuses_anything_but_a_marked_run_inside_the_runs_directory(
    tiny_bert_cls_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    runs = work / "runs"
    runs.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.delenv("TUI_HF_RUNS", raising=False)
    outside = stopped_run(create_run(spec_for(tiny_bert_cls_dir, "native"), tmp_path, name="x"))
    inside = stopped_run(create_run(spec_for(tiny_bert_cls_dir, "native"), runs, name="real"))
    (runs / "link").symlink_to(outside)  # a run elsewhere, linked in
    (runs / "alias").symlink_to(inside)  # a second name for a run inside
    legacy = runs / "legacy"  # a run as an older tui-hf left it: no marker
    shutil.copytree(inside, legacy)
    (legacy / MARKER).unlink()
    before = tree(tmp_path)
    refusals = {
        "../x": "not a run inside the runs directory",
        "runs/../../x": "not a run inside the runs directory",
        "link": "not a run inside the runs directory",
        "alias": "not a run inside the runs directory",
        ".": "not a run inside the runs directory",
        "./runs": "not a run inside the runs directory",
        "legacy": f"has no {MARKER}",
    }
    for ref, says in refusals.items():
        assert main(["runs", "rm", ref]) == 2, ref
        line = one_line(capsys)
        assert "refused" in line and says in line and "nothing deleted" in line, (ref, line)
        if ref == "legacy":
            assert f"would remove {len(tree(legacy))} files" in line, line
    assert tree(tmp_path) == before and (runs / "link").is_symlink() and (runs / "alias").is_symlink()

    # The older run is still a run for everything that reads it.
    assert main(["runs"]) == 0 and "legacy" in capsys.readouterr().out
    assert main(["export", "legacy", str(tmp_path / "m.csv")]) == 0 and (tmp_path / "m.csv").is_file()

    (runs / "alias").unlink()
    assert main(["runs", "rm", "runs/real"]) == 0  # a path inside the runs directory is fine
    assert not inside.exists() and outside.is_dir() and legacy.is_dir()


def test_a_scripts_callback_marks_only_a_directory_it_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui_hf import TuiHfCallback

    runs = tmp_path / "runs"
    mine = runs / "mine"  # a folder of the user's, given to the callback as its run directory
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my own work")
    for run_dir in (runs / "fresh", mine):
        callback = TuiHfCallback(run_dir)
        callback._w().status("running")
        callback.on_train_end(
            None, type("State", (), {"is_world_process_zero": True, "global_step": 0, "max_steps": 0})(), None
        )
    assert (runs / "fresh" / MARKER).is_file() and not (mine / MARKER).exists()
    assert main(["runs", "rm", "mine", "--runs-dir", str(runs)]) == 2
    assert f"has no {MARKER}" in one_line(capsys)
    assert (mine / "notes.txt").read_text() == "my own work"
    assert main(["runs", "rm", "fresh", "--runs-dir", str(runs)]) == 0 and not (runs / "fresh").exists()


# -- item 10: the data path resolved at creation, events with run-relative paths ------------------------------


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(SENTIMENT_CSV, project / "reviews.csv")
    monkeypatch.chdir(project)
    return project


def test_a_run_keeps_its_data_path_absolute_and_its_events_point_inside_the_run(
    tiny_bert_cls_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path, monkeypatch)
    spec = spec_for(tiny_bert_cls_dir, "native", max_steps=2, epochs=1)
    spec.data.train = "reviews.csv"  # as typed in the project directory
    run_dir = create_run(spec, tmp_path / "runs", name="rel")
    saved = json.loads((run_dir / "spec.json").read_text())
    assert saved["data"]["train"] == str(project / "reviews.csv")
    assert json.loads((run_dir / MARKER).read_text())["data_as_given"] == {"train": "reviews.csv"}
    assert json.loads((run_dir / "data.json").read_text())["reports"][0]["path"] == str(project / "reviews.csv")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    job = subprocess.run(
        [sys.executable, "-m", "tui_hf.train", str(run_dir)],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=240,
        start_new_session=True,
    )
    assert job.returncode == 0, job.stderr[-2000:]
    assert read_state(run_dir).status == "finished"
    events = EventReader(run_dir).read()
    assert [e["path"] for e in events if e["event"] == "final"] == ["final"]
    checkpoints = [e["path"] for e in events if e["event"] == "checkpoint"]
    assert checkpoints and all(p.startswith("checkpoints/checkpoint-") for p in checkpoints), checkpoints

    copy = tmp_path / "copied" / "rel"
    shutil.copytree(run_dir, copy)
    shutil.rmtree(run_dir)  # the original is gone: the copy must point at its own files
    state = read_state(copy)
    assert state.final_path == str(copy / "final") and (copy / "final" / "model.safetensors").is_file()
    assert state.checkpoints and all(p.startswith(str(copy / "checkpoints")) for p in state.checkpoints)
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(state.final_path).id2label == {0: "negative", 1: "positive"}


def test_resume_and_batch_say_when_the_data_file_moved(
    tiny_bert_cls_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, monkeypatch)
    spec = spec_for(tiny_bert_cls_dir, "native")
    spec.data.train = "reviews.csv"
    run_dir = stopped_run(create_run(spec, tmp_path / "runs", name="moved"))
    monkeypatch.chdir(tmp_path)
    resume_plan(run_dir)  # from another directory: the data is found by its absolute path
    (project / "reviews.csv").rename(tmp_path / "reviews-renamed.csv")
    before = tree(run_dir)
    for argv, action in ((["resume", str(run_dir)], "resume"), (["batch", str(run_dir), "1"], "X-ray")):
        assert main(argv) == 2
        line = one_line(capsys)
        assert (
            f"cannot {action} moved: its train data {project / 'reviews.csv'} (given as reviews.csv) is missing" in line
        ), line
    assert tree(run_dir) == before  # no job started, nothing written


def _older_run(run_dir: Path, data: str, final: str | None = None) -> Path:
    """A run as the previous version wrote it: no marker, the data path as typed, absolute paths in events."""
    (run_dir / MARKER).unlink()
    spec = json.loads((run_dir / "spec.json").read_text())
    spec["data"]["train"] = data
    (run_dir / "spec.json").write_text(json.dumps(spec))
    lines: list[dict[str, Any]] = [
        {"event": "status", "time": 1.0, "status": "preparing"},
        {"event": "start", "time": 2.0, "engine": "native", "model": "m", "total_steps": 2, "labels": ["a", "b"]},
        {"event": "train", "time": 3.0, "step": 1, "epoch": 0.5, "loss": 0.7},
    ]
    if final:
        lines += [
            {"event": "checkpoint", "time": 4.0, "step": 2, "path": f"{final}/../checkpoints/checkpoint-2"},
            {"event": "final", "time": 4.0, "step": 2, "path": final},
            {"event": "status", "time": 5.0, "status": "finished", "step": 2},
        ]
    else:
        lines.append({"event": "status", "time": 4.0, "status": "stopped", "step": 1})
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    return run_dir


def test_runs_from_the_previous_version_still_read_and_resume(
    tiny_bert_cls_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, monkeypatch)
    old = _older_run(create_run(spec_for(tiny_bert_cls_dir, "native"), tmp_path / "runs", name="old"), "reviews.csv")
    assert resume_plan(old).checkpoint is None  # from the directory it was started in: as before
    monkeypatch.chdir(tmp_path)
    assert main(["resume", "old", "--runs-dir", str(tmp_path / "runs")]) == 2
    line = one_line(capsys)
    assert "its train data reviews.csv is relative to the directory the run was started from" in line, line
    assert str(tmp_path) in line and project.is_dir()

    final = str(tmp_path / "somewhere" / "final")
    done = _older_run(
        create_run(spec_for(tiny_bert_cls_dir, "native"), tmp_path / "runs", name="done"),
        str(project / "reviews.csv"),
        final=final,
    )
    state = read_state(done)
    assert state.final_path == final and state.checkpoints == [f"{final}/../checkpoints/checkpoint-2"]
    assert main(["attach", "done", "--once", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert f"model: {final}" in capsys.readouterr().out
