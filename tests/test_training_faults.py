"""Faults injected for real: stop and resume, two resumes racing, kill -9 while training and while saving a
checkpoint, a torn events line, a full disk, a read-only run directory, a closed terminal, ctrl+c, a stop
during preparation and during the baseline, a pid file pointing at an unrelated process.

Each resumed run is compared with an uninterrupted run of the same spec (the reference): every step once,
with the reference's loss and learning rate. That fails if the optimizer or scheduler state is not
restored, if finished batches are trained again, or if replayed steps show twice.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tui_hf.core.training import runlock
from tui_hf.core.training.events import EventReader, EventWriter, read_state
from tui_hf.core.training.follow import Follower
from tui_hf.core.training.job import create_run, job_pid, launch, request_stop, resume_plan, run_info
from tui_hf.data import SENTIMENT_CSV

pytest.register_assert_rewrite("tests.training_fixtures")  # its helpers' asserts explain their failures
from tests.training_fixtures import (  # noqa: E402
    Jobs,
    assert_same_training,
    events_whole,
    spec_for,
    tui_hf,
    wait_for,
)

pytest_plugins = ("tests.training_fixtures",)  # jobs, reference_runs, tmpfs, datasets_cache


def status(run_dir: Path) -> str:
    return run_info(run_dir).status


def step(run_dir: Path) -> int:
    return read_state(run_dir).step


def wrapper(tmp_path: Path, patch: str) -> Path:
    """A job process with one library function replaced (the fault), run as `python -m tui_hf.train` is."""
    script = tmp_path / "faulty_job.py"
    script.write_text(
        f"import os, sys, signal, time\n{patch}\nfrom tui_hf.train import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    return script


def assert_same_evals(run: Path, reference: Path) -> None:
    got = [(e["step"], e["eval_loss"]) for e in read_state(run).evals]
    want = [(e["step"], e["eval_loss"]) for e in read_state(reference).evals]
    assert [s for s, _ in got] == [s for s, _ in want]
    assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-4)


def kill_job(run_dir: Path) -> None:
    pid = job_pid(run_dir)
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not runlock.is_held(run_dir), 30, "the lock to drop with its process")


# -- native: stop, racing resumes, kill -9, torn line -----------------------------------------------------


def test_native_stop_race_kill_and_resume_train_exactly_what_an_uninterrupted_run_trains(
    tiny_bert_cls_dir: Path, tmp_path: Path, jobs: Jobs, reference_runs: Any
) -> None:
    reference = reference_runs("native")
    run_dir = jobs.watch(create_run(spec_for(tiny_bert_cls_dir, "native"), tmp_path / "runs", name="chain"))
    launch(run_dir)
    wait_for(lambda: step(run_dir) >= 20, what="step 20")
    request_stop(run_dir)  # mid-epoch 2
    wait_for(lambda: status(run_dir) == "stopped", what="a graceful stop")
    stopped_at = read_state(run_dir).step
    assert (run_dir / "checkpoints" / f"checkpoint-{stopped_at}").is_dir()

    # Two resumes race: one trains, the other is refused; never two writers.
    racers = [
        jobs.popen(
            [sys.executable, "-m", "tui_hf", "resume", str(run_dir), "--detach"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = sorted((p.wait(timeout=60), p.stderr.read() if p.stderr else "") for p in racers)
    assert [code for code, _ in results] == [0, 2], results
    # Refused by the lock, or already by the status (whichever the loser reached second).
    assert re.search(r"in use by another process|is still (starting|preparing|running)", results[1][1]), results

    # Polled often: a tiny job trains the 10 steps to the next checkpoint (48) in well under a second, and the
    # kill must land before it (once, in a full run on 2 busy cores, a 0.1 s poll may have missed it).
    wait_for(lambda: step(run_dir) >= 38, what="step 38", every=0.01)
    kill_job(run_dir)  # kill -9 mid-epoch 3: the last checkpoint is at step 32
    killed_at = step(run_dir)
    assert status(run_dir) == "died"
    follower = Follower(run_dir)
    follower.poll()
    assert follower.status == "died" and follower.eta_seconds is None
    with open(run_dir / "events.jsonl", "ab") as fh:
        fh.write(b'{"event": "train", "step": 99, "lo')  # a writer killed mid-line
    proc = tui_hf("resume", str(run_dir), timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "resuming chain from checkpoint-32 (step 32)" in proc.stdout

    events = events_whole(run_dir)  # the torn fragment was cut, nothing glued onto it
    starts = [e for e in events if e["event"] == "start"]
    assert [e["resumed_from_step"] for e in starts] == [0, stopped_at, 32]
    launches = [e for e in events if e["event"] == "status" and "pid" in e.get("message", "")]
    assert [e["status"] for e in launches] == ["preparing"] * 3
    replays = [e["step"] for e in events if e["event"] == "train" and e.get("replay")]
    assert replays == list(range(33, killed_at + 1))  # the steps redone after the crash, marked
    assert status(run_dir) == "finished"
    assert_same_training(run_dir, reference)
    assert_same_evals(run_dir, reference)
    assert "already finished" in tui_hf("resume", str(run_dir)).stderr


# -- Trainer: kill -9 in the middle of a checkpoint save ---------------------------------------------------


def test_trainer_killed_while_saving_resumes_from_the_last_complete_checkpoint(
    tiny_bert_cls_dir: Path, tmp_path: Path, jobs: Jobs, reference_runs: Any
) -> None:
    reference = reference_runs("trainer")
    run_dir = jobs.watch(create_run(spec_for(tiny_bert_cls_dir, "trainer"), tmp_path / "runs", name="saving"))
    marker = tmp_path / "in-save"
    script = wrapper(
        tmp_path,
        f"""
import torch
_save = torch.save
def save(obj, f, *a, **k):
    if "checkpoint-32" in str(f):  # the second checkpoint: write part of it, then hang until killed
        with open(f, "wb") as fh:
            fh.write(b"half an optimizer")
        open({str(marker)!r}, "w").close()
        time.sleep(600)
    return _save(obj, f, *a, **k)
torch.save = save
""",
    )
    jobs.popen([sys.executable, str(script), str(run_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(marker.exists, 180, "the job to be inside its second checkpoint save")
    kill_job(run_dir)
    assert not (run_dir / "checkpoints" / "checkpoint-32").exists()  # a half save never takes the real name
    plan = resume_plan(run_dir)
    assert plan.checkpoint is not None and plan.checkpoint.step == 16 and plan.skipped == ["checkpoint-32"]
    proc = tui_hf("resume", str(run_dir), timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "from checkpoint-16 (step 16); skipping the interrupted save checkpoint-32" in proc.stdout
    state = read_state(run_dir)
    assert state.status == "finished" and state.progress == 1.0 and state.step == state.total_steps == 48
    assert any("checkpoint-32 was not completely saved" in a["message"] for a in state.alerts)
    assert_same_training(run_dir, reference)
    assert_same_evals(run_dir, reference)  # the replayed evaluation at step 32 is not shown twice


# -- stop during preparation and during the baseline evaluation -------------------------------------------


def test_a_stop_during_data_preparation_ends_the_job_there(tiny_bert_cls_dir: Path, tmp_path: Path, jobs: Jobs) -> None:
    data = tmp_path / "many.csv"
    with open(data, "w") as fh:
        fh.write("text,label\n")
        for i in range(20_000):
            fh.write(f"review number {i},{'pos' if i % 2 else 'neg'}\n")
    spec = spec_for(tiny_bert_cls_dir, "native", replace_head=True)
    spec.data.train = str(data)
    run_dir = jobs.watch(create_run(spec, tmp_path / "runs"))
    script = wrapper(
        tmp_path,
        """
import tui_hf.core.training.data as data
_clean, calls = data.clean_record, [0]
def clean(*a, **k):
    calls[0] += 1
    if calls[0] == 10:  # the user presses stop while the rows are being read
        os.kill(os.getpid(), signal.SIGINT)
    return _clean(*a, **k)
data.clean_record = clean
""",
    )
    proc = jobs.popen(
        [sys.executable, str(script), str(run_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.wait(timeout=180) == 0, proc.stderr.read() if proc.stderr else ""
    state = read_state(run_dir)
    assert state.status == "stopped" and "while preparing the data" in state.message
    assert not state.train and not (run_dir / "checkpoints").exists()


def test_a_stop_during_the_baseline_evaluation_ends_the_job_there(
    tiny_bert_cls_dir: Path, tmp_path: Path, jobs: Jobs
) -> None:
    run_dir = jobs.watch(create_run(spec_for(tiny_bert_cls_dir, "trainer"), tmp_path / "runs"))
    script = wrapper(
        tmp_path,
        """
import transformers
_call = transformers.DataCollatorWithPadding.__call__
def call(self, *a, **k):  # the first batch collated is the baseline evaluation's: stop is pressed there
    if not getattr(call, "done", False):
        call.done = True
        os.kill(os.getpid(), signal.SIGINT)
    return _call(self, *a, **k)
transformers.DataCollatorWithPadding.__call__ = call
""",
    )
    proc = jobs.popen(
        [sys.executable, str(script), str(run_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.wait(timeout=180) == 0, proc.stderr.read() if proc.stderr else ""
    state = read_state(run_dir)
    assert state.status == "stopped" and "during the baseline evaluation" in state.message
    assert not state.train and not state.evals
    kinds = [e["event"] for e in EventReader(run_dir).read()]
    assert "control" in kinds  # the job acknowledged the request


# -- the terminal: a closed window, ctrl+c -----------------------------------------------------------------


def _foreground(args: list[str], jobs: Jobs) -> tuple[int, int]:
    """`tui-hf ARGS` on a pseudo-terminal of its own (as in a terminal window): (pid, master fd)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes `tui-hf`, the session leader of the terminal
        # What a terminal's programs start with, whatever this test run inherited: under `&` or nohup SIGINT
        # and SIGHUP are ignored, and an ignored signal stays ignored across exec (ctrl+c would do nothing).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        os.execv(sys.executable, [sys.executable, "-m", "tui_hf", *args])
    jobs.pids.append(pid)
    return pid, fd


def _read_until(fd: int, needle: bytes, timeout: float = 180) -> bytes:
    out, deadline = b"", time.monotonic() + timeout
    while needle not in out:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {needle!r} in {out[-2000:]!r}")
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                out += os.read(fd, 4096)
            except OSError:  # the terminal's other side closed: no more output will come
                raise AssertionError(f"no {needle!r} in {out[-2000:]!r}") from None
    return out


def _train_args(model: Path, runs: Path, name: str, epochs: int) -> list[str]:
    return [
        "train",
        "--data",
        str(SENTIMENT_CSV),
        "--model",
        str(model),
        "--engine",
        "native",
        "--epochs",
        str(epochs),
        "--batch-size",
        "16",
        "--max-length",
        "32",
        "--device",
        "cpu",
        "--runs-dir",
        str(runs),
        "--name",
        name,
    ]


def test_a_foreground_train_survives_its_terminal_closing(tiny_bert_cls_dir: Path, tmp_path: Path, jobs: Jobs) -> None:
    run_dir = jobs.watch(tmp_path / "runs" / "hup")
    pid, fd = _foreground(_train_args(tiny_bert_cls_dir, tmp_path / "runs", "hup", 3), jobs)
    _read_until(fd, b"step 1 ")
    closed_at = time.time()
    os.close(fd)  # the window closes: the kernel hangs up the terminal's session (SIGHUP)
    _, how = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(how) and os.WTERMSIG(how) == signal.SIGHUP  # the CLI went with its terminal
    wait_for(lambda: status(run_dir) in ("finished", "failed", "died"), 180, "the job to end")
    state = read_state(run_dir)
    assert state.status == "finished", state.message
    after = [e for e in EventReader(run_dir).read() if e["event"] == "train" and e["time"] > closed_at]
    assert after and state.train[-1][0] == state.total_steps == 48  # it trained on after the hangup, to the end


def test_ctrl_c_on_a_foreground_train_stops_it_with_a_checkpoint(
    tiny_bert_cls_dir: Path, tmp_path: Path, jobs: Jobs
) -> None:
    run_dir = jobs.watch(tmp_path / "runs" / "ctrlc")
    pid, fd = _foreground(_train_args(tiny_bert_cls_dir, tmp_path / "runs", "ctrlc", 40), jobs)
    try:
        _read_until(fd, b"step 1 ")
        os.write(fd, b"\x03")  # ctrl+c: the terminal sends SIGINT to its foreground process group
        out = _read_until(fd, b"status stopped")
        _, how = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.WIFEXITED(how) and os.WEXITSTATUS(how) == 0, out[-2000:]
    state = read_state(run_dir)
    assert state.status == "stopped" and state.step < 640
    assert (run_dir / "checkpoints" / f"checkpoint-{state.step}").is_dir()


# -- full disk, read-only ----------------------------------------------------------------------------------


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_a_full_disk_fails_the_job_in_one_line_and_every_command_says_so(
    tiny_bert_cls_dir: Path, tmp_path: Path, jobs: Jobs, tmpfs: Any, reference_runs: Any
) -> None:
    reference = reference_runs("native")
    fs = tmpfs("64m")
    runs = fs.path / "runs"
    run_dir = jobs.watch(create_run(spec_for(tiny_bert_cls_dir, "native"), runs, name="full"))
    filler = fs.fill(leave=4 * 2**20)  # room to start and log, none for a 13 MB checkpoint
    launch(run_dir)
    wait_for(lambda: status(run_dir) == "failed", 180, "the checkpoint save to fail")
    state = read_state(run_dir)
    assert re.fullmatch(
        r"saving checkpoint-16: the disk is full \(it needs about 1\d MiB, [34]\.\d MiB are free\): "
        "free some space",
        state.message,
    ), state.message
    assert events_whole(run_dir)[-1]["status"] == "failed"  # the last status is whole
    staging = run_dir / "checkpoints" / ".staging"
    assert not (run_dir / "checkpoints" / "checkpoint-16").exists()
    assert not staging.exists() or not any(staging.iterdir())  # nothing half-written left to fill the disk

    filler2 = fs.fill(leave=0)
    listing = tui_hf("runs", "--runs-dir", str(runs))
    assert listing.returncode == 0 and "full" in listing.stdout and "failed" in listing.stdout
    one_line_error(tui_hf("resume", str(run_dir), "--detach"), 4, "the disk is full")
    one_line_error(tui_hf("export", str(run_dir)), 4, "the disk is full")
    one_line_error(
        tui_hf(
            "train",
            "--data",
            str(SENTIMENT_CSV),
            "--model",
            str(tiny_bert_cls_dir),
            "--runs-dir",
            str(runs),
            "--device",
            "cpu",
        ),
        4,
        "the disk is full",
    )
    assert sorted(p.name for p in runs.iterdir()) == ["full"]  # no half-made run left behind

    filler.unlink()
    filler2.unlink()
    proc = tui_hf("resume", str(run_dir), timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert status(run_dir) == "finished"
    events_whole(run_dir)
    assert_same_training(run_dir, reference)  # the steps redone from the start are replays, shown once


def test_a_read_only_run_directory_gets_one_line_from_every_command(
    tiny_bert_cls_dir: Path, tmp_path: Path, tmpfs: Any
) -> None:
    fs = tmpfs("8m")
    runs = fs.path / "runs"
    run_dir = create_run(spec_for(tiny_bert_cls_dir, "native"), runs, name="ro")
    writer = EventWriter(run_dir)
    writer.start(engine="native", model="m", total_steps=48, epochs=3, labels=["a", "b"], batch_size=16)
    writer.train(step=1, epoch=0.06, loss=0.7)
    writer.status("stopped", message="checkpoint at step 1", step=1)
    writer.close()
    fs.remount("ro")
    listing = tui_hf("runs", "--runs-dir", str(runs))
    assert listing.returncode == 0 and "stopped" in listing.stdout
    one_line_error(tui_hf("resume", str(run_dir), "--detach"), 4, "read-only")
    one_line_error(tui_hf("export", str(run_dir)), 4, "read-only")
    one_line_error(tui_hf("runs", "rm", str(run_dir), "--runs-dir", str(runs)), 4, "read-only")
    one_line_error(
        tui_hf(
            "train",
            "--data",
            str(SENTIMENT_CSV),
            "--model",
            str(tiny_bert_cls_dir),
            "--runs-dir",
            str(runs),
            "--device",
            "cpu",
        ),
        4,
        "read-only",
    )
    job = subprocess.run(
        [sys.executable, "-m", "tui_hf.train", str(run_dir)], capture_output=True, text=True, timeout=60
    )
    one_line_error(job, 4, "read-only")
    assert read_state(run_dir).status == "stopped"


# -- who is the job: stale pid files, impostors, deleting --------------------------------------------------


def _fake_running_run(tmp_path: Path, tiny_bert_cls_dir: Path) -> Path:
    run_dir = create_run(spec_for(tiny_bert_cls_dir, "native"), tmp_path / "runs", name="ghost")
    writer = EventWriter(run_dir)
    writer.status("running")
    writer.close()
    return run_dir


def test_a_pid_file_pointing_at_an_unrelated_process_neither_keeps_a_run_alive_nor_gets_signalled(
    tiny_bert_cls_dir: Path, tmp_path: Path, jobs: Jobs
) -> None:
    run_dir = _fake_running_run(tmp_path, tiny_bert_cls_dir)
    bystander = jobs.popen(["sleep", "600"])
    (run_dir / "pid").write_text(str(bystander.pid))  # what older versions trusted
    (run_dir / "lock").write_text(
        json.dumps(
            {
                "pid": bystander.pid,
                "pgid": bystander.pid,
                "start": runlock.process_start(bystander.pid),
                "host": os.uname()[1],
            }
        )
    )
    assert status(run_dir) == "died" and job_pid(run_dir) is None
    proc = tui_hf("stop", str(run_dir))
    assert proc.returncode == 2 and "is not running" in proc.stderr
    assert bystander.poll() is None  # never signalled
    assert resume_plan(run_dir).checkpoint is None  # and resume is not blocked


def test_a_lock_holder_that_is_not_the_recorded_process_is_never_signalled(
    tiny_bert_cls_dir: Path, tmp_path: Path, jobs: Jobs
) -> None:
    run_dir = _fake_running_run(tmp_path, tiny_bert_cls_dir)
    ready = tmp_path / "holding"
    holder = jobs.popen(
        [
            sys.executable,
            "-c",
            f"""
import fcntl, json, os, time
fd = os.open({str(run_dir / "lock")!r}, os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, json.dumps({{"pid": os.getpid(), "pgid": os.getpid(), "start": "0", "host": os.uname()[1]}}).encode())
open({str(ready)!r}, "w").close()
time.sleep(600)
""",
        ]
    )
    wait_for(ready.exists, 30, "the lock holder")
    assert status(run_dir) == "running"  # someone holds the run: it is alive
    proc = tui_hf("stop", str(run_dir))
    assert proc.returncode == 2 and "cannot be identified" in proc.stderr
    assert holder.poll() is None
    one_line_error(tui_hf("resume", str(run_dir), "--detach"), 2, "still running")
    one_line_error(
        tui_hf("runs", "rm", str(run_dir), "--runs-dir", str(run_dir.parent)), 2, "stop it before deleting it"
    )
    assert run_dir.is_dir()
    holder.kill()
    holder.wait()
    assert status(run_dir) == "died"
    proc = tui_hf("runs", "rm", "ghost", "--runs-dir", str(tmp_path / "runs"))
    assert proc.returncode == 0 and not run_dir.exists()


def test_a_run_held_by_another_process_cannot_be_started(tiny_bert_cls_dir: Path, tmp_path: Path) -> None:
    from tui_hf.core.errors import RunStateError

    run_dir = create_run(spec_for(tiny_bert_cls_dir, "native"), tmp_path / "runs", name="held")
    with runlock.RunLock.acquire(run_dir) as lock:
        lock.record(os.getpid())
        with pytest.raises(RunStateError, match="in use by another process"):
            launch(run_dir)
        job = subprocess.run(
            [sys.executable, "-m", "tui_hf.train", str(run_dir)], capture_output=True, text=True, timeout=60
        )  # the job itself, started by hand: refuses too, writes nothing
        assert job.returncode == 2 and "in use by another process" in job.stderr
    assert not (run_dir / "events.jsonl").exists()


def test_a_torn_last_line_is_cut_before_the_next_writer_appends(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path)
    writer.train(step=1, epoch=0.1, loss=0.5)
    writer.close()
    with open(tmp_path / "events.jsonl", "ab") as fh:
        fh.write(b'{"event": "train", "step": 2, "lo')
    writer = EventWriter(tmp_path)
    writer.status("preparing")
    events = events_whole(tmp_path)
    assert [e["event"] for e in events] == ["train", "status"] and events[1]["status"] == "preparing"


def test_a_line_cut_short_by_a_full_disk_is_taken_back(tmp_path: Path, tmpfs: Any) -> None:
    """On a full tmpfs a write fills the last page and stops short: the writer takes the partial line back."""
    from tui_hf.core.errors import StorageError

    fs = tmpfs("1m")
    run_dir = fs.path / "run"
    writer = EventWriter(run_dir)
    writer.status("running")
    fs.fill(leave=0)
    with pytest.raises(StorageError, match="the disk is full"):
        writer.alert("x" * 20_000)  # longer than the room left in the file's last page
    writer.free_reserve()
    assert [e["event"] for e in events_whole(run_dir)] == ["status"]


def test_a_write_that_fails_leaves_no_half_line(tmp_path: Path) -> None:
    """/dev/full answers every write with ENOSPC: the writer reports it and the file stays whole."""
    from tui_hf.core.errors import StorageError

    writer = EventWriter(tmp_path)
    writer.status("running")
    os.close(writer._fd)
    writer._fd = os.open("/dev/full", os.O_WRONLY)
    with pytest.raises(StorageError, match="the disk is full"):
        writer.train(step=1, epoch=0.1, loss=0.5)
    assert [e["status"] for e in events_whole(tmp_path)] == ["running"]


# -- a checkpoint damaged after it was saved -------------------------------------------------------------------


def test_each_kind_of_damage_to_a_checkpoint_file_is_found_and_named(tmp_path: Path) -> None:
    """A checkpoint's files as the engines write them, then each damaged in one way a disk fault or a copy does."""
    import shutil

    import torch
    from safetensors.torch import save_file

    from tui_hf.core.training import checkpoints

    good = tmp_path / "checkpoints" / "checkpoint-4"
    good.mkdir(parents=True)
    (good / "config.json").write_text(json.dumps({"model_type": "bert"}))
    save_file({"w": torch.zeros(64, 8)}, str(good / "model.safetensors"))
    (good / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    torch.save({"state": {0: {"exp_avg": torch.ones(64, 8)}}}, good / "optimizer.pt")
    assert checkpoints.verify(good) is None

    def damaged(name: str, damage: Any) -> str | None:
        copy = tmp_path / f"copy-{name}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(good, copy)
        damage(copy / name)
        return checkpoints.verify(copy)

    def cut(path: Path) -> None:
        os.truncate(path, path.stat().st_size // 2)

    full = (good / "model.safetensors").stat().st_size  # what the header describes: the whole file
    assert (
        damaged("model.safetensors", cut)
        == f"model.safetensors is cut short ({full // 2:,} bytes; its header describes {full:,})"
    )
    assert damaged("model.safetensors", lambda p: os.truncate(p, 5)) == "model.safetensors is cut short (5 bytes)"
    assert (
        damaged("trainer_state.json", lambda p: p.write_text('{"global_step": 4, "log_hi'))
        == "trainer_state.json is not a readable JSON (JSONDecodeError)"
    )
    assert damaged("optimizer.pt", cut) == "optimizer.pt is not a readable archive (BadZipFile)"
    assert (
        damaged("optimizer.pt", lambda p: p.write_bytes(b"\0" * 4096))
        == "optimizer.pt is not a readable archive (BadZipFile)"
    )
    assert (damaged("config.json", lambda p: p.write_bytes(b"\xff\xfe\x00garbage")) or "").startswith(
        "config.json is not a readable JSON"
    )


@pytest.mark.parametrize("engine, damaged_file", [("native", "model.safetensors"), ("trainer", "optimizer.pt")])
def test_resume_falls_back_from_a_damaged_latest_checkpoint_to_the_newest_that_loads(
    tiny_bert_cls_dir: Path, tmp_path: Path, engine: str, damaged_file: str
) -> None:
    """Checkpoints at steps 2 (a save request) and 4 (a stop), then step 4's weights or optimizer state cut in
    half: resume says it cannot load checkpoint-4, resumes from step 2, trains to the end; the damaged one is
    kept aside as it was, with an alert naming it."""
    from tests.test_cockpit import AtStep, drive_inline, make_run
    from tui_hf.core.training.control import Control, send_control

    run_dir = make_run(tmp_path, tiny_bert_cls_dir, engine, f"damaged-{engine}", max_steps=6)

    def act(at: int, out: Any) -> None:
        if at in (2, 4):
            send_control(run_dir, Control("save" if at == 2 else "stop"), require_alive=False)

    outcome = drive_inline(run_dir, lambda model: AtStep(model).on_forward(act))
    assert outcome.stopped and outcome.step == 4
    bad = run_dir / "checkpoints" / "checkpoint-4" / damaged_file
    os.truncate(bad, bad.stat().st_size // 2)
    cut_size = bad.stat().st_size
    proc = tui_hf("resume", str(run_dir), timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"resuming damaged-{engine} from checkpoint-2 (step 2); checkpoint-4 ({damaged_file} ")
    assert first.endswith(") cannot be loaded: it is moved aside")
    state = read_state(run_dir)
    assert state.status == "finished" and state.step == 6
    starts = [e for e in EventReader(run_dir).read() if e["event"] == "start"]
    assert [e["resumed_from_step"] for e in starts] == [0, 2]
    [alert] = [a for a in state.alerts if "checkpoint-4" in a["message"]]
    assert alert["level"] == "error" and alert["message"].startswith(f"checkpoint-4 cannot be loaded: {damaged_file} ")
    assert alert["message"].endswith("moved it to checkpoints/checkpoint-4.corrupt and resuming from checkpoint-2")
    assert (run_dir / "checkpoints" / "checkpoint-4.corrupt" / damaged_file).stat().st_size == cut_size


# -- resuming on data that changed since the run started ----------------------------------------------------------


def test_resume_on_changed_data_is_refused_and_going_on_keeps_the_original_split(
    tiny_bert_cls_dir: Path, tmp_path: Path
) -> None:
    """Stopped at step 3; then two rows are added and a label flipped. `resume` refuses in one line saying what
    changed, touching nothing (and so does the job started directly); `resume --data-changed` trains to the end
    on the split it started with: no row it validated on is ever trained on (seen through the X-ray of every
    step after the resume), and an alert records the decision."""
    import csv

    import datasets

    from tests.test_cockpit import AtStep, drive_inline, make_run
    from tests.training_fixtures import run_job
    from tui_hf.core.training.control import Control, send_control
    from tui_hf.core.training.data import data_changes
    from tui_hf.core.training.preflight import DataPlan
    from tui_hf.core.training.spec import TrainSpec
    from tui_hf.core.training.xray import xray

    data = tmp_path / "reviews.csv"
    data.write_bytes(SENTIMENT_CSV.read_bytes())
    run_dir = make_run(tmp_path, tiny_bert_cls_dir, "native", "drift", data=data, max_steps=8)

    def act(at: int, out: Any) -> None:
        if at == 3:
            send_control(run_dir, Control("stop"), require_alive=False)

    assert drive_inline(run_dir, lambda model: AtStep(model).on_forward(act)).step == 3
    plan = resume_plan(run_dir)  # the data as it started: nothing to say
    assert plan.checkpoint is not None and plan.checkpoint.step == 3 and not plan.data_changes
    with open(data, newline="", encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    # The rows it validated on, as the documented split makes them (datasets' train_test_split, fraction 0.2,
    # the spec's seed 1) from the file as it was.
    held_out = set(
        datasets.Dataset.from_dict({"text": [r["text"] for r in table]}).train_test_split(test_size=0.2, seed=1)[
            "test"
        ]["text"]
    )
    assert len(held_out) == 64
    rows = len(table)
    table[10]["label"] = {"positive": "negative", "negative": "positive"}[table[10]["label"]]
    table += [
        {"text": "A brand new review, added later.", "label": "positive"},
        {"text": "Another one, added later too.", "label": "positive"},
    ]
    with open(data, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(table)

    kept = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    refused = tui_hf("resume", str(run_dir))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert (
        f"drift: the data changed since the run started ({data}: 2 more rows ({rows} then, {rows + 2} now); "
        "label counts "
    ) in refused.stderr
    assert "Resume with --data-changed to go on anyway" in refused.stderr
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == kept  # nothing written
    direct = run_job(run_dir)  # the job started without `resume` (a script, torchrun) refuses as well
    assert direct.returncode == 2 and read_state(run_dir).status == "failed"
    assert read_state(run_dir).message.startswith("drift: the data changed since the run started")

    went_on = tui_hf("resume", str(run_dir), "--data-changed", timeout=240)
    assert went_on.returncode == 0, went_on.stderr[-2000:]
    assert went_on.stdout.startswith(
        f"resuming drift from checkpoint-3 (step 3); on changed data ({data}: 2 more rows ({rows} then, {rows + 2} now)"
    )
    state = read_state(run_dir)
    assert state.status == "finished" and state.step == 8
    [alert] = [a for a in state.alerts if "the data changed" in a["message"]]
    assert alert["message"].endswith(
        "going on as asked (--data-changed) from checkpoint-3: the 64 rows it "
        "validated on stay validation rows, new rows train"
    )
    trained = {table[r.source_row - 2]["text"] for step in range(4, 9) for r in xray(run_dir, step).rows}
    assert len(trained) == 5 * 16 and not trained & held_out
    assert all(xray(run_dir, step).matches for step in (4, 8))  # the X-ray rebuilds the kept split too
    [final] = [e for e in EventReader(run_dir).read() if e["event"] == "predictions" and e["step"] == 8]
    assert final["items"] and all(item["text"] in held_out for item in final["items"])
    # Once gone on, the files as they are now are the run's (with the kept split): nothing new to refuse later.
    stored = DataPlan.load(run_dir / "data.json")
    assert stored is not None and stored.fingerprint is not None and stored.fingerprint["kept"]
    assert data_changes(TrainSpec.load(run_dir / "spec.json"), stored) == []
