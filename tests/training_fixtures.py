"""Shared pieces of the training tests: specs on the shipped data, jobs that are always killed, an
uninterrupted reference run per engine (the independent truth a resumed run is compared against), and a
small tmpfs for full-disk and read-only faults.

Import the fixtures into a test module (`from tests.training_fixtures import jobs, ...`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tui_hf.core.training.events import EventReader, read_state
from tui_hf.core.training.spec import DataSpec, TrainSpec
from tui_hf.data import SENTIMENT_CSV

REFERENCE_EPOCHS = 3  # 256 train rows / 16 = 16 steps per epoch: 48 steps, a checkpoint each 16


def spec_for(model: Path, engine: str, **overrides: Any) -> TrainSpec:
    data = DataSpec(train=str(SENTIMENT_CSV), max_length=32, validation_fraction=0.2)
    base: dict[str, Any] = dict(
        model=str(model),
        engine=engine,
        epochs=REFERENCE_EPOCHS,
        batch_size=16,
        learning_rate=5e-3,
        warmup=0.1,
        logging_steps=1,
        device="cpu",
        seed=1,
    )
    base.update(overrides)
    return TrainSpec(data=data, **base)


def wait_for(predicate: Callable[[], Any], timeout: float = 120.0, what: str = "condition", every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def spawn_job(run_dir: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The job as the app starts it (python -m tui_hf.train: a fresh interpreter), waited for."""
    return subprocess.run(
        [sys.executable, "-m", "tui_hf.train", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )


# A process that has imported what every job imports and forks a job on request. Forking the test process
# itself is not safe: once torch has run a parallel region there, OpenMP's thread pool does not survive a fork
# and the child hangs in its first layer norm. This process runs no torch op before it forks.
ZYGOTE = r"""
import json, os, signal, sys, traceback
import datasets, peft, sacrebleu, seqeval.metrics, torch, transformers
from rouge_score import rouge_scorer
from transformers import Trainer, Seq2SeqTrainer, get_linear_schedule_with_warmup
from transformers.models.bert import modeling_bert
from transformers.models.gpt2 import modeling_gpt2
from transformers.models.t5 import modeling_t5
from transformers.models.bart import modeling_bart
import tui_hf.train
from tui_hf.core.training import engine_native, engine_trainer, families
import tui_hf.core.training.events as events

reply = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)  # a stray print must not land in the replies
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.setsid()
            os.environ.clear()
            os.environ.update(req["env"])
            os.chdir(req["cwd"])
            fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            stop_after = req["stop_after"]
            if stop_after is not None:
                logged = events.EventWriter.train
                def train(self, **fields):
                    out = logged(self, **fields)
                    if fields.get("step") == stop_after:
                        os.kill(os.getpid(), signal.SIGINT)
                    return out
                events.EventWriter.train = train
            code = tui_hf.train.main(req["args"])
        except BaseException:
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    reply.write(json.dumps({"pid": pid}) + "\n")
    _, status = os.waitpid(pid, 0)
    reply.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
"""


class _Zygote:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _reply(self, deadline: float) -> dict[str, Any] | None:
        import select

        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            if select.select([self.proc.stdout], [], [], 0.2)[0]:
                line = self.proc.stdout.readline()
                if not line:
                    raise RuntimeError("the job zygote died")
                return json.loads(line)
        return None

    def run(self, run_dir: Path, args: list[str], stop_after: int | None, log: Path, timeout: float) -> int | None:
        """The job's exit code, or None when it ran past `timeout` (then it is killed)."""
        assert self.proc.stdin is not None
        request = {
            "args": [str(run_dir), *args],
            "stop_after": stop_after,
            "log": str(log),
            "env": dict(os.environ),
            "cwd": os.getcwd(),
        }
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        started = self._reply(deadline + 60)  # the first request waits for the imports too
        assert started is not None, "the job zygote did not start a job"
        done = self._reply(deadline)
        if done is None:
            try:
                os.killpg(started["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reply(time.monotonic() + 30)
            return None
        return int(done["code"])


_ZYGOTE: list[_Zygote] = []


def run_job(
    run_dir: Path, *args: str, stop_after: int | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """The job's own entry point (tui_hf.train.main) in a process forked from a warm one, waited for.

    A process of its own (its signal handlers, its run lock, its threads, its exit code, this test's
    environment and directory), without the ~6 s a fresh interpreter spends importing torch, transformers and
    datasets. For tests of what a job trains; the tests of how a job is started, detached, signalled or
    killed spawn it (`spawn_job`, the CLI). With `stop_after`, the job sends itself SIGINT (ctrl+c) once it
    has logged that step."""
    if not _ZYGOTE or not _ZYGOTE[0].alive():
        _ZYGOTE[:] = [_Zygote()]
    log = run_dir.parent / f".{run_dir.name}-{time.monotonic_ns()}.out"
    code = _ZYGOTE[0].run(run_dir, list(args), stop_after, log, timeout)
    out = log.read_text(errors="replace") if log.exists() else ""
    log.unlink(missing_ok=True)
    if code is None:
        raise subprocess.TimeoutExpired(["tui_hf.train", str(run_dir)], timeout, out)
    return subprocess.CompletedProcess(["tui_hf.train", str(run_dir)], code, out, out)


def train_steps(run_dir: Path) -> list[tuple[int, float, float]]:
    """(step, loss, learning rate) of every train event a view shows (replays skipped)."""
    return [
        (e["step"], e["loss"], e["learning_rate"])
        for e in EventReader(run_dir).read()
        if e["event"] == "train" and not e.get("replay")
    ]


def assert_same_training(run: Path, reference: Path, rel: float = 1e-4) -> None:
    """Every step once, with the reference's loss and learning rate (what an uninterrupted run trained)."""
    got, want = train_steps(run), train_steps(reference)
    assert [s for s, _, _ in got] == [s for s, _, _ in want]
    for (step, loss, lr), (_, loss_ref, lr_ref) in zip(got, want):
        assert loss == pytest.approx(loss_ref, rel=rel), f"step {step}: loss {loss} vs {loss_ref}"
        assert lr == pytest.approx(lr_ref, rel=rel), f"step {step}: lr {lr} vs {lr_ref}"


class Jobs:
    """Every process a test starts; all killed (their whole session) when the test ends, pass or fail."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[Any]] = []
        self.runs: list[Path] = []
        self.pids: list[int] = []

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(argv, **kwargs)
        self.procs.append(proc)
        return proc

    def watch(self, run_dir: Path) -> Path:
        """A run whose job (whoever started it) must not outlive the test."""
        self.runs.append(run_dir)
        return run_dir

    def kill_all(self) -> None:
        from tui_hf.core.training import runlock

        for run_dir in self.runs:
            who = runlock.holder(run_dir)
            if who is not None and who.verified and who.pid:
                self.pids.append(who.pid)
        for proc in self.procs:
            self.pids.append(proc.pid)
        for pid in self.pids:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def jobs() -> Iterator[Jobs]:
    tracker = Jobs()
    try:
        yield tracker
    finally:
        tracker.kill_all()


@pytest.fixture(scope="session", autouse=True)
def datasets_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Jobs started by the tests keep their `datasets` cache in the test's temporary directory."""
    old = os.environ.get("HF_DATASETS_CACHE")
    os.environ["HF_DATASETS_CACHE"] = str(tmp_path_factory.mktemp("datasets-cache"))
    yield
    if old is None:
        os.environ.pop("HF_DATASETS_CACHE", None)
    else:
        os.environ["HF_DATASETS_CACHE"] = old


@pytest.fixture(scope="session")
def reference_runs(
    tiny_bert_cls_dir: Path, tmp_path_factory: pytest.TempPathFactory, datasets_cache: None
) -> Callable[[str], Path]:
    """An uninterrupted run per engine (made once, on first use): the truth resumed runs must reproduce."""
    from tui_hf.core.training.job import create_run

    made: dict[str, Path] = {}

    def get(engine: str) -> Path:
        if engine not in made:
            root = tmp_path_factory.mktemp(f"reference-{engine}")
            run_dir = create_run(spec_for(tiny_bert_cls_dir, engine), root, name=f"reference-{engine}")
            proc = run_job(run_dir)
            assert proc.returncode == 0, proc.stderr[-3000:]
            assert "Warning" not in proc.stderr + proc.stdout, proc.stderr  # nothing from our own code
            made[engine] = run_dir
        return made[engine]

    return get


# -- a small file system of our own: full disks and read-only directories, for real -----------------------


class Tmpfs:
    """A tmpfs mounted in a private mount namespace held by a `sleep`; reached through /proc/PID/root."""

    def __init__(self, proc: subprocess.Popen[bytes], inside: Path) -> None:
        self.proc = proc
        self.inside = inside  # the mount point as the namespace sees it
        self.path = Path(f"/proc/{proc.pid}/root") / inside.relative_to("/")

    def fill(self, leave: int = 0) -> Path:
        """Fill the file system, leaving about `leave` bytes free; returns the filler file."""
        filler = self.path / f"filler-{len(list(self.path.glob('filler-*')))}"
        free = shutil.disk_usage(self.path).free
        with open(filler, "ab") as fh:
            remaining = free - leave
            block = b"\0" * (1 << 20)
            try:
                while remaining > 0:
                    n = fh.write(block[: min(len(block), remaining)])
                    fh.flush()
                    remaining -= n
            except OSError:
                pass
        return filler

    def remount(self, options: str) -> None:
        subprocess.run(
            ["nsenter", "-t", str(self.proc.pid), "-m", "mount", "-o", f"remount,{options}", str(self.inside)],
            check=True,
            capture_output=True,
        )


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Tmpfs]]:
    """make(size) -> Tmpfs; skipped where mount namespaces are not available (unprivileged CI)."""
    made: list[Tmpfs] = []

    def make(size: str) -> Tmpfs:
        if shutil.which("unshare") is None or shutil.which("nsenter") is None or os.geteuid() != 0:
            pytest.skip("needs unshare/nsenter as root for a private tmpfs")
        inside = tmp_path / f"mnt{len(made)}"
        inside.mkdir()
        proc = subprocess.Popen(
            [
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                f"mount -t tmpfs -o size={size} tmpfs {inside} && echo ready && exec sleep 3600",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        line = proc.stdout.readline() if proc.stdout else b""
        if line.strip() != b"ready":
            proc.kill()
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.read().decode() if proc.stderr else ''}")
        fs = Tmpfs(proc, inside)
        made.append(fs)
        return fs

    try:
        yield make
    finally:
        for fs in made:
            fs.proc.kill()  # the namespace and its tmpfs go with its last process
            fs.proc.wait()


def events_whole(run_dir: Path) -> list[dict[str, Any]]:
    """Every line of events.jsonl parses and the file ends with a newline (nothing torn)."""
    raw = (run_dir / "events.jsonl").read_bytes()
    assert raw.endswith(b"\n"), raw[-200:]
    return [json.loads(line) for line in raw.splitlines()]


def tui_hf(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_hf", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def final_state(run_dir: Path) -> Any:
    return read_state(run_dir)
