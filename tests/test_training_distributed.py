"""Several machines: two `tui-hf train --nnodes 2 --node-rank 0/1 --rdzv 127.0.0.1:PORT` on this machine (gloo,
one process each) train one run, as two hosts would under torchrun's c10d rendezvous."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.training_fixtures import tui_hf, wait_for
from tui_hf.cli import main
from tui_hf.core.errors import EXIT_USAGE, SpecError
from tui_hf.core.training.events import EventReader, read_state
from tui_hf.core.training.nodes import RANKS, adopt_node_rank, format_ranks, read_ranks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launcher_of(pid: int) -> bool:
    import psutil

    try:
        return any("torch.distributed.run" in " ".join(c.cmdline()) for c in psutil.Process(pid).children())
    except psutil.Error:
        return False


class Nodes:
    """The two machines' `tui-hf train` processes, and everything they started, killed at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, model: Path, runs: Path, engine: str, max_steps: int) -> Path:
        """Node rank 1 first: its launcher gets the lower pid, so c10d (which orders machines by host name, then
        pid) makes it rendezvous rank 0, and only tui-hf's numbering by --node-rank keeps the run on node 0."""
        port = _free_port()
        for rank in (1, 0):
            argv = [
                sys.executable, "-m", "tui_hf", "train", "--data", "sentiment", "--model", str(model),
                "--engine", engine, "--device", "cpu", "--max-steps", str(max_steps), "--batch-size", "8",
                "--max-length", "32", "--runs-dir", str(runs), "--name", "two",
                "--nnodes", "2", "--node-rank", str(rank), "--rdzv", f"127.0.0.1:{port}",
            ]  # fmt: skip
            self.procs.append(
                subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
                )
            )
            if rank == 1:
                wait_for(lambda: self.running() and _launcher_of(self.procs[0].pid), timeout=120, what="node 1")
        self.procs.reverse()  # [node rank 0, node rank 1]
        return runs / "two"

    def running(self) -> bool:
        """True while both run; a machine whose command ended early fails the test at once (output shown)."""
        ended = [p.returncode for p in self.procs if p.poll() is not None]
        assert not ended, f"a node's command ended early: {ended}"
        return True

    def wait(self, timeout: float) -> list[int]:
        return [p.wait(timeout=timeout) for p in self.procs]

    def kill_all(self) -> None:
        import psutil

        for p in self.procs:
            try:
                family = [psutil.Process(p.pid), *psutil.Process(p.pid).children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for q in family:
                try:
                    q.kill()
                except psutil.NoSuchProcess:
                    pass
        for rank, p in enumerate(self.procs):
            try:
                out, _ = p.communicate(timeout=10)
                print(f"--- node rank {rank} (exit {p.returncode}):\n{out[-3000:]}")  # shown when a test fails
            except (subprocess.TimeoutExpired, ValueError):
                pass


@pytest.fixture
def nodes() -> Iterator[Nodes]:
    tracker = Nodes()
    try:
        yield tracker
    finally:
        tracker.kill_all()


def _ranks(run_dir: Path) -> list[dict]:
    try:
        return json.loads((run_dir / RANKS).read_text())["ranks"]
    except (OSError, ValueError, KeyError):
        return []


def _stop_after_steps_on_both(nodes: Nodes, run_dir: Path) -> None:
    """Wait for training on both ranks, stop with `tui-hf control RUN stop`, check both machines end."""
    wait_for(
        lambda: (
            nodes.running()
            and read_state(run_dir).step >= 2
            and len([r for r in _ranks(run_dir) if r.get("step", 0) >= 1]) == 2
        ),
        timeout=240,
        what="two ranks training",
    )
    done = tui_hf("control", str(run_dir), "stop", "--wait", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done: stopping at step" in done.stdout
    codes = nodes.wait(timeout=60)  # both machines' commands end, not only rank 0's
    assert codes == [0, 0], [p.stdout.read() if p.stdout else "" for p in nodes.procs]


def _one_stream_of_world_size_two(run_dir: Path) -> None:
    events = EventReader(run_dir).read()
    starts = [e for e in events if e["event"] == "start"]
    assert len(starts) == 1 and starts[0]["world_size"] == 2, starts
    steps = [e["step"] for e in events if e["event"] == "train"]
    assert steps == sorted(set(steps)), steps  # each step once: a second writer would repeat them
    # A random two-class head starts near ln 2 = 0.69 on every rank: the mean over ranks, not their sum.
    losses = [e["loss"] for e in events if e["event"] == "train"] + [e["eval_loss"] for e in events if "eval_loss" in e]
    assert losses and all(0.55 < x < 0.85 for x in losses), losses
    state = read_state(run_dir)
    assert state.status == "stopped" and 2 <= state.step < 400
    assert (run_dir / "checkpoints" / f"checkpoint-{state.step}").is_dir()
    ranks = _ranks(run_dir)
    assert [r["rank"] for r in ranks] == [0, 1]
    assert ranks[0]["pid"] == starts[0]["pid"]  # rank 0 is the process that writes the events
    assert ranks[0]["pid"] != ranks[1]["pid"]
    for r in ranks:
        assert r["host"] == socket.gethostname() and r["step"] >= 1 and r["rss_mb"] > 50
        assert r["vitals"]["rss_mb"] > 50 and r["vitals"]["ram_total_mb"] > 0  # each rank sampled itself
    # Node rank 1 trained from a folder of its own: nothing of its own in the run.
    assert not any(p.name.startswith("tui-hf-node") for p in run_dir.iterdir())
    shown = tui_hf("attach", "--once", str(run_dir))
    assert shown.returncode == 0
    rows = [line for line in shown.stdout.splitlines() if line.startswith("  ") and line.split()[0] in ("0", "1")]
    assert len(rows) == 2 and "ranks (2):" in shown.stdout, shown.stdout
    assert len([line for line in shown.stdout.splitlines() if "machine ram" in line]) == 2, shown.stdout
    assert "dead" not in shown.stdout and "straggler" not in shown.stdout


def test_two_machines_train_one_native_run_and_one_stop_ends_both(
    tiny_bert_cls_dir: Path, tmp_path: Path, nodes: Nodes
) -> None:
    run_dir = nodes.start(tiny_bert_cls_dir, tmp_path / "runs", "native", 400)
    _stop_after_steps_on_both(nodes, run_dir)
    _one_stream_of_world_size_two(run_dir)


def test_two_machines_train_one_trainer_run_and_one_stop_ends_both(
    tiny_bert_cls_dir: Path, tmp_path: Path, nodes: Nodes
) -> None:
    run_dir = nodes.start(tiny_bert_cls_dir, tmp_path / "runs", "trainer", 400)
    _stop_after_steps_on_both(nodes, run_dir)
    _one_stream_of_world_size_two(run_dir)


def test_a_signal_stop_on_node_zero_ends_both_machines(tiny_bert_cls_dir: Path, tmp_path: Path, nodes: Nodes) -> None:
    """`tui-hf stop` (as ctrl+c) interrupts node 0's workers, not its launcher: an interrupted launcher would leave
    node 1's waiting for it at torchrun's exit barrier (5 minutes)."""
    run_dir = nodes.start(tiny_bert_cls_dir, tmp_path / "runs", "native", 400)
    wait_for(
        lambda: nodes.running() and len([r for r in _ranks(run_dir) if r.get("step", 0) >= 2]) == 2,
        timeout=240,
        what="two ranks training",
    )
    asked = tui_hf("stop", str(run_dir))
    assert asked.returncode == 0, asked.stderr
    assert nodes.wait(timeout=60) == [0, 0]
    state = read_state(run_dir)
    assert state.status == "stopped" and (run_dir / "checkpoints" / f"checkpoint-{state.step}").is_dir()


def test_a_killed_rank_is_named_dead(tiny_bert_cls_dir: Path, tmp_path: Path, nodes: Nodes) -> None:
    run_dir = nodes.start(tiny_bert_cls_dir, tmp_path / "runs", "native", 400)
    wait_for(
        lambda: nodes.running() and len([r for r in _ranks(run_dir) if r.get("step", 0) >= 1]) == 2,
        timeout=240,
        what="two ranks",
    )
    victim = _ranks(run_dir)[1]["pid"]
    os.kill(victim, signal.SIGKILL)

    def named() -> str | None:
        out = tui_hf("attach", "--once", str(run_dir)).stdout
        line = next((x for x in out.splitlines() if x.split()[:1] == ["1"] and x.startswith("  ")), "")
        return out if "dead" in line else None

    shown = wait_for(named, timeout=60, what="rank 1 named dead")
    zero = next(x for x in shown.splitlines() if x.split()[:1] == ["0"] and x.startswith("  "))
    assert "dead" not in zero, shown


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--nnodes", "2", "--node-rank", "2", "--rdzv", "127.0.0.1:29500"], "--node-rank 2 is out of range"),
        (["--nnodes", "2", "--node-rank", "0", "--rdzv", "127.0.0.1"], "is not HOST:PORT"),
        (["--nnodes", "2", "--node-rank", "0", "--rdzv", "host:99999"], "is not HOST:PORT"),
        (["--nnodes", "2", "--node-rank", "1"], "--nnodes 2 needs --rdzv HOST:PORT"),
        (["--nnodes", "2", "--rdzv", "127.0.0.1:29500"], "--nnodes 2 needs --node-rank"),
        (["--node-rank", "1"], "--node-rank 1 needs --nnodes 2"),
    ],
)
def test_bad_machine_flags_are_refused_in_one_line_before_anything_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], says: str
) -> None:
    runs = tmp_path / "runs"
    # A data file that is not there: were the flags let through, the refusal would be another (and no job starts).
    code = main(["train", "--data", str(tmp_path / "gone.csv"), "--runs-dir", str(runs), *flags])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert not runs.exists()


def test_each_worker_takes_its_rank_from_its_machine_not_from_the_rendezvous() -> None:
    # c10d numbered node rank 0's worker 1 (it sorts machines by host name and pid).
    env = {"RANK": "1", "GROUP_RANK": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1", "WORLD_SIZE": "2",
           "TUI_HF_NODE_RANK": "0", "TUI_HF_NNODES": "2"}  # fmt: skip
    adopt_node_rank(env)
    assert env["RANK"] == "0" and env["GROUP_RANK"] == "0"
    env = {"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "WORLD_SIZE": "4", "TUI_HF_NODE_RANK": "1", "TUI_HF_NNODES": "2"}
    adopt_node_rank(env)
    assert env["RANK"] == "3"
    with pytest.raises(SpecError, match="give every machine the same --nproc"):
        adopt_node_rank({"LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1", "WORLD_SIZE": "3", "TUI_HF_NODE_RANK": "1",
                         "TUI_HF_NNODES": "2"})  # fmt: skip


def test_a_slow_rank_is_a_straggler_and_a_silent_one_is_dead(tmp_path: Path) -> None:
    now = time.time()

    def row(rank: int, forward: float, seen: float) -> dict:
        return {"rank": rank, "host": "elsewhere", "pid": 1, "step": 9, "step_time": 1.0, "forward": forward,
                "rss_mb": 100.0, "seen": seen}  # fmt: skip

    body = {"interval": 1.0, "written": now, "ranks": [row(0, 0.10, now), row(1, 0.11, now), row(2, 0.40, now),
                                                        row(3, 0.10, now - 30)]}  # fmt: skip
    (tmp_path / RANKS).write_text(json.dumps(body))
    rows = read_ranks(tmp_path, active=True, now=now)
    assert [r.verdict.split(":")[0] for r in rows] == ["", "", "straggler", "dead"]
    assert "no heartbeat for 30 s" in rows[3].verdict
    text = "\n".join(format_ranks(rows))
    assert "straggler: 4.0x" in text
    # A finished run's processes are meant to be gone: no verdicts then.
    assert [r.verdict for r in read_ranks(tmp_path, active=False, now=now + 100)] == ["", "", "", ""]


def test_ranks_whose_steps_round_to_zero_are_shown_not_a_crash(tmp_path: Path) -> None:
    now = time.time()
    rows = [{"rank": r, "host": "elsewhere", "pid": 1, "step": 9, "step_time": t, "seen": now}
            for r, t in ((0, 0.0), (1, 0.0001))]  # fmt: skip
    (tmp_path / RANKS).write_text(json.dumps({"interval": 1.0, "written": now, "ranks": rows}))
    assert [r.verdict for r in read_ranks(tmp_path, active=True, now=now)] == ["", ""]


async def test_the_live_view_shows_one_row_per_rank_and_names_a_dead_one_without_new_events(tmp_path: Path) -> None:
    from tests.conftest import wait_until
    from tests.helpers import text_of
    from tui_hf.core.training.events import EventWriter
    from tui_hf.ui.training.attach import AttachApp

    run = tmp_path / "two"
    run.mkdir()
    (run / "spec.json").write_text("{}")
    writer = EventWriter(run)
    writer.start(
        engine="native", model="tiny", total_steps=40, epochs=1, labels=["a", "b"], batch_size=16, world_size=2
    )
    writer.status("running", step=0, total_steps=40)
    writer.train(step=1, epoch=0.1, loss=0.7)  # then no more events: no process holds the run ("died")

    def beat(silent_for: float) -> None:
        now = time.time()
        rows = [{"rank": r, "host": "elsewhere", "pid": 1, "step": 1, "step_time": 0.5, "forward": 0.1,
                 "rss_mb": 300.0, "seen": now - (silent_for if r == 1 else 0)} for r in (0, 1)]  # fmt: skip
        (run / RANKS).write_text(json.dumps({"interval": 1.0, "written": now, "ranks": rows}))

    beat(0)
    app = AttachApp(run)
    async with app.run_test(size=(150, 48)) as pilot:
        view = app.query_one("#run-ranks")
        await wait_until(pilot, lambda: "ranks (2)" in text_of(view))
        assert view.display and "dead" not in text_of(view)
        beat(30)  # rank 1 falls silent; no event is written
        await wait_until(pilot, lambda: "dead" in text_of(view))
        row = next(x for x in text_of(view).splitlines() if x.split()[:1] == ["1"])
        silent = re.search(r"dead: no heartbeat for (\d+) s", row)
        assert silent and 30 <= int(silent.group(1)) < 90, row  # counted from its last beat (the view reads late)


class _Store:
    """The rendezvous store's key-value calls the heartbeats use, in memory: two ranks, one process."""

    def __init__(self) -> None:
        self.kv: dict[str, bytes] = {}

    def set(self, key: str, value: str) -> None:
        self.kv[key] = value.encode()

    def check(self, keys: list[str]) -> bool:
        return all(k in self.kv for k in keys)

    def get(self, key: str) -> bytes:
        return self.kv[key]


def _two_beating_ranks(run: Path) -> None:
    """Rank 0 (the run's machine, its GPU busy) and rank 1 (another machine: its GPU idle and nearly full)
    beat twice through one store, each sampling its vitals with a fake GPU reader."""
    from tui_hf.core.training.nodes import Heartbeat

    def gpu(util: int, used: int) -> list[dict]:
        return [{"index": 0, "name": "Fake GPU", "util": util, "mem_used_mb": used, "mem_total_mb": 81920,
                 "temp_c": 61, "power_w": 301.4}]  # fmt: skip

    store = _Store()
    ranks = [Heartbeat(0, 2, run, gpu_reader=lambda: gpu(93, 20480), vitals_every=0),
             Heartbeat(1, 2, None, gpu_reader=lambda: gpu(0, 80896), vitals_every=0)]  # fmt: skip
    for hb in ranks:
        hb._store = store
        hb.restart_clock()
        hb._last -= 0.5  # steps of the same half second: neither rank a straggler
        hb.step(4)
    for _ in range(2):  # the first beat primes the CPU counters, the second carries a sample
        ranks[1].beat()
        ranks[0].beat()


def test_each_rank_sends_its_own_vitals_and_an_idle_or_full_gpu_is_named(tmp_path: Path) -> None:
    from tui_hf.core.training.follow import snapshot

    run = tmp_path / "two"
    run.mkdir()
    _two_beating_ranks(run)
    recorded = json.loads((run / RANKS).read_text())["ranks"]
    # Rank 1's numbers reached rank 0's record: its own GPU's, not rank 0's.
    assert recorded[1]["vitals"]["gpus"] == [{"index": 0, "util": 0, "mem_used_mb": 80896, "mem_total_mb": 81920,
                                              "temp_c": 61, "power_w": 301.4}]  # fmt: skip
    assert recorded[0]["vitals"]["gpus"][0]["util"] == 93
    for r in recorded:
        assert r["vitals"]["rss_mb"] > 20 and r["vitals"]["ram_total_mb"] > 0

    rows = read_ranks(run, active=True)
    assert rows[0].verdict == ""
    assert rows[1].verdict == "gpu0 idle while the others work; gpu0 memory full"
    # A finished run's last numbers are shown, not judged.
    assert [r.verdict for r in read_ranks(run, active=False)] == ["", ""]

    lines = format_ranks(rows)
    assert lines[3].split()[:4] == ["gpu0", "93%", "20.0/80", "GiB"], lines
    assert lines[5].split()[:6] == ["gpu0", "0%", "79.0/80", "GiB", "61°C", "301"], lines

    # attach --once: no job holds this run (died), so the rows are judged as live.
    from tui_hf.core.training.events import EventWriter

    writer = EventWriter(run)
    writer.start(engine="native", model="tiny", total_steps=40, epochs=1, labels=["a"], batch_size=16, world_size=2)
    writer.train(step=1, epoch=0.1, loss=0.7)
    text = snapshot(run)
    row1 = text.splitlines().index(next(x for x in text.splitlines() if x.split()[:1] == ["1"]))
    assert "gpu0 idle while the others work" in text.splitlines()[row1]
    assert "gpu0 0% 79.0/80 GiB" in text.splitlines()[row1 + 1], text


def test_each_rank_reports_the_gpu_it_trains_on() -> None:
    from tui_hf.core.training.nodes import own_gpu_index, own_gpus

    assert own_gpu_index({"LOCAL_RANK": "1"}) == 1  # cuda:LOCAL_RANK
    assert own_gpu_index({"LOCAL_RANK": "1", "CUDA_VISIBLE_DEVICES": "4,6"}) == 6
    assert own_gpu_index({"LOCAL_RANK": "0", "CUDA_VISIBLE_DEVICES": "GPU-5e1c"}) is None
    four = [{"index": i, "util": 90} for i in range(4)]
    assert own_gpus(lambda: four, 2)() == [{"index": 2, "util": 90}]
    assert own_gpus(lambda: four, None)() == four and own_gpus(lambda: four, 7)() == four  # not known: all
    assert own_gpus(None, 2) is None


async def test_the_live_view_shows_each_ranks_gpu_under_its_row(tmp_path: Path) -> None:
    from tests.conftest import wait_until
    from tests.helpers import text_of
    from tui_hf.core.training.events import EventWriter
    from tui_hf.ui.training.attach import AttachApp

    run = tmp_path / "two"
    run.mkdir()
    (run / "spec.json").write_text("{}")
    writer = EventWriter(run)
    writer.start(engine="native", model="tiny", total_steps=40, epochs=1, labels=["a"], batch_size=16, world_size=2)
    writer.train(step=1, epoch=0.1, loss=0.7)
    _two_beating_ranks(run)
    app = AttachApp(run)
    async with app.run_test(size=(150, 48)) as pilot:
        view = app.query_one("#run-ranks")
        await wait_until(pilot, lambda: "ranks (2)" in text_of(view))
        shown = text_of(view).splitlines()
        at = next(i for i, x in enumerate(shown) if x.split()[:1] == ["1"])
        assert "gpu0 memory full" in shown[at]
        assert shown[at + 1].split()[:2] == ["gpu0", "0%"] and "gpu0 93%" in text_of(view)
        from tui_hf.ui.training.run_view import TrainingView

        # The flagged rank's two lines in yellow, the busy one's plain.
        marked = app.query_one(TrainingView)._ranks_text.splitlines()
        assert marked[-2].startswith("[yellow]") and marked[-1].startswith("[yellow]")
        assert not marked[2].startswith("[") and not marked[3].startswith("["), marked
